"""Speed and memory measurements of one model: batch-1 latency, batch-N inference throughput,
training-step throughput, activation memory.

Timings take the median of the timed iterations (after warm-up), which resists the other jobs
sharing this CPU better than a mean.  Each measurement runs at least ``min_iters`` iterations
and stops adding more once ``budget_s`` seconds are spent, so large models cost a bounded time.
"""
from __future__ import annotations

import statistics
import time
from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Variant:
    """How the model runs: autocast precision, memory format, torch.compile.  Named like
    ``bf16_cl_compile``: precision first, then ``cl`` (channels_last), then ``compile``."""

    name: str
    precision: str = "fp32"
    channels_last: bool = False
    compile: bool = False

    @classmethod
    def parse(cls, name: str) -> "Variant":
        parts = name.strip().lower().split("_")
        if not parts or parts[0] not in DTYPES or any(p not in ("cl", "compile") for p in parts[1:]) \
                or len(set(parts[1:])) != len(parts[1:]):
            raise ValueError(f"unknown variant {name!r}: use PRECISION[_cl][_compile] with PRECISION in "
                             f"{', '.join(DTYPES)}, e.g. fp32, bf16_cl, bf16_cl_compile")
        return cls(name=name.strip().lower(), precision=parts[0], channels_last="cl" in parts[1:],
                   compile="compile" in parts[1:])

    def autocast(self, device: torch.device):
        dtype = DTYPES[self.precision]
        return torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()


@dataclass(frozen=True)
class TimingConfig:
    batch: int = 256  # inference throughput batch
    train_batch: int = 128
    warmup: int = 1
    min_iters: int = 2
    max_iters: int = 20
    budget_s: float = 1.0  # stop adding timed iterations after this many seconds
    latency_warmup: int = 3
    latency_min_iters: int = 5
    # Largest work (giga-MACs) one timed batch may cost; the batch is halved until it fits, and the
    # batch actually used is recorded.  A 2-core CPU takes ~10 s for one batch of 256 at 5 GMAC
    # per image, which would make a registry-wide run take hours.  None: always the full batch.
    max_gmacs_per_batch: float | None = None


def fit_batch(requested: int, macs_per_image: int | None, max_gmacs: float | None, factor: float = 1.0) -> int:
    """``requested`` halved until ``batch * macs * factor`` fits ``max_gmacs`` (never below 2)."""
    if max_gmacs is None or not macs_per_image:
        return requested
    batch = requested
    while batch > 2 and batch * macs_per_image * factor > max_gmacs * 1e9:
        batch //= 2
    return batch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_iterations(step, device: torch.device, warmup: int, min_iters: int, max_iters: int,
                    budget_s: float) -> list[float]:
    """Seconds of each timed call of ``step()`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        step()
    _sync(device)
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < max_iters and (len(times) < min_iters or time.perf_counter() - start < budget_s):
        t0 = time.perf_counter()
        step()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return times


def prepare(model: nn.Module, variant: Variant, device: torch.device) -> nn.Module:
    """The model on ``device`` in the variant's memory format, compiled if asked."""
    model = model.to(device)
    if variant.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if variant.compile:
        model = torch.compile(model)
    return model


def _input(batch: int, size: tuple[int, ...], variant: Variant, device: torch.device) -> torch.Tensor:
    x = torch.randn(batch, *size, device=device)
    return x.contiguous(memory_format=torch.channels_last) if variant.channels_last and x.ndim == 4 else x


def inference_speed(model: nn.Module, variant: Variant, device: torch.device, cfg: TimingConfig,
                    input_size: tuple[int, ...] = (3, 32, 32), macs: int | None = None) -> dict:
    """Batch-1 latency (ms, median) and batch-N throughput (images/s) in eval mode."""
    model.eval()
    out: dict = {}
    with torch.inference_mode(), variant.autocast(device):
        x1 = _input(1, input_size, variant, device)
        t = time_iterations(lambda: model(x1), device, cfg.latency_warmup, cfg.latency_min_iters,
                            cfg.max_iters, cfg.budget_s)
        out["latency_b1_ms"] = 1e3 * statistics.median(t)
        batch = fit_batch(cfg.batch, macs, cfg.max_gmacs_per_batch)
        xb = _input(batch, input_size, variant, device)
        t = time_iterations(lambda: model(xb), device, cfg.warmup, cfg.min_iters, cfg.max_iters, cfg.budget_s)
        out["throughput_batch"] = batch
        out["throughput_img_s"] = batch / statistics.median(t)
        out["throughput_iters"] = len(t)
    return out


def train_speed(model: nn.Module, variant: Variant, device: torch.device, cfg: TimingConfig,
                input_size: tuple[int, ...] = (3, 32, 32), macs: int | None = None,
                num_classes: int = 10) -> dict:
    """Images/s of full SGD training steps (forward, cross-entropy, backward, optimizer step).
    The model's weights change: pass a throw-away copy."""
    model.train()
    # forward + backward cost about 3 forward passes
    batch = fit_batch(cfg.train_batch, macs, cfg.max_gmacs_per_batch, factor=3.0)
    x = _input(batch, input_size, variant, device)
    y = torch.randint(0, num_classes, (batch,), device=device)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

    def step():
        opt.zero_grad(set_to_none=True)
        with variant.autocast(device):
            loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    t = time_iterations(step, device, cfg.warmup, cfg.min_iters, cfg.max_iters, cfg.budget_s)
    out = {"train_batch": batch, "train_img_s": batch / statistics.median(t), "train_iters": len(t)}
    if device.type == "cuda":
        out["train_peak_mem_mb"] = torch.cuda.max_memory_allocated(device) / 2 ** 20
    return out


def activation_bytes(model: nn.Module, input_size: tuple[int, ...] = (3, 32, 32), batch: int = 2) -> int:
    """Bytes per image of the tensors autograd saves for backward in one train-mode fp32 forward.

    Method: ``torch.autograd.graph.saved_tensors_hooks`` sees every tensor saved for backward;
    each storage is counted once (in-place ops and views share one), parameters and their views
    are excluded.  Run at ``batch`` (2: batch norm needs more than one value per channel in train
    mode) and divided by it.  This is the memory that grows with batch size in training.
    """
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    param_ptrs = {p.untyped_storage().data_ptr() for p in model.parameters()}
    param_ptrs |= {b.untyped_storage().data_ptr() for b in model.buffers()}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor):
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if ptr not in param_ptrs:
            seen[ptr] = max(seen.get(ptr, 0), storage.nbytes())
        return t

    ref = next(model.parameters(), None)
    x = torch.randn(batch, *input_size, device=ref.device if ref is not None else "cpu", requires_grad=False)
    was_training = model.training
    model.train()
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = model(x)
        del out
    finally:
        model.train(was_training)
    return sum(seen.values()) // batch
