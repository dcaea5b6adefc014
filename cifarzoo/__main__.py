import sys

from cifarzoo.cli import main

sys.exit(main())
