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
    # a weight trained with a recipe made for another model says which model it trained
    assert "| baseline200_cifar10 (model=lenet) |" in shown


def test_single_runs_are_matched_by_recipe_and_model(tmp_path):
    run = tmp_path / "run_cpu" / "baseline200_cifar10"
    run.mkdir(parents=True)
    res = {"config": {"model": "lenet"}, "final": {"top1": 75.5, "weights": "raw", "raw": {"top1": 75.5}},
           "wall_time_s": 1200.0, "epochs_completed": 200, "environment": {"device_name": "Some CPU", "git_commit": "x"}}
    import json
    (run / "results.json").write_text(json.dumps(res))
    (run / "metrics.csv").write_text("epoch,epoch_time_s,eval_time_s,test_top1\n1,500,100,73.9\n2,500,100,75.5\n")
    text = build(tmp_path)
    row = next(line for line in text.splitlines() if "baseline200_cifar10" in line and "LeNet" in line)
    # doc 004: 39 min 23 s on an RTX 3060 -> 2363 s / 1200 s
    assert "| 75.50 % (75.50 %) | 20.0 min (200 epochs) | Some CPU | 2.0x | 0.76 points above" in row
    assert "time to 73.74 % top-1: 10.0 min (epoch 1)" in text and "time to 74.74 % top-1: 20.0 min (epoch 2)" in text
    # the same recipe with another model is not the document's row
    res["config"]["model"] = "resnet18"
    (run / "results.json").write_text(json.dumps(res))
    assert "LeNet" not in build(tmp_path)
