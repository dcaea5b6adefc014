"""The ``cifarzoo`` command line.  Each sub-command lives in its own module of this package,
which defines ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``."""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

# (command, module): the order is the order of ``cifarzoo --help``
COMMANDS = [
    ("list", "models"),
    ("info", "models"),
    ("recipes", "train"),
    ("train", "train"),
    ("lr-find", "train"),
    ("eval", "eval"),
    ("verify", "eval"),
    ("hub", "hub"),
]

EPILOG = """examples:
  cifarzoo list 'resnet*'                      models matching a pattern, with params
  cifarzoo info resnet56                       family, source and knobs of one model
  cifarzoo recipes                             the training recipes
  cifarzoo train --recipe resnet56_cifar10 --data-dir ~/data
  cifarzoo eval resnet56.cifar10 --dataset cifar10 --data-dir ~/data
  cifarzoo verify resnet56.cifar10 --data-dir ~/data
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cifarzoo", description="CIFAR-10/100 model zoo: models, weights, training and evaluation.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    from cifarzoo import __version__
    parser.add_argument("--version", action="version", version=f"cifarzoo {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command, module_name in COMMANDS:
        module = importlib.import_module(f"{__name__}.{module_name}")
        spec = module.COMMANDS[command]
        p = sub.add_parser(command, help=spec["help"], description=spec.get("description", spec["help"]),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        spec["add_arguments"](p)
        p.set_defaults(_run=spec["run"])
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    if not getattr(args, "_run", None):
        parser.print_help()
        return 0
    try:
        return int(args._run(args) or 0)
    except (KeyError, ValueError, FileNotFoundError, TypeError, RuntimeError) as e:
        # user errors: one readable line, no traceback (use -v for it)
        if args.verbose:
            raise
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        print(f"cifarzoo {args.command}: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
