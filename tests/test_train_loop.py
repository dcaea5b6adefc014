"""The training loop on fake CIFAR: outputs, bit-for-bit resume, NaN handling, atomic checkpoints,
SAM/KD/grad-accumulation paths and the LR range test.  Tiny models, few steps, one thread."""
import json
import math

import pytest
import torch
from safetensors.torch import load_file

from cifarzoo.data import AugConfig
from cifarzoo.train import checkpoint as ckpt
from cifarzoo.train.config import TrainConfig
from cifarzoo.train.trainer import Trainer, train


@pytest.fixture(autouse=True)
def one_thread():
    # two cores shared by many: one thread per process avoids oversubscription stalls
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def make_cfg(data_dir, out_dir, **kw) -> TrainConfig:
    base = dict(model="lenet", dataset="cifar10", data_dir=str(data_dir), out_dir=str(out_dir), epochs=3,
                batch_size=50, lr=0.05, warmup_epochs=1, log_every=3, progress=False, tensorboard=False,
                plot=False, loader="device", device="cpu")
    base.update(kw)
    return TrainConfig(**base)


def weights(run_dir, name="model.safetensors"):
    return load_file(str(run_dir / name))


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs"


def test_run_writes_outputs(fake_cifar_dir, tmp_path):
    out = tmp_path / "run"
    r = train(make_cfg(fake_cifar_dir, out, ema_decay=0.9, plot=True, recipe="demo"))
    assert r["status"] == "completed"
    for f in ("model.safetensors", "model_ema.safetensors", "results.json", "metrics.csv", "checkpoint.pt",
              "train.log"):
        assert (out / f).is_file(), f
    res = json.loads((out / "results.json").read_text())
    assert res["final"]["weights"] == "ema"  # EMA on: decided by the config, not by test accuracy
    last = res["epochs"][-1]
    assert res["final"]["top1"] == last["ema_test_top1"] and res["final"]["raw"]["top1"] == last["test_top1"]
    assert len(res["epochs"]) == 3 and res["epochs"][-1]["epoch"] == 3
    assert res["final"]["top1"] > 30  # the fake classes are learnable: far above 10 % chance
    assert res["weights"]["file"] == "model_ema.safetensors"
    import hashlib
    assert res["weights"]["sha256"] == hashlib.sha256((out / "model_ema.safetensors").read_bytes()).hexdigest()
    env = res["environment"]
    assert env["torch_version"] == torch.__version__ and env["cifarzoo_version"] and env["device_name"]
    assert res["config"]["model"] == "lenet" and res["peak_memory_bytes"] > 0 and res["wall_time_s"] > 0
    assert all(k in last for k in ("train_loss", "train_acc", "test_top5", "test_loss", "lr", "images_per_s"))
    lines = (out / "metrics.csv").read_text().strip().splitlines()
    assert len(lines) == 4 and lines[0].startswith("epoch,lr,train_loss")
    # the saved weights load into a fresh zoo model and reproduce the recorded raw test loss
    import cifarzoo
    m = cifarzoo.create_model("lenet", checkpoint_path=str(out / "model.safetensors")).eval()
    assert m.fc.weight.shape == (10, 84)
    if (out / "curves.png").exists():
        assert (out / "curves.png").stat().st_size > 1000
    # without a live progress bar every log_every steps leaves a line, so long epochs show life
    import re
    assert re.search(r"epoch 1/3 step 3/\d+ \| train loss [\d.]+ \| lr ", (out / "train.log").read_text())


