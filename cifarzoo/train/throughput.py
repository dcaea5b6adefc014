"""Training throughput of one model: forward + backward + SGD step on synthetic CIFAR-sized
batches, timed after warm-up steps (and after compilation when ``compile``).  Used by the queue's
``--throughput-only`` planning mode and by benchmarks/train_throughput.py.

Synthetic data isolates the model's cost; the device loader adds little on a GPU (its crops and
flips are batched tensor ops), so images/s here is what an epoch can reach.
"""
from __future__ import annotations

import time

import torch
import torch.nn.functional as F


def measure(model_name: str, batch_size: int = 128, steps: int = 20, warmup: int = 5, device: str = "auto",
            amp: str = "none", channels_last: bool = False, compile: bool = False, num_classes: int = 10,
            model_kwargs: dict | None = None) -> dict:
    """images/s, ms per step and peak memory of training ``model_name`` (one process)."""
    from cifarzoo.registry import create_model
    from cifarzoo.train.distributed import pick_device

    dev = pick_device(device, 0)
    if amp == "fp16" and dev.type != "cuda":
        raise ValueError("amp=fp16 needs CUDA")
    if steps < 1 or warmup < 0:
        raise ValueError(f"steps must be >= 1 and warmup >= 0, got {steps}, {warmup}")
    torch.manual_seed(0)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = create_model(model_name, num_classes=num_classes, **(model_kwargs or {}))
    model = model.to(dev, memory_format=fmt).train()
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
    scaler = torch.amp.GradScaler(dev.type, enabled=amp == "fp16")
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)
    fwd = torch.compile(model) if compile else model
    x = torch.randn(batch_size, 3, 32, 32, device=dev).contiguous(memory_format=fmt)
    y = torch.randint(0, num_classes, (batch_size,), device=dev)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.cuda.reset_peak_memory_stats(dev)

    def step():
        with torch.autocast(dev.type, dtype=dtype, enabled=dtype is not None):
            loss = F.cross_entropy(fwd(x).float(), y)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        return loss

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    t0 = time.perf_counter()
    for _ in range(warmup):
        step()
    sync()
    warmup_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = step()
    sync()
    elapsed = time.perf_counter() - t0
    if not torch.isfinite(loss):
        raise RuntimeError(f"{model_name}: non-finite loss while timing (lr 0.01 on random data)")
    ips = batch_size * steps / elapsed
    if dev.type == "cuda":
        peak = int(torch.cuda.max_memory_allocated(dev))
        name = torch.cuda.get_device_name(dev)
    else:
        import platform
        import resource
        peak = int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
        name = platform.processor() or platform.machine()
    return {"model": model_name, "params": params, "batch_size": batch_size, "steps": steps, "amp": amp,
            "channels_last": channels_last, "compile": compile, "device": str(dev), "device_name": name,
            "images_per_s": ips, "ms_per_step": 1000 * elapsed / steps, "warmup_s": warmup_s,
            "epoch_s_cifar": 50000 / ips, "peak_memory_bytes": peak, "torch": torch.__version__}
