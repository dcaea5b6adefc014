"""Benchmark scripts: every number of the project's tables is produced here, never typed by hand.

- ``python -m benchmarks.run``: params, MACs, activation memory, speed and accuracy per model,
  written as ``benchmark.json`` + ``benchmark.csv`` under ``benchmarks/results/NAME/``.
- ``python -m benchmarks.compare``: our models against torchvision's, built the same way.
- ``python -m benchmarks.report``: ``docs/benchmarks.md`` and the plots under ``docs/img/``.
- ``python -m benchmarks.models_doc``: ``docs/models.md``, the catalogue of registered models.
"""
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
DOCS_DIR = REPO_ROOT / "docs"
# file names a benchmark run writes into its --out folder (the lead's GPU training runs write
# results.json elsewhere; distinct names keep the two apart)
BENCH_JSON = "benchmark.json"
BENCH_CSV = "benchmark.csv"
COMPARE_JSON = "compare.json"
