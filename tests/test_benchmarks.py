"""The benchmark scripts (benchmarks/): run, report, compare, models_doc, on tiny models."""
import csv
import json
import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # benchmarks/ is a top-level folder, not part of the package
    sys.path.insert(0, str(ROOT))

import cifarzoo  # noqa: E402
from benchmarks import BENCH_CSV, BENCH_JSON, COMPARE_JSON  # noqa: E402
from benchmarks import run as bench_run  # noqa: E402
from benchmarks.accuracy import accuracies  # noqa: E402
from benchmarks.report import build_report  # noqa: E402
from benchmarks.timing import Variant, activation_bytes, fit_batch  # noqa: E402
from cifarzoo.flops import count_macs, count_params  # noqa: E402

@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One torch thread: on a CPU shared by many jobs, two OpenMP threads wait on each other and
    a tiny timed model slows by orders of magnitude.  The numbers here are not the point."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FAST = ["--batch", "8", "--train-batch", "4", "--budget", "0.05", "--quick"]


def _manifest(path: Path, entries: dict) -> Path:
    path.write_text(json.dumps(entries))
    return path


MANIFEST = {
        "resnet20.cifar10": {"arch": "resnet20", "dataset": "cifar10", "metrics": {"top1": 92.1, "top5": 99.7}},
        "resnet20.cifar10_long": {"metrics": {"top1": 93.0}},  # not the default tag, but better
        "resnet20.cifar100": {"metrics": {"top1": {"mean": 68.9, "std": 0.2}}},
}


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    return _manifest(tmp_path_factory.mktemp("manifest") / "weights_manifest.json", MANIFEST)


# ------------------------------------------------------------------ building blocks

def test_variant_names():
    v = Variant.parse("bf16_cl_compile")
    assert (v.precision, v.channels_last, v.compile) == ("bf16", True, True)
    assert Variant.parse("fp32") == Variant("fp32")
    for bad in ("fp64", "bf16_fast", "fp32_cl_cl", ""):
        with pytest.raises(ValueError, match="unknown variant"):
            Variant.parse(bad)


def test_fit_batch_halves_until_the_work_fits():
    assert fit_batch(256, 40_000_000, None) == 256
    assert fit_batch(256, 1_000_000_000, 64.0) == 64  # 64 images x 1 GMAC = 64 GMAC
    assert fit_batch(128, 1_000_000_000, 64.0, factor=3.0) == 16
    assert fit_batch(256, 10 ** 12, 1.0) == 2  # never below 2 (batch norm in train mode)


def test_activation_bytes_counts_saved_tensors_once_without_parameters():
    # Linear saves its input (3072 floats per image); its weight is a parameter and not counted.
    lin = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))
    assert activation_bytes(lin, batch=2) == 3 * 32 * 32 * 4
    # conv saves its input; the in-place ReLU saves its output, which is the conv's output storage
    conv = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(inplace=True))
    assert activation_bytes(conv, batch=2) == (3 + 8) * 32 * 32 * 4
    model = cifarzoo.create_model("resnet20")
    per_image = activation_bytes(model, batch=2)
    # grows linearly with the batch (up to batch norm's per-channel statistics, a fixed few KB)
    assert activation_bytes(model, batch=4) == pytest.approx(per_image, rel=2e-3)
    # at least every conv input of ResNet-20 in fp32: 3+16*7 maps at 32x32, 16+32*6 at 16x16, ...
    assert per_image > 4 * ((3 + 16 * 6) * 32 * 32 + 32 * 6 * 16 * 16 + 64 * 6 * 8 * 8)
    assert model.training  # mode restored


def test_accuracies_pick_default_tag_then_best(manifest):
    acc = accuracies(manifest)
    assert acc["resnet20"]["cifar10"] == {"weight": "resnet20.cifar10", "top1": 92.1, "top5": 99.7}
    assert acc["resnet20"]["cifar100"]["top1"] == 68.9  # mean of several seeds
    empty = manifest.parent / "empty.json"
    empty.write_text("")
    assert accuracies(empty) == {}
    assert accuracies(manifest.parent / "absent.json") == {}
    broken = manifest.parent / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ValueError, match="broken.json"):
        accuracies(broken)


