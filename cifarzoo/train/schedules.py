"""Learning-rate schedules, evaluated per iteration.

``lr_multiplier(cfg, steps_per_epoch)`` returns ``f(it) -> multiplier of cfg.lr`` for iteration
``it`` (0-based optimizer steps).  Epoch-based schedules (multistep, step, exponential) change at
epoch boundaries exactly as torch's per-epoch schedulers do; cosine, linear and onecycle move every
iteration.  A warm-up, when set, replaces the first iterations (linear ramp from
``lr * warmup_start_factor`` or a constant ``lr * warmup_start_factor``) and the main schedule runs
over the remaining iterations, as in the torchvision reference scripts that doc 000 used.

``Plateau`` is ReduceLROnPlateau (torch semantics: mode min, relative threshold) kept as a scale
factor, so it composes with the per-iteration warm-up.  ``LRController`` writes
``group["lr"] = group["initial_lr"] * f(it) * plateau.scale`` for every param group.
"""
from __future__ import annotations

import bisect
import math
from typing import Callable


def _main_schedule(cfg, steps_per_epoch: int, total: int, warm: int) -> Callable[[int], float]:
    span = max(1, total - warm)  # iterations after warm-up
    end = cfg.min_lr / cfg.lr

    if cfg.schedule == "cosine":
        # torch's CosineAnnealingLR(T_max=span, eta_min=min_lr) in closed form
        return lambda t: end + (1 - end) * 0.5 * (1 + math.cos(math.pi * min(t, span) / span))
    if cfg.schedule == "linear":
        return lambda t: 1 + (end - 1) * min(t, span) / span
    if cfg.schedule in ("constant", "plateau"):
        return lambda t: 1.0
    if cfg.schedule == "multistep":
        # milestones are absolute epochs (as in MultiStepLR with one step per epoch)
        bounds = [m * steps_per_epoch for m in cfg.milestones]
        return lambda t: cfg.gamma ** bisect.bisect_right(bounds, t + warm)
    if cfg.schedule == "step":
        return lambda t: cfg.gamma ** ((t + warm) // (cfg.step_size * steps_per_epoch))
    if cfg.schedule == "exponential":
        return lambda t: cfg.gamma ** ((t + warm) // steps_per_epoch)
    if cfg.schedule == "onecycle":
        # Smith & Topin 2019 (as torch's OneCycleLR, cosine annealing): rise from lr/div to lr over
        # pct of the run, then fall to lr/(div*final_div)
        up = max(1, int(round(cfg.onecycle_pct * total)))
        lo = 1.0 / cfg.onecycle_div
        final = lo / cfg.onecycle_final_div

        def onecycle(t: int) -> float:
            t = t + warm  # onecycle owns its own warm-up
            if t < up:
                return lo + (1 - lo) * 0.5 * (1 - math.cos(math.pi * t / up))
            down = max(1, total - up)
            return final + (1 - final) * 0.5 * (1 + math.cos(math.pi * min(t - up, down) / down))
        return onecycle
    raise ValueError(f"unknown schedule {cfg.schedule!r}")


def warmup_iterations(cfg, steps_per_epoch: int) -> int:
    if cfg.schedule == "onecycle":
        return 0
    if cfg.warmup_iters > 0:
        return cfg.warmup_iters
    return int(round(cfg.warmup_epochs * steps_per_epoch))


def lr_multiplier(cfg, steps_per_epoch: int) -> Callable[[int], float]:
    """The multiplier of ``cfg.lr`` at each optimizer step ``it`` of the whole run."""
    if steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch must be >= 1, got {steps_per_epoch}")
    total = cfg.epochs * steps_per_epoch
    warm = min(warmup_iterations(cfg, steps_per_epoch), total)
    main = _main_schedule(cfg, steps_per_epoch, total, warm)
    start = cfg.warmup_start_factor

    def f(it: int) -> float:
        if it < warm:
            if cfg.warmup_method == "constant":
                return start
            return start + (1 - start) * it / warm
        return main(it - warm)
    return f


class Plateau:
    """ReduceLROnPlateau on a monitored loss, one ``step(loss)`` per epoch (torch semantics:
    improvement means ``loss < best * (1 - threshold)``; after ``patience`` epochs without one the
    scale is multiplied by ``factor``, never taking the lr below ``min_lr``)."""

    def __init__(self, factor: float, patience: int, threshold: float, base_lr: float, min_lr: float = 0.0):
        if not 0 < factor < 1:
            raise ValueError(f"plateau_factor must be in (0, 1), got {factor}")
        self.factor, self.patience, self.threshold = factor, patience, threshold
        self.min_scale = min_lr / base_lr if base_lr > 0 else 0.0
        self.scale, self.best, self.bad_epochs = 1.0, math.inf, 0

    def step(self, loss: float) -> bool:
        """Record one epoch's loss; True when the lr was reduced."""
        if loss < self.best * (1 - self.threshold):
            self.best, self.bad_epochs = loss, 0
            return False
        self.bad_epochs += 1
        if self.bad_epochs > self.patience:
            self.scale = max(self.scale * self.factor, self.min_scale)
            self.bad_epochs = 0
            return True
        return False

    def state_dict(self) -> dict:
        return {"scale": self.scale, "best": self.best, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, d: dict) -> None:
        self.scale, self.best, self.bad_epochs = d["scale"], d["best"], d["bad_epochs"]


class LRController:
    """Sets every param group's lr from the per-iteration multiplier and the plateau scale."""

    def __init__(self, optimizer, multiplier: Callable[[int], float], plateau: Plateau | None = None):
        self.optimizer, self.multiplier, self.plateau = optimizer, multiplier, plateau
        for g in optimizer.param_groups:
            g.setdefault("initial_lr", g["lr"])
        self.it = 0
        self._apply()

    def _apply(self) -> None:
        m = self.multiplier(self.it) * (self.plateau.scale if self.plateau else 1.0)
        for g in self.optimizer.param_groups:
            g["lr"] = g["initial_lr"] * m

    def step(self) -> None:
        """Advance one optimizer step."""
        self.it += 1
        self._apply()

    def epoch_end(self, monitored_loss: float | None) -> bool:
        reduced = False
        if self.plateau is not None and monitored_loss is not None:
            reduced = self.plateau.step(monitored_loss)
            self._apply()
        return reduced

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def state_dict(self) -> dict:
        return {"it": self.it, "plateau": self.plateau.state_dict() if self.plateau else None}

    def load_state_dict(self, d: dict) -> None:
        self.it = d["it"]
        if self.plateau is not None and d.get("plateau") is not None:
            self.plateau.load_state_dict(d["plateau"])
        self._apply()


def build_lr_controller(cfg, optimizer, steps_per_epoch: int) -> LRController:
    plateau = None
    if cfg.schedule == "plateau":
        plateau = Plateau(cfg.plateau_factor, cfg.plateau_patience, cfg.plateau_threshold, cfg.lr, cfg.min_lr)
    return LRController(optimizer, lr_multiplier(cfg, steps_per_epoch), plateau)
