"""Where and how a benchmark ran: hardware, software, date, command.  Every results file carries
this block, and every table of docs/benchmarks.md is headed by it."""
from __future__ import annotations

import datetime as _dt
import os
import platform
import shlex
import subprocess
import sys

import torch

from benchmarks import REPO_ROOT
from cifarzoo.train.records import cpu_name as _cpu_model


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def command_line(module: str) -> str:
    """The command that is running, as a user would type it (``python -m MODULE args``)."""
    return " ".join(["python", "-m", module, *map(shlex.quote, sys.argv[1:])])


def matmul_gflops(device: str = "cpu", n: int = 512, budget_s: float = 0.3) -> float:
    """Achieved GFLOP/s of an n x n fp32 matmul (median of repeats): a yardstick recorded at the
    start and end of a run, so a reader sees how much of the machine the run actually had."""
    import statistics
    import time

    dev = torch.device(device)
    a, b = torch.randn(n, n, device=dev), torch.randn(n, n, device=dev)
    times: list[float] = []
    torch.mm(a, b)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    start = time.perf_counter()
    while len(times) < 3 or (time.perf_counter() - start < budget_s and len(times) < 200):
        t0 = time.perf_counter()
        torch.mm(a, b)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        times.append(time.perf_counter() - t0)
    return round(2 * n ** 3 / statistics.median(times) / 1e9, 1)


def machine_info(device: str = "cpu") -> dict:
    """Hardware and software of this run.  ``load_avg`` matters here: the CPU is shared, and a
    busy machine slows every timing, so readers can judge the numbers."""
    import cifarzoo

    info = {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "device": device,
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cifarzoo": cifarzoo.__version__,
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain")),
        "load_avg_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "matmul_gflops_start": matmul_gflops(device),
    }
    try:
        import torchvision
        info["torchvision"] = torchvision.__version__
    except ImportError:
        info["torchvision"] = None
    if device.startswith("cuda") and torch.cuda.is_available():
        idx = torch.device(device).index or 0
        props = torch.cuda.get_device_properties(idx)
        info["gpu"] = props.name
        info["gpu_memory_gib"] = round(props.total_memory / 2 ** 30, 1)
        info["cuda"] = torch.version.cuda
    return info


def hardware_line(machine: dict) -> str:
    """One line naming the hardware, for table headers."""
    if machine.get("gpu"):
        return f"{machine['gpu']} (CUDA {machine.get('cuda')}), host CPU {machine.get('cpu')}"
    return f"{machine.get('cpu')}, {machine.get('cpu_count')} cores, {machine.get('torch_threads')} torch thread(s)"