@pytest.mark.parametrize("stop_at", [14, 10], ids=["mid-epoch", "epoch-boundary"])
def test_resume_is_bit_for_bit(fake_cifar_dir, tmp_path, stop_at):
    """Interrupt, resume from the checkpoint, and land on exactly the uninterrupted weights."""
    kw = dict(ema_decay=0.9, aug=AugConfig(crop_padding=4, flip=True, cutout=8, mixup_alpha=1.0),
              label_smoothing=0.1)
    full = train(make_cfg(fake_cifar_dir, tmp_path / "full", **kw))

    def stopper(trainer):
        if trainer.global_step == stop_at:
            trainer.request_stop("test")

    part = train(make_cfg(fake_cifar_dir, tmp_path / "part", **kw), callbacks=[stopper])
    assert part["status"] == "interrupted" and part["checkpoint"]
    state = ckpt.load(tmp_path / "part" / "checkpoint.pt")
    assert state["epoch"] * 10 + state["step_in_epoch"] == stop_at  # 10 steps per epoch
    resumed = train(make_cfg(fake_cifar_dir, tmp_path / "part", **kw), resume="auto")
    assert resumed["status"] == "completed"
    assert_same_weights(weights(tmp_path / "full"), weights(tmp_path / "part"))
    assert_same_weights(weights(tmp_path / "full", "model_ema.safetensors"),
                        weights(tmp_path / "part", "model_ema.safetensors"))
    assert [r["train_loss"] for r in full["epochs"]] == [r["train_loss"] for r in resumed["epochs"]]
    assert full["final"] == resumed["final"]


def test_resume_with_bn_drop_path_and_rng(fake_cifar_dir, tmp_path):
    """A BN model with stochastic depth: resuming restores the RNG streams drop-path draws from."""
    kw = dict(model="resnet20", model_kwargs={"drop_path_rate": 0.2}, batch_size=8, max_steps_per_epoch=2,
              epochs=2, eval_every=2, ema_decay=0.9)
    train(make_cfg(fake_cifar_dir, tmp_path / "full", **kw))
    part = train(make_cfg(fake_cifar_dir, tmp_path / "part", **kw),
                 callbacks=[lambda t: t.global_step == 3 and t.request_stop("test")])
    assert part["status"] == "interrupted"
    # as cifarzoo 0.1.0 wrote it: every block's bn2 a second time under zero_init_target
    path = tmp_path / "part" / "checkpoint.pt"
    state = ckpt.load(path)
    for sd in (state["model"], state["ema"]["module"]):
        sd.update({k.replace(".bn2.", ".zero_init_target."): v for k, v in list(sd.items()) if ".bn2." in k})
    torch.save(state, path)
    train(make_cfg(fake_cifar_dir, tmp_path / "part", **kw), resume=str(tmp_path / "part"))
    assert_same_weights(weights(tmp_path / "full"), weights(tmp_path / "part"))
    assert_same_weights(weights(tmp_path / "full", "model_ema.safetensors"),
                        weights(tmp_path / "part", "model_ema.safetensors"))


def test_nan_stops_and_keeps_last_good_checkpoint(fake_cifar_dir, tmp_path, caplog):
    out = tmp_path / "nan"

    def poison(trainer):  # corrupt the weights in epoch 2, step 2 (global step 12)
        if trainer.global_step == 12:
            with torch.no_grad():
                trainer.model.fc.weight.fill_(float("nan"))

    r = train(make_cfg(fake_cifar_dir, out, log_every=1), callbacks=[poison])
    assert r["status"] == "diverged"
    assert "epoch 2, step 3 of 10" in r["error"] and "not overwritten" in r["error"]
    state = ckpt.load(out / "checkpoint.pt")
    assert state["epoch"] == 1 and state["step_in_epoch"] == 0  # the end-of-epoch-1 checkpoint survives
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())
    assert not (out / "results.json").exists() and not (out / "model.safetensors").exists()


def test_nan_found_between_log_steps(fake_cifar_dir, tmp_path):
    """With log_every > 1 the check is batched: it still names the first bad step."""
    def poison(trainer):
        if trainer.global_step == 4:
            with torch.no_grad():
                trainer.model.fc.bias.fill_(float("inf"))

    r = train(make_cfg(fake_cifar_dir, tmp_path / "nan2", log_every=4, epochs=1), callbacks=[poison])
    assert r["status"] == "diverged" and "epoch 1, step 5 of 10" in r["error"]


