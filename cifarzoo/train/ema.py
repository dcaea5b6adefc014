"""Exponential moving average of the weights (Polyak averaging), updated once per optimizer step.

Parameters and floating-point buffers (BatchNorm running mean/variance) are averaged with the
same decay (timm's ModelEmaV2 also averages its whole state dict); integer buffers
(``num_batches_tracked``) are copied.  Averaging the BN statistics matters: averaged weights
produce other activations than the live model's, so evaluating them with the live model's
statistics mis-normalises every layer.  ``python -m benchmarks.ema_bn`` measures it
(benchmarks/results/ema_bn_cpu/ema_bn.json: ResNet-20, 4 epochs, one run evaluated both ways).
With ``warmup`` the decay starts low -- min(decay, (1 + t) / (10 + t)) -- so short runs are not
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
        ema_t = [*self.module.parameters(), *self.module.buffers()]
        live_t = [*(p.detach() for p in model.parameters()), *model.buffers()]
        if len(ema_t) != len(live_t):
            raise ValueError("EMA.update: the model does not have the structure the EMA was made from")
        avg = [(e, l) for e, l in zip(ema_t, live_t) if e.is_floating_point()]
        copy_ = [(e, l) for e, l in zip(ema_t, live_t) if not e.is_floating_point()]
        if avg:
            # ema += (1 - d) * (live - ema), one fused kernel per group of tensors
            torch._foreach_lerp_([e for e, _ in avg], [l for _, l in avg], 1.0 - d)
        if copy_:
            torch._foreach_copy_([e for e, _ in copy_], [l for _, l in copy_])

    def state_dict(self) -> dict:
        return {"module": self.module.state_dict(), "updates": self.updates}

    def load_state_dict(self, d: dict) -> None:
        from cifarzoo.pretrained import load_state
        load_state(self.module, d["module"], source="the checkpoint's EMA weights")
        self.updates = d["updates"]
