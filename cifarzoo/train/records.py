"""What a run leaves behind: metrics.csv, TensorBoard events, curves.png, the weight files and
results.json with the environment (device, versions, git commit, command line)."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import platform
import subprocess
import sys
from pathlib import Path

import torch

log = logging.getLogger("cifarzoo.train")

CSV_FIELDS = ["epoch", "lr", "train_loss", "train_acc", "test_loss", "test_top1", "test_top5",
              "ema_test_loss", "ema_test_top1", "ema_test_top5", "val_loss", "val_top1", "ema_val_loss",
              "ema_val_top1", "epoch_time_s", "eval_time_s", "images_per_s"]


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_metrics_csv(history: list[dict], path: Path) -> None:
    """Rewritten whole each epoch from the history kept in the checkpoint, so a resumed run never
    holds rows of epochs that were redone."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for row in history:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in CSV_FIELDS})
    _atomic_write_text(Path(path), buf.getvalue())


class TensorBoard:
    """SummaryWriter when tensorboard is installed, else silently nothing."""

    def __init__(self, out_dir: Path, enabled: bool):
        self.writer = None
        if not enabled:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except Exception:  # tensorboard is an optional extra
            log.debug("tensorboard not installed: no event files")
            return
        self.writer = SummaryWriter(str(Path(out_dir) / "tb"))

    def epoch(self, row: dict) -> None:
        if self.writer is None:
            return
        for k, v in row.items():
            if k != "epoch" and isinstance(v, (int, float)):
                self.writer.add_scalar(k, v, row["epoch"])
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def plot_curves(history: list[dict], path: Path) -> bool:
    """Loss, accuracy and lr per epoch in one PNG; False when matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception:
        return False
    ep = [r["epoch"] for r in history]
    fig, ax = plt.subplots(1, 3, figsize=(13, 3.6))
    ax[0].plot(ep, [r["train_loss"] for r in history], label="train")
    for key, label in (("test_loss", "test"), ("ema_test_loss", "test (EMA)"), ("val_loss", "val")):
        pts = [(r["epoch"], r[key]) for r in history if r.get(key) is not None]
        if pts:
            ax[0].plot(*zip(*pts), label=label)
    ax[0].set_title("loss")
    ax[1].plot(ep, [r["train_acc"] for r in history], label="train")
    for key, label in (("test_top1", "test"), ("ema_test_top1", "test (EMA)"), ("val_top1", "val")):
        pts = [(r["epoch"], r[key]) for r in history if r.get(key) is not None]
        if pts:
            ax[1].plot(*zip(*pts), label=label)
    ax[1].set_title("top-1 accuracy (%)")
    ax[2].plot(ep, [r["lr"] for r in history])
    ax[2].set_title("learning rate (end of epoch)")
    for a in ax:
        a.set_xlabel("epoch")
        a.grid(alpha=0.3)
    ax[0].legend()
    ax[1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_weights(state_dict: dict, path: Path, metadata: dict) -> str:
    """safetensors file of a state dict (contiguous CPU tensors); returns its sha256."""
    from safetensors.torch import save_file
    # clone: safetensors refuses tensors that share storage (tied weights in a user's model);
    # every state_dict key is kept so a plain strict load_state_dict works
    tensors = {k: v.detach().to("cpu").clone().contiguous() for k, v in state_dict.items()}
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(tensors, str(tmp), metadata={k: str(v) for k, v in metadata.items()})
    os.replace(tmp, path)
    return sha256_file(path)


def git_commit() -> str | None:
    # A copy of the tree without .git (e.g. on a remote GPU machine) gets the commit from the launcher.
    if os.environ.get("CIFARZOO_GIT_COMMIT"):
        return os.environ["CIFARZOO_GIT_COMMIT"]
    try:
        root = Path(__file__).resolve().parents[2]
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except Exception:
        return None


def command_line(argv: list[str] | None = None) -> str:
    """The command that reproduces this process, in a form that works from any checkout: a module
    of this package run by path (``python -m`` shows up that way in ``sys.argv``) becomes
    ``python -m cifarzoo....``, the console script becomes ``cifarzoo``; arguments are shell-quoted."""
    import shlex
    argv = list(sys.argv if argv is None else argv)
    if not argv:
        return ""
    prog = Path(argv[0])
    pkg = Path(__file__).resolve().parents[1]
    try:
        rel = prog.resolve().relative_to(pkg.parent)
    except (ValueError, OSError):
        rel = None
    if rel is not None and rel.suffix == ".py" and rel.parts[0] == pkg.name:
        mod = ".".join(rel.with_suffix("").parts)
        head = ["python", "-m", mod.removesuffix(".__main__")]
    elif prog.name == "cifarzoo":
        head = ["cifarzoo"]
    else:
        head = [argv[0]]
    return shlex.join(head + argv[1:])


def cpu_name() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(device: torch.device, commit: str | None = None) -> dict:
    """``commit``: the one read when the run started (the tree may change while it trains)."""
    from cifarzoo import __version__
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = f"{cpu_name()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads"
    import datetime
    return {"device": str(device), "device_name": name, "torch_version": torch.__version__,
            "cifarzoo_version": __version__, "python": platform.python_version(), "git_commit": commit or git_commit(),
            "command": command_line(), "argv": list(sys.argv), "hostname": platform.node(),
            "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def peak_memory_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    import resource
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # Linux reports KiB


def write_json(obj: dict, path: Path) -> None:
    _atomic_write_text(Path(path), json.dumps(obj, indent=2, default=str) + "\n")
