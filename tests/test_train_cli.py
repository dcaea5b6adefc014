"""The command line (cifarzoo recipes / train / lr-find) and the run queue, on fake data."""
import json
import types

import pytest
import torch

from cifarzoo.cli import main
from cifarzoo.train import queue

TINY = ["model=lenet", "epochs=2", "max_steps_per_epoch=3", "batch_size=20", "progress=false", "tensorboard=false",
        "plot=false", "device=cpu"]


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_recipes_command(capsys):
    assert main(["recipes"]) == 0
    out = capsys.readouterr().out
    assert "resnet18_cifar10_fast" in out and "resnet50_e5_cifar100" in out and "recipes" in out.splitlines()[-1]
    assert main(["recipes", "resnet18_cifar10_cutout"]) == 0
    out = capsys.readouterr().out
    assert "doc 003" in out and "plateau" in out
    assert main(["recipes", "--json"]) == 0
    assert "resnet20_cifar10" in json.loads(capsys.readouterr().out)
    assert main(["recipes", "resnet18_cifar10_fats"]) == 2
    assert "Did you mean" in capsys.readouterr().err


def test_train_command_on_fake_data(fake_cifar_dir, tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["train", "--recipe", "resnet20_cifar10", "--data-dir", str(fake_cifar_dir), "--out-dir", str(out),
               "--set", *TINY, "--set", "aug.cutout=8"])
    assert rc == 0
    assert "final-epoch test top-1" in capsys.readouterr().out
    res = json.loads((out / "results.json").read_text())
    assert res["recipe"] == "resnet20_cifar10" and res["config"]["aug"]["cutout"] == 8
    assert res["config"]["model"] == "lenet" and (out / "model.safetensors").is_file()
    assert (out / "metrics.csv").read_text().count("\n") == 3


def test_train_command_errors(capsys, tmp_path):
    assert main(["train", "--recipe", "resnet20_cifar10", "--set", "epoch=1"]) == 2
    assert "Did you mean epochs" in capsys.readouterr().err
    assert main(["train"]) == 2
    assert "--recipe" in capsys.readouterr().err
    assert main(["train", "--resume", "auto", "--out-dir", str(tmp_path)]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    assert main(["train", "--recipe", "resnet20_cifar10", "--data-dir", str(tmp_path / "nowhere"), "--out-dir",
                 str(tmp_path / "run"), "--set", *TINY]) == 2
    assert "nowhere" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # nothing written for a run that could not start


def test_print_config_and_list_keys(capsys):
    assert main(["train", "--recipe", "resnet56_cifar10", "--set", "lr=0.2", "--print-config"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["lr"] == 0.2 and cfg["model"] == "resnet56" and cfg["milestones"] == [82, 123]
    assert main(["train", "--list-keys"]) == 0
    assert "aug.mixup_alpha" in capsys.readouterr().out


def test_lr_find_command(fake_cifar_dir, tmp_path, capsys):
    rc = main(["lr-find", "--recipe", "resnet20_cifar10", "--data-dir", str(fake_cifar_dir), "--set", "model=lenet",
               "batch_size=20", "device=cpu", "--num-iters", "20", "--start-lr", "1e-4",
               "--out", str(tmp_path / "f.png")])
    assert rc == 0
    assert "suggested lr" in capsys.readouterr().out


def test_queue_runs_recipes_and_writes_summary(fake_cifar_dir, tmp_path):
    out = tmp_path / "q"
    # through the command line: several KEY=VALUE after one --set, and --set again
    assert queue.main(["--recipes", "resnet20_cifar10_fast", "resnet56_cifar100_fast", "--data-dir",
                       str(fake_cifar_dir), "--out", str(out), "--time-budget", "600", "--reserve-s", "1",
                       "--set", *TINY[:-1], "--set", TINY[-1]]) == 0
    s = json.loads((out / "queue_summary.json").read_text())
    assert s["overrides"] == list(TINY)
    assert [r["status"] for r in s["runs"]] == ["completed", "completed"]
    for name in ("resnet20_cifar10_fast", "resnet56_cifar100_fast"):
        for f in ("model.safetensors", "results.json", "metrics.csv"):
            assert (out / name / f).is_file()
    summary = json.loads((out / "queue_summary.json").read_text())
    assert summary["runs"][1]["dataset"] == "cifar100" and summary["runs"][0]["top1"] is not None
    assert summary["runs"][0]["projection"]["projected_s"] > 0


def test_queue_skips_what_does_not_fit(fake_cifar_dir, tmp_path):
    s = queue.run_queue(["resnet20_cifar10_fast", "resnet56_cifar10_fast"], str(fake_cifar_dir), tmp_path / "q", 1.0,
                        overrides=TINY, reserve_s=30)
    assert [r["status"] for r in s["runs"]] == ["skipped", "skipped"]
    assert "budget" in s["runs"][0]["note"] and (tmp_path / "q" / "queue_summary.json").is_file()
    with pytest.raises(KeyError, match="Unknown recipe"):
        queue.run_queue(["nope_fast"], str(fake_cifar_dir), tmp_path / "q2", 10)


class FakeTrainer:
    def __init__(self, epochs, epoch, elapsed):
        self.cfg = types.SimpleNamespace(epochs=epochs)
        self.epoch, self._el, self.notes, self.stopped, self.shortened = epoch, elapsed, [], None, None

    def _elapsed(self):
        return self._el

    def request_stop(self, reason):
        self.stopped = reason

    def shorten(self, epochs, note=""):
        self.shortened = epochs
        self.notes.append(note)


@pytest.mark.parametrize("allowed, shortened, stopped", [(100, None, None), (60, 7, None), (40, None, "budget")])
def test_budget_planner(allowed, shortened, stopped):
    # 10 epochs, decided after epoch 2 at 20 s, 6 s per epoch: projected 20 + 8 * 6 + 10 = 78 s
    t = FakeTrainer(10, 2, 20.0)
    planner = queue.BudgetPlanner(allowed, min_fraction=0.5, final_overhead_s=10)
    planner(t, {"epoch_time_s": 5.0, "eval_time_s": 1.0})
    assert planner.projection["projected_s"] == pytest.approx(78)
    assert (t.shortened, t.stopped) == (shortened, stopped)
    planner(t, {"epoch_time_s": 50.0})  # decides once
    assert (t.shortened, t.stopped) == (shortened, stopped)


def test_queue_throughput_only(tmp_path):
    rc = queue.main(["--throughput-only", "lenet", "--steps", "2", "--batch-size", "8", "--out", str(tmp_path)])
    assert rc == 0
    rows = json.loads((tmp_path / "throughput.json").read_text())["models"]
    assert rows[0]["model"] == "lenet" and rows[0]["images_per_s"] > 0 and rows[0]["peak_memory_bytes"] > 0
    assert queue.main(["--recipes", "x", "--throughput-only", "lenet"]) == 2
