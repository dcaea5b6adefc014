"""Exponential moving average of the weights (Polyak averaging), updated once per optimizer step.

Parameters are averaged; buffers (BatchNorm running statistics, counters) are copied from the
live model, so the EMA model is evaluated with the statistics of the weights being trained.  With
``warmup`` the decay starts low -- min(decay, (1 + t) / (10 + t)) -- so short runs are not
dominated by the random initialisation."""
from __future__ import annotations

import copy

import torch
import torch.nn as nn


class EMA:
    def __init__(self, model: nn.Module, decay: float, warmup: bool = True):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"ema decay must be in (0, 1), got {decay}")
        # registry metadata (ModelInfo holds a mappingproxy, which deepcopy refuses) is shared, not copied
        memo = {id(v): v for m in model.modules() for k, v in vars(m).items()
                if k in ("model_info", "pretrained_cfg") and v is not None}
        self.module = copy.deepcopy(model, memo).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.decay, self.warmup, self.updates = decay, warmup, 0

    def current_decay(self) -> float:
        if not self.warmup:
            return self.decay
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = self.current_decay()
        ema_p = [p for p in self.module.parameters()]
        live_p = [p.detach() for p in model.parameters()]
        float_pairs = [(e, l) for e, l in zip(ema_p, live_p) if e.is_floating_point()]
        if float_pairs:
            # ema += (1 - d) * (live - ema), one fused kernel per group of tensors
            torch._foreach_lerp_([e for e, _ in float_pairs], [l for _, l in float_pairs], 1.0 - d)
        ema_b, live_b = list(self.module.buffers()), list(model.buffers())
        if ema_b:
            torch._foreach_copy_(ema_b, live_b)

    def state_dict(self) -> dict:
        return {"module": self.module.state_dict(), "updates": self.updates}

    def load_state_dict(self, d: dict) -> None:
        self.module.load_state_dict(d["module"])
        self.updates = d["updates"]