def test_accuracies_read_the_package_entries(monkeypatch):
    """cifarzoo.pretrained.load_manifest returns objects with read-only mappings and a default flag."""
    from types import MappingProxyType, SimpleNamespace

    import benchmarks.accuracy as acc_mod

    def entry(top1, default, dataset="cifar10"):
        return SimpleNamespace(arch="resnet56", dataset=dataset, default=default,
                               metrics=MappingProxyType({"top1": top1, "top5": 99.0}))
    monkeypatch.setattr(acc_mod, "load_entries", lambda path=None: {
        "resnet56.cifar10": entry(91.7, False), "resnet56.cifar10_sd": entry(92.5, True),
        "resnet56.cifar100": entry(70.1, True, "cifar100")})
    acc = acc_mod.accuracies()
    assert acc["resnet56"]["cifar10"] == {"weight": "resnet56.cifar10_sd", "top1": 92.5, "top5": 99.0}
    assert acc["resnet56"]["cifar100"]["top1"] == 70.1


def test_accuracies_of_the_real_manifest_match_its_loader():
    pretrained = pytest.importorskip("cifarzoo.pretrained")
    entries = pretrained.load_manifest()
    if not entries:
        pytest.skip("weights_manifest.json lists no weights yet")
    acc = accuracies()
    for name, e in entries.items():
        if e.default:
            assert acc[e.arch][e.dataset]["top1"] == e.metrics["top1"], name


# ------------------------------------------------------------------ run.py

@pytest.fixture(scope="module")
def bench_out(tmp_path_factory, manifest):
    """One fast benchmark run of resnet20 (the reference model, always registered), shared by the
    tests of this module, which only read it."""
    out = tmp_path_factory.mktemp("results") / "cpu_test"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(bench_run, "accuracies", lambda: accuracies(manifest))
        assert bench_run.main(["--models", "resnet20", "--out", str(out), *FAST]) == 0
    return out


def test_run_writes_json_and_csv(bench_out):
    data = json.loads((bench_out / BENCH_JSON).read_text())
    assert data["command"].startswith("python -m benchmarks.run --models resnet20")
    assert "fvcore" in data["mac_counter"] and "1 multiply-add = 1 flop" in data["mac_counter"]
    machine = data["machine"]
    for key in ("date", "cpu", "torch", "device", "matmul_gflops_start", "matmul_gflops_end"):
        assert machine.get(key), key
    assert machine["torch"] == torch.__version__
    (row,) = data["results"]
    model = cifarzoo.create_model("resnet20")
    assert row["model"] == "resnet20" and row["family"] == "resnet_cifar"
    assert row["params"] == count_params(model) == 269_722
    assert row["macs"] == count_macs(model)
    assert row["activation_bytes_per_image"] == activation_bytes(model)
    speed = row["speed"]["fp32"]
    assert speed["throughput_batch"] == 8 and speed["train_batch"] == 4
    assert speed["latency_b1_ms"] > 0 and speed["throughput_img_s"] > 0 and speed["train_img_s"] > 0
    assert row["accuracy"]["cifar10"]["top1"] == 92.1
    assert "errors" not in row

    with open(bench_out / BENCH_CSV) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and rows[0]["model"] == "resnet20"
    assert int(rows[0]["macs"]) == row["macs"]
    assert float(rows[0]["fp32_throughput_img_s"]) == pytest.approx(speed["throughput_img_s"], rel=1e-3)
    assert float(rows[0]["top1_cifar10"]) == 92.1


def test_run_skip_speed_and_bf16_channels_last(tmp_path, monkeypatch):
    monkeypatch.setattr(bench_run, "accuracies", lambda: {})
    out = tmp_path / "r"
    assert bench_run.main(["--models", "resnet20", "--out", str(out), "--skip-speed", "--skip-memory"]) == 0
    (row,) = json.loads((out / BENCH_JSON).read_text())["results"]
    assert "speed" not in row and "activation_bytes_per_image" not in row and row["macs"] > 0
    # the GPU variants (autocast bf16, channels_last) also run on the CPU
    assert bench_run.main(["--models", "resnet20", "--out", str(out), "--variants", "bf16_cl", "--skip-memory",
                           *FAST]) == 0
    (row,) = json.loads((out / BENCH_JSON).read_text())["results"]
    assert row["speed"]["bf16_cl"]["throughput_img_s"] > 0, row.get("errors")


