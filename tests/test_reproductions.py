"""Generated docs stay in step with their sources: docs/reproductions.md with the GPU results, the
README weights table with weights_manifest.json."""
from pathlib import Path

from benchmarks.reproductions import build

ROOT = Path(__file__).resolve().parents[1]


def test_reproductions_table_comes_from_the_recorded_runs():
    text = build(ROOT / "benchmarks" / "results")
    # the resnet18 row carries the run's own final-epoch number and wall time from results.json
    import json
    res = json.loads(next((ROOT / "benchmarks" / "results").glob(
        "gpu_*/solo/resnet18_cifar10_fast/results.json")).read_text())
    assert f"{res['final']['top1']:.2f} %" in text
    assert f"{res['wall_time_s']:.0f} s" in text
    assert text == (ROOT / "docs" / "reproductions.md").read_text(), "docs/reproductions.md is stale: regenerate it"


def test_readme_weights_table_matches_the_manifest():
    from cifarzoo.hub import markdown_table
    readme = (ROOT / "README.md").read_text()
    start = readme.index("\n", readme.index("<!-- weights-table")) + 1
    shown = readme[start:readme.index("<!-- /weights-table -->")]
    assert shown.strip() == markdown_table().strip(), "README weights table is stale: paste `cifarzoo hub table`"
