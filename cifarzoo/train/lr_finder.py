"""Smith's learning-rate range test (Smith 2017, "Cyclical Learning Rates for Training Neural
Networks", section 3.3): train for a few hundred steps while the lr grows exponentially from
``start_lr`` to ``end_lr``, record the loss, and suggest the lr where the smoothed loss falls
fastest (steepest negative slope against log lr).  The run stops early once the smoothed loss
exceeds ``diverge`` times its minimum.  Writes a PNG of loss against lr with the suggestion marked.

It uses the recipe's model, data, augmentation, optimizer (the SGD inside SAM/ASAM) and AMP, so
the suggestion is for that recipe; the weights are thrown away afterwards.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

from cifarzoo.train.config import TrainConfig

log = logging.getLogger("cifarzoo.train")


@dataclass
class LRFindResult:
    lrs: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    smoothed: list[float] = field(default_factory=list)
    suggested_lr: float | None = None
    plot: str | None = None


def smooth(losses: list[float], beta: float) -> list[float]:
    """Bias-corrected exponential moving average (as Adam corrects its moments)."""
    out, avg = [], 0.0
    for i, v in enumerate(losses, start=1):
        avg = beta * avg + (1 - beta) * v
        out.append(avg / (1 - beta ** i))
    return out


def steepest(lrs: list[float], smoothed: list[float], skip_start: int = 5, skip_end: int = 3) -> float | None:
    """The lr with the most negative d(smoothed loss)/d(log lr), ignoring the noisy ends."""
    lo, hi = skip_start, len(lrs) - skip_end
    if hi - lo < 3:
        return None
    best_i, best_slope = None, math.inf
    for i in range(lo + 1, hi - 1):  # central difference in log space
        slope = (smoothed[i + 1] - smoothed[i - 1]) / (math.log(lrs[i + 1]) - math.log(lrs[i - 1]))
        if slope < best_slope:
            best_i, best_slope = i, slope
    return lrs[best_i] if best_i is not None and best_slope < 0 else None


def plot(result: LRFindResult, path: Path, title: str) -> bool:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception:
        return False
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(result.lrs, result.losses, alpha=0.3, label="loss")
    ax.plot(result.lrs, result.smoothed, label="smoothed")
    if result.suggested_lr:
        ax.axvline(result.suggested_lr, color="r", ls="--", label=f"suggested {result.suggested_lr:.2e}")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    lo = min(result.smoothed)
    ax.set_ylim(lo - 0.1 * abs(lo), min(max(result.smoothed), 4 * max(lo, 1e-3) + lo))
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def lr_find(cfg: TrainConfig, start_lr: float = 1e-7, end_lr: float = 10.0, num_iters: int = 100,
            beta: float = 0.98, diverge: float = 4.0, out: str | Path | None = None) -> LRFindResult:
    """Run the range test for ``cfg``; ``out`` is the PNG path (default ``cfg.out_dir/lr_find.png``)."""
    from cifarzoo.data import DATASETS, build_loader
    from cifarzoo.models.layers import init_weights
    from cifarzoo.registry import create_model
    from cifarzoo.train.distributed import pick_device
    from cifarzoo.train.losses import TrainLoss
    from cifarzoo.train.optim import SAM, build_optimizer

    if not 0 < start_lr < end_lr:
        raise ValueError(f"lr range must satisfy 0 < start_lr < end_lr, got {start_lr}, {end_lr}")
    if num_iters < 10:
        raise ValueError(f"num_iters must be >= 10 for a usable curve, got {num_iters}")
    cfg.validate()
    device = pick_device(cfg.device, 0)
    torch.manual_seed(cfg.seed)
    loader = build_loader(cfg.dataset, "train", cfg.data_dir, cfg.batch_size, aug=cfg.aug, kind=cfg.loader,
                          device=device, num_workers=cfg.num_workers, seed=cfg.seed, holdout=cfg.holdout,
                          download=cfg.download, channels_last=cfg.channels_last)
    model = create_model(cfg.model, num_classes=DATASETS[cfg.dataset].num_classes, **cfg.model_kwargs)
    if cfg.init:
        init_weights(model, cfg.init)
    model = model.to(device, memory_format=torch.channels_last if cfg.channels_last else torch.contiguous_format)
    model.train()
    opt = build_optimizer(cfg, model)
    if isinstance(opt, SAM):
        opt = opt.base  # the range test probes the step size of the SGD inside
    criterion = TrainLoss(cfg.label_smoothing)
    amp = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.amp)
    scaler = torch.amp.GradScaler(device.type, enabled=cfg.amp == "fp16")
    ratio = (end_lr / start_lr) ** (1 / (num_iters - 1))

    result = LRFindResult()
    best = math.inf
    it, epoch = 0, 0
    while it < num_iters:
        loader.set_epoch(epoch)
        for x, y in loader:
            lr = start_lr * ratio ** it
            for g in opt.param_groups:
                g["lr"] = lr
            with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
                loss = criterion(model(x), y, x)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            value = loss.item()
            result.lrs.append(lr)
            result.losses.append(value if math.isfinite(value) else float("inf"))
            result.smoothed = smooth(result.losses, beta)
            it += 1
            s = result.smoothed[-1]
            best = min(best, s)
            if not math.isfinite(s) or (it > 10 and s > diverge * best) or it >= num_iters:
                break
        else:
            epoch += 1
            continue
        break
    finite = [i for i, s in enumerate(result.smoothed) if math.isfinite(s)]
    lrs = [result.lrs[i] for i in finite]
    sm = [result.smoothed[i] for i in finite]
    result.suggested_lr = steepest(lrs, sm)
    path = Path(out) if out else Path(cfg.out_dir) / "lr_find.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    if plot(LRFindResult(lrs, [result.losses[i] for i in finite], sm, result.suggested_lr), path,
            f"LR range test: {cfg.model} on {cfg.dataset}"):
        result.plot = str(path)
    log.info("lr range test: %d steps from %.1e, suggested lr %s", len(result.lrs), start_lr,
             f"{result.suggested_lr:.3g}" if result.suggested_lr else "none (loss never fell)")
    return result