def test_atomic_save_keeps_old_checkpoint_on_crash(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    ckpt.atomic_save({"epoch": 1, "w": torch.ones(3)}, path)
    real_save = torch.save

    def crashing_save(obj, f, *a, **k):
        f.write(b"partial garbage")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crashing_save)
    with pytest.raises(OSError, match="disk full"):
        ckpt.atomic_save({"epoch": 2, "w": torch.zeros(3)}, path)
    monkeypatch.setattr(torch, "save", real_save)
    state = ckpt.load(path)
    assert state["epoch"] == 1 and torch.equal(state["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]  # no temp file left behind


def test_resolve_resume(tmp_path):
    assert ckpt.resolve_resume(None, tmp_path) is None
    assert ckpt.resolve_resume("auto", tmp_path) is None  # nothing yet: start fresh
    ckpt.atomic_save({"x": 1}, tmp_path / "checkpoint.pt")
    assert ckpt.resolve_resume("auto", tmp_path) == tmp_path / "checkpoint.pt"
    assert ckpt.resolve_resume(str(tmp_path), "elsewhere") == tmp_path / "checkpoint.pt"
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        ckpt.resolve_resume(str(tmp_path / "missing.pt"), tmp_path)


def test_grad_accumulation_matches_the_large_batch(fake_cifar_dir, tmp_path):
    """2 micro-batches of 25 = 1 batch of 50 for a BN-free model (same images, same order)."""
    common = dict(epochs=1, max_steps_per_epoch=4, aug=AugConfig(crop_padding=0, flip=False), warmup_epochs=0)
    train(make_cfg(fake_cifar_dir, tmp_path / "big", batch_size=50, **common))
    train(make_cfg(fake_cifar_dir, tmp_path / "acc", batch_size=25, grad_accum=2, **common))
    a, b = weights(tmp_path / "big"), weights(tmp_path / "acc")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("opt", ["sam", "asam", "adamw", "adabound"])
def test_other_optimizers_train(fake_cifar_dir, tmp_path, opt):
    lr = {"sam": 0.05, "asam": 0.05, "adamw": 2e-3, "adabound": 2e-3}[opt]
    r = train(make_cfg(fake_cifar_dir, tmp_path / opt, optimizer=opt, lr=lr, rho=0.5 if opt == "asam" else 0.05,
                       epochs=2, weight_decay=1e-4))
    assert r["status"] == "completed"
    first, last = r["epochs"][0]["train_loss"], r["epochs"][-1]["train_loss"]
    assert last < first and math.isfinite(last)


def test_sam_keeps_bn_statistics_of_the_clean_pass(fake_cifar_dir, tmp_path):
    cfg = make_cfg(fake_cifar_dir, tmp_path / "s", model="resnet20", optimizer="sam", batch_size=8, epochs=1,
                   max_steps_per_epoch=1)
    t = Trainer(cfg)
    t._t_start = 0
    t._setup()
    x, y = next(iter(t.train_loader))
    bn = t.model.stem[1]
    t.model.train()
    ref_mean = 0.9 * bn.running_mean.clone() + 0.1 * t.model.stem[0](x).mean((0, 2, 3)).detach()
    t.train_step([(x, y)])
    torch.testing.assert_close(bn.running_mean, ref_mean, rtol=1e-4, atol=1e-5)
    assert bn.num_batches_tracked.item() == 1


def test_knowledge_distillation_uses_the_teacher(fake_cifar_dir, tmp_path, monkeypatch):
    import cifarzoo
    from cifarzoo.train import losses

    teacher = cifarzoo.create_model("lenet").eval()
    import cifarzoo.train.trainer as trainer_mod
    monkeypatch.setattr(trainer_mod, "load_teacher", lambda *a, **k: teacher)
    r = train(make_cfg(fake_cifar_dir, tmp_path / "kd", kd_teacher="lenet.cifar10", kd_alpha=0.5, epochs=1))
    assert r["status"] == "completed"
    # the KD term itself: zero for identical logits, positive otherwise, scaled by T^2
    z = torch.randn(4, 10)
    assert losses.kd_loss(z, z, 4.0).item() == pytest.approx(0.0, abs=1e-6)
    assert losses.kd_loss(z, z.flip(1), 4.0).item() > 0


def test_time_limit_stops_with_a_checkpoint(fake_cifar_dir, tmp_path):
    r = train(make_cfg(fake_cifar_dir, tmp_path / "tl", epochs=50, time_limit_s=0.5))
    assert r["status"] == "time_limit" and r["epochs_completed"] < 50
    state = ckpt.load(tmp_path / "tl" / "checkpoint.pt")
    assert state["epoch"] * 10 + state["step_in_epoch"] > 0


def test_shorten_recomputes_the_schedule(fake_cifar_dir, tmp_path):
    def cut(trainer, row):
        if trainer.epoch == 1:
            trainer.shorten(2)

    r = train(make_cfg(fake_cifar_dir, tmp_path / "short", epochs=4, schedule="linear"), epoch_callbacks=[cut])
    assert r["status"] == "completed" and r["epochs_completed"] == 2 and "shortened from 4 to 2" in r["notes"][0]
    assert r["epochs"][-1]["lr"] == pytest.approx(0.0)  # the linear decay still ends at 0


def test_holdout_validation_and_plateau_on_val(fake_cifar_dir, tmp_path):
    r = train(make_cfg(fake_cifar_dir, tmp_path / "val", holdout=100, schedule="plateau", plateau_monitor="val_loss",
                       epochs=2, warmup_epochs=0))
    row = r["epochs"][-1]
    assert row["val_loss"] is not None and row["test_loss"] is not None


def test_lr_find_suggests_a_rate(fake_cifar_dir, tmp_path):
    from cifarzoo.train.lr_finder import lr_find, smooth, steepest
    res = lr_find(make_cfg(fake_cifar_dir, tmp_path / "lrf", batch_size=25), start_lr=1e-4, end_lr=10, num_iters=40,
                  out=tmp_path / "lrf.png")
    assert 10 <= len(res.lrs) <= 40 and res.lrs[0] == pytest.approx(1e-4)
    assert all(b > a for a, b in zip(res.lrs, res.lrs[1:]))
    assert res.suggested_lr is None or 1e-4 <= res.suggested_lr <= 10
    if res.plot:
        assert (tmp_path / "lrf.png").stat().st_size > 1000
    # steepest descent on a synthetic curve: the loss falls fastest at lr = 1e-2
    lrs = [10 ** (-5 + i * 0.1) for i in range(60)]
    loss = [2 - math.tanh(2 * (math.log10(lr) + 2)) for lr in lrs]
    assert steepest(lrs, smooth(loss, 0.0)) == pytest.approx(1e-2, rel=0.3)


def test_recorded_command_runs_from_any_checkout():
    """results.json records `python -m cifarzoo...` or `cifarzoo ...`, not this machine's file paths."""
    from pathlib import Path

    import cifarzoo
    from cifarzoo.train.records import command_line
    pkg = Path(cifarzoo.__file__).parent
    assert command_line([str(pkg / "train" / "queue.py"), "--recipes", "a b"]) == \
        "python -m cifarzoo.train.queue --recipes 'a b'"
    assert command_line([str(pkg / "__main__.py"), "train"]) == "python -m cifarzoo train"
    assert command_line(["/opt/venv/bin/cifarzoo", "train", "--recipe", "r"]) == "cifarzoo train --recipe r"
    assert command_line(["my_script.py", "-x"]) == "my_script.py -x"
