"""Optimizers: parameter groups, SGD, AdamW, AdaBound (Luo et al. 2019) and SAM / ASAM
(Foret et al. 2021; Kwon et al. 2021) wrapping SGD.

SAM / ASAM need two forward/backward passes per step: the trainer computes the gradient,
calls ``first_step()`` (climb to the worst point within radius rho), recomputes the gradient
there and calls ``second_step()`` (return to the original weights, then the SGD update with the
gradient from the perturbed point).  Limits, documented here once:

* Loss scaling (fp16 GradScaler) is not supported: the first gradient would have to be unscaled
  and checked without consuming the scaler's one update per step.  Use bf16 autocast, which needs
  no scaler (``TrainConfig.validate`` refuses sam/asam with amp=fp16).
* With gradient accumulation both passes run over all micro-batches of the step (the trainer
  keeps them), so the perturbation uses the gradient of the whole global batch on this replica.
* Under DDP the first (ascent) pass is not all-reduced: each replica perturbs with its own
  gradient, the "m-sharpness" setting (m = per-process batch) that Foret et al. found to work
  better than the full-batch ascent; the second pass is all-reduced as usual.
* BatchNorm running statistics are updated in the first pass only (the trainer freezes them for
  the second), so the perturbed weights do not leak into them.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn


def param_groups(model: nn.Module, weight_decay: float, no_wd_norm_bias: bool) -> list[dict]:
    """One group, or two with weight decay 0 for biases and norm weights (every parameter with
    fewer than two dimensions: conv/linear biases, BatchNorm/LayerNorm/GroupNorm affine)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not no_wd_norm_bias:
        return [{"params": params, "weight_decay": weight_decay}]
    decay = [p for p in params if p.ndim > 1]
    no_decay = [p for p in params if p.ndim <= 1]
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


class AdaBound(torch.optim.Optimizer):
    """AdaBound (Luo, Xiong, Liu & Sun, ICLR 2019, "Adaptive Gradient Methods with Dynamic Bound of
    Learning Rate"): Adam whose per-element step size is clipped into [lower(t), upper(t)], bounds
    that both converge to ``final_lr``, so training moves from Adam-like to SGD-like.

    lower(t) = final_lr * (1 - 1 / (gamma * t + 1)),  upper(t) = final_lr * (1 + 1 / (gamma * t)).
    ``final_lr`` follows the lr schedule: it is scaled by ``lr / initial_lr`` of its group.
    Weight decay is added to the gradient (L2), as in the paper's CIFAR experiments.
    """

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), final_lr: float = 0.1,
                 gamma: float = 1e-3, eps: float = 1e-8, weight_decay: float = 0.0):
        for name, v in (("lr", lr), ("final_lr", final_lr), ("gamma", gamma), ("eps", eps)):
            if v <= 0:
                raise ValueError(f"AdaBound: {name} must be > 0, got {v}")
        if not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"AdaBound: betas must be in [0, 1), got {betas}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), final_lr=final_lr, gamma=gamma, eps=eps,
                                      weight_decay=weight_decay))
        for g in self.param_groups:
            g.setdefault("initial_lr", g["lr"])

    def bounds(self, group: dict, t: int) -> tuple[float, float]:
        final_lr = group["final_lr"] * group["lr"] / group["initial_lr"]
        lower = final_lr * (1 - 1 / (group["gamma"] * t + 1))
        upper = final_lr * (1 + 1 / (group["gamma"] * t))
        return lower, upper

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            b1, b2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if group["weight_decay"]:
                    grad = grad.add(p, alpha=group["weight_decay"])
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                t = state["step"]
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m.mul_(b1).add_(grad, alpha=1 - b1)
                v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
                # Adam's bias-corrected step size, then the per-element clip into the bounds
                step_size = group["lr"] * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
                lower, upper = self.bounds(group, t)
                rate = (step_size / (v.sqrt() + group["eps"])).clamp_(lower, upper)
                p.sub_(rate * m)
        return loss


class SAM:
    """Sharpness-Aware Minimization around an SGD base optimizer.

    SAM (Foret et al. 2021): e = rho * g / ||g||.  ASAM (``adaptive=True``, Kwon et al. 2021):
    with T = |w| + eta elementwise, e = rho * T^2 g / ||T g||, making the neighbourhood scale-invariant.
    ``param_groups`` and ``state_dict`` are the base optimizer's, so schedules and checkpoints treat
    this like any optimizer.
    """

    def __init__(self, base: torch.optim.Optimizer, rho: float = 0.05, adaptive: bool = False, eta: float = 0.01):
        if rho <= 0:
            raise ValueError(f"SAM: rho must be > 0, got {rho}")
        self.base, self.rho, self.adaptive, self.eta = base, rho, adaptive, eta
        self._perturbation: dict[torch.Tensor, torch.Tensor] = {}

    @property
    def param_groups(self):
        return self.base.param_groups

    @property
    def state(self):
        return self.base.state

    def _params(self):
        return [p for g in self.base.param_groups for p in g["params"] if p.grad is not None]

    @torch.no_grad()
    def first_step(self) -> None:
        params = self._params()
        if not params:
            return
        if self.adaptive:
            scales = [p.abs() + self.eta for p in params]
            scaled = [s * p.grad for s, p in zip(scales, params)]
        else:
            scales, scaled = None, [p.grad for p in params]
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in scaled]))
        factor = self.rho / (norm + 1e-12)
        self._perturbation.clear()
        for i, p in enumerate(params):
            e = p.grad * factor if scales is None else scales[i] * scales[i] * p.grad * factor
            p.add_(e)
            self._perturbation[p] = e

    @torch.no_grad()
    def restore(self) -> None:
        """Undo ``first_step`` (return to w)."""
        for p, e in self._perturbation.items():
            p.sub_(e)
        self._perturbation.clear()

    def second_step(self) -> None:
        self.restore()
        self.base.step()

    def step(self, closure=None):
        """One full SAM step with a closure that zeroes grads, runs forward/backward, returns the loss."""
        if closure is None:
            raise RuntimeError("SAM.step needs a closure (or call first_step/second_step yourself)")
        loss = closure()
        self.first_step()
        with torch.enable_grad():
            closure()
        self.second_step()
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.base.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict:
        return self.base.state_dict()

    def load_state_dict(self, d: dict) -> None:
        self.base.load_state_dict(d)


def build_optimizer(cfg, model: nn.Module):
    """The optimizer named by ``cfg.optimizer`` over ``model``'s parameters."""
    groups = param_groups(model, cfg.weight_decay, cfg.no_wd_norm_bias)
    name = cfg.optimizer
    if name in ("sgd", "sam", "asam"):
        base = torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                               weight_decay=cfg.weight_decay)
        if name == "sgd":
            return base
        return SAM(base, rho=cfg.rho, adaptive=(name == "asam"), eta=cfg.asam_eta)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps,
                                 weight_decay=cfg.weight_decay)
    if name == "adabound":
        return AdaBound(groups, lr=cfg.lr, betas=tuple(cfg.betas), final_lr=cfg.adabound_final_lr,
                        gamma=cfg.adabound_gamma, eps=cfg.eps, weight_decay=cfg.weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; choose one of sgd, adamw, adabound, sam, asam")
