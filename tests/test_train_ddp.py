"""Multi-process and signal behaviour: a 2-process DDP run (gloo) equals the 1-process run on the
same global batch, and SIGTERM leaves a checkpoint the run resumes from.  Both start Python
subprocesses (each imports torch and the zoo): ~17 s and ~13 s of CPU time, so they are marked
slow (run them with `pytest -m slow tests/test_train_ddp.py`)."""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file

from cifarzoo.data import AugConfig
from cifarzoo.train import checkpoint as ckpt
from cifarzoo.train.config import TrainConfig

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cfg(data_dir, out_dir, batch_size) -> TrainConfig:
    # BN-free model, no augmentation: the only difference between the runs is who computes what
    return TrainConfig(model="lenet", data_dir=str(data_dir), out_dir=str(out_dir), epochs=2, batch_size=batch_size,
                       lr=0.05, warmup_epochs=0.5, max_steps_per_epoch=4, aug=AugConfig(crop_padding=0, flip=False),
                       progress=False, tensorboard=False, plot=False, device="cpu", ema_decay=0.9, log_every=2)


def _ddp_worker(rank: int, world: int, port: int, cfg_dict: dict) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from cifarzoo.train.trainer import train
    result = train(TrainConfig.from_dict(cfg_dict))
    assert result["status"] == "completed"


@pytest.mark.slow
def test_ddp_two_processes_match_one_process(fake_cifar_dir, tmp_path):
    from cifarzoo.train.trainer import train
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single = train(_cfg(fake_cifar_dir, tmp_path / "single", batch_size=50))
    finally:
        torch.set_num_threads(n)
    ddp_cfg = _cfg(fake_cifar_dir, tmp_path / "ddp", batch_size=25)
    mp.spawn(_ddp_worker, args=(2, _free_port(), ddp_cfg.to_dict()), nprocs=2, join=True)
    import json
    res = json.loads((tmp_path / "ddp" / "results.json").read_text())
    assert res["world_size"] == 2 and res["global_batch"] == 50
    for name in ("model.safetensors", "model_ema.safetensors"):
        a, b = load_file(str(tmp_path / "single" / name)), load_file(str(tmp_path / "ddp" / name))
        for k in a:
            torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5, msg=f"{name}:{k}")
    for r1, r2 in zip(single["epochs"], res["epochs"]):
        assert r1["train_loss"] == pytest.approx(r2["train_loss"], rel=1e-4)
        assert r1["test_top1"] == r2["test_top1"]


@pytest.mark.slow
def test_sigterm_writes_checkpoint_and_resume_finishes(fake_cifar_dir, tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-m", "cifarzoo", "train", "--recipe", "resnet20_cifar10", "--data-dir", str(fake_cifar_dir),
           "--out-dir", str(out), "--set", "model=lenet", "epochs=500", "batch_size=10", "lr=0.02", "progress=false",
           "tensorboard=false", "plot=false", "device=cpu"]
    proc = subprocess.Popen(cmd, env=env, cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not (out / "metrics.csv").exists():  # training is under way after the first epoch
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            assert time.time() < deadline, "training never reached the end of epoch 1"
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, stderr[-2000:]
    assert "SIGTERM" in stderr and "Resume with" in stderr and "--resume" in stdout
    state = ckpt.load(out / "checkpoint.pt")
    done = state["epoch"]
    assert 1 <= done < 500
    from cifarzoo.cli import main
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rc = main(["train", "--resume", str(out / "checkpoint.pt"), "--set", f"epochs={done + 1}"])
    finally:
        torch.set_num_threads(n)
    assert rc == 0
    import json
    res = json.loads((out / "results.json").read_text())
    assert res["status"] == "completed" and res["epochs_completed"] == done + 1
    assert [r["epoch"] for r in res["epochs"]] == list(range(1, done + 2))