@pytest.mark.parametrize("args, message", [
    (["--models", "no_such_model*"], "matches no registered model"),
    (["--models", "resnet20", "--variants", "fp64"], "unknown variant"),
    (["--models", "resnet20", "--batch", "1"], "--batch must be >= 2"),
    (["--models", "resnet20", "--budget", "0"], "--budget must be > 0"),
])
def test_run_bad_arguments(tmp_path, capsys, args, message):
    assert bench_run.main([*args, "--out", str(tmp_path / "x")]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA error")
def test_run_cuda_unavailable(tmp_path, capsys):
    assert bench_run.main(["--models", "resnet20", "--out", str(tmp_path / "x"), "--device", "cuda"]) == 2
    assert "CUDA is not available" in capsys.readouterr().err


# ------------------------------------------------------------------ report.py

def _write(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def test_report_tables_plots_and_other_sections(bench_out, manifest, tmp_path):
    results = tmp_path / "results"
    (results / "cpu_test").mkdir(parents=True)
    (results / "cpu_test" / BENCH_JSON).write_bytes((bench_out / BENCH_JSON).read_bytes())
    _write(results / "data_pipeline_cpu.json", {
        "command": "python -m cifarzoo.data.bench", "date": "2026-01-01",
        "results": [{"loader": "device_resident", "images_per_s": 51234.5}, {"loader": "torch", "images_per_s": 812.0}]})
    _write(results / "gpu_h100" / "resnet56_cifar10" / "results.json", {
        "model": "resnet56", "recipe": "resnet56_cifar10", "metrics": {"top1": 94.51}, "wall_time_s": 812.3,
        "images_per_s": 41000.0, "device": "NVIDIA H100"})
    out = tmp_path / "docs" / "benchmarks.md"
    img = tmp_path / "docs" / "img"
    text = build_report(results, out, img, manifest)
    assert out.read_text() == text
    data = json.loads((bench_out / BENCH_JSON).read_text())
    # provenance heads the table: hardware, date, command
    assert data["machine"]["cpu"] in text and data["machine"]["date"] in text
    assert f"`{data['command']}`" in text
    assert "one fused multiply-add as one \"flop\"" in text
    row = next(line for line in text.splitlines() if line.startswith("| `resnet20`"))
    assert "0.27" in row and f"{data['results'][0]['macs'] / 1e6:.1f}" in row and "92.10" in row and "68.90" in row
    # sections written by others
    assert "## Data pipeline" in text and "device_resident" in text and "51,234" in text
    gpu_row = next(line for line in text.splitlines() if "resnet56_cifar10" in line and "H100" in line)
    assert "94.51" in gpu_row and "812" in gpu_row
    for name in ("bench_acc_vs_macs.png", "bench_acc_vs_params.png", "bench_cpu_test_throughput_vs_macs.png"):
        assert (img / name).read_bytes()[:8] == PNG_MAGIC, name
        assert f"(img/{name})" in text
    assert "No pretrained weights" not in text


def test_report_empty_state(bench_out, tmp_path):
    results = tmp_path / "results"
    (results / "cpu").mkdir(parents=True)
    (results / "cpu" / BENCH_JSON).write_bytes((bench_out / BENCH_JSON).read_bytes())
    empty = _write(tmp_path / "manifest.json", {})
    text = build_report(results, tmp_path / "b.md", tmp_path / "img", empty)
    assert "No pretrained weights are listed" in text
    assert (tmp_path / "img" / "bench_acc_vs_macs.png").read_bytes()[:8] == PNG_MAGIC
    nothing = tmp_path / "no_results"
    nothing.mkdir()
    text = build_report(nothing, tmp_path / "c.md", tmp_path / "img2", empty)
    assert "No benchmark run yet" in text


def test_report_cli_missing_results(tmp_path, capsys):
    from benchmarks.report import main
    assert main(["--results", str(tmp_path / "absent"), "--out", str(tmp_path / "b.md")]) == 2
    assert "does not exist" in capsys.readouterr().err


# ------------------------------------------------------------------ compare.py

def _registered(name):
    return pytest.mark.skipif(name not in cifarzoo.list_models(), reason=f"{name} not registered yet")


@pytest.mark.parametrize("ours", [
    pytest.param("resnet18", marks=[_registered("resnet18"), pytest.mark.slow]),
    pytest.param("mobilenetv2", marks=_registered("mobilenetv2")),
    pytest.param("resnet50", marks=[_registered("resnet50"), pytest.mark.slow]),
    pytest.param("densenet121", marks=[_registered("densenet121"), pytest.mark.slow]),
])
def test_torchvision_equivalent_is_the_same_network(ours):
    """Built the same way means same parameter count and same MACs at 32x32."""
    from benchmarks.compare import PAIRS
    pair = next(p for p in PAIRS if p.ours == ours)
    mine, theirs = cifarzoo.create_model(ours), pair.build_tv()
    assert count_params(mine) == count_params(theirs)
    assert count_macs(mine) == count_macs(theirs)
    with torch.no_grad():
        assert theirs.eval()(torch.randn(1, 3, 32, 32)).shape == (1, 10)


def _compare(tmp_path, model, monkeypatch=None):
    from benchmarks import compare
    if monkeypatch is not None:  # a tiny stand-in pair: our resnet20 against a second resnet20
        monkeypatch.setattr(compare, "PAIRS", [compare.Pair("resnet20", "resnet20 (stand-in)",
                                                            lambda: cifarzoo.create_model("resnet20"), "same")])
    assert compare.main(["--out", str(tmp_path), "--models", model, "--batch", "4", "--train-batch", "4",
                         "--rounds", "2", "--iters", "1"]) == 0
    data = json.loads((tmp_path / COMPARE_JSON).read_text())
    assert data["command"].startswith("python -m benchmarks.compare") and data["machine"]["cpu"]
    (pair,) = data["pairs"]
    return pair


@pytest.mark.slow
@_registered("resnet18")
def test_compare_resnet18_against_torchvision(tmp_path):
    pair = _compare(tmp_path, "resnet18")
    assert pair["params_ours"] == pair["params_tv"] and pair["macs_ours"] == pair["macs_tv"]
    assert pair["speed"]["inference"]["ratio"] > 0


def test_compare_writes_ratios(tmp_path, monkeypatch):
    pair = _compare(tmp_path, "resnet20", monkeypatch)
    assert pair["params_ours"] == pair["params_tv"]
    assert "note" not in pair or "slower" in pair["note"]
    for mode in ("inference", "train"):
        s = pair["speed"][mode]
        assert s["ratio"] == pytest.approx(s["ours_img_s"] / s["tv_img_s"])
        assert len(s["ours_s"]) == len(s["tv_s"]) == 2  # 2 interleaved rounds of 1 iteration
    text = build_report(_results_with(tmp_path), tmp_path / "b.md", tmp_path / "img",
                        _write(tmp_path / "m.json", {}))
    assert "Our models vs torchvision" in text and "`resnet20`" in text


def _results_with(compare_dir: Path) -> Path:
    """A results folder holding just the comparison output."""
    results = compare_dir / "results"
    (results / "compare_cpu").mkdir(parents=True)
    (results / "compare_cpu" / COMPARE_JSON).write_bytes((compare_dir / COMPARE_JSON).read_bytes())
    return results


def test_compare_rejects_unknown_model(tmp_path, capsys):
    from benchmarks.compare import main
    assert main(["--out", str(tmp_path), "--models", "vgg16"]) == 2
    assert "no torchvision equivalent" in capsys.readouterr().err


# ------------------------------------------------------------------ models_doc.py

def test_models_doc_lists_models_by_family(tmp_path):
    from benchmarks.models_doc import main
    out = tmp_path / "models.md"
    assert main(["--models", "resnet20", "resnet32", "--out", str(out), "--no-progress"]) == 0
    text = out.read_text()
    assert "## resnet_cifar" in text and "fvcore" in text and "1 multiply-add" in text
    row = next(line for line in text.splitlines() if line.startswith("| `resnet20`"))
    macs = count_macs(cifarzoo.create_model("resnet20"))
    assert "269,722" in row and f"{macs / 1e6:,.2f}" in row
    assert cifarzoo.model_info("resnet20").source in text
    assert "2 architectures in 1 families" in text


def test_plot_frontier_names_the_best_trade_offs():
    from benchmarks.plots import frontier
    macs, top1 = [10, 20, 30, 40], [90.0, 89.0, 93.0, 92.0]
    # 20 MACs/89 % is beaten by 10/90; 40/92 by 30/93
    assert frontier(macs, top1, x_low=True, y_high=True) == {0, 2}
