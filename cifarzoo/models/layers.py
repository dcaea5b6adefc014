"""Building blocks shared by several families."""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn as nn


def drop_path(x: torch.Tensor, drop_prob: float, training: bool) -> torch.Tensor:
    """Stochastic depth per sample: zero a residual branch with probability ``drop_prob``
    and rescale survivors by 1/(1-p) so the expectation is unchanged at test time."""
    if drop_prob <= 0.0 or not training:
        return x
    keep = 1.0 - drop_prob
    mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
    return x * mask / keep


class DropPath(nn.Module):
    def __init__(self, drop_prob: float = 0.0):
        super().__init__()
        if not 0.0 <= drop_prob < 1.0:
            raise ValueError(f"drop path probability must be in [0, 1), got {drop_prob}")
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return drop_path(x, self.drop_prob, self.training)

    def extra_repr(self) -> str:
        return f"p={self.drop_prob:.3f}"


def drop_path_rates(drop_path_rate: float, n_blocks: int) -> list[float]:
    """Linearly increasing rates from 0 to ``drop_path_rate`` over ``n_blocks`` (Huang et al. 2016)."""
    if not 0.0 <= drop_path_rate < 1.0:
        raise ValueError(f"drop_path_rate must be in [0, 1), got {drop_path_rate}")
    if n_blocks <= 1:
        return [drop_path_rate] * n_blocks
    return [drop_path_rate * i / (n_blocks - 1) for i in range(n_blocks)]


def residual_stages(make_block: Callable[[int, int, int, float], nn.Module], depths: Sequence[int],
                    widths: Sequence[int], in_ch: int, drop_path_rate: float = 0.0,
                    expansion: int = 1) -> tuple[nn.Sequential, int]:
    """The stage stack shared by the CIFAR ResNet-style networks: stage ``i`` has ``depths[i]``
    blocks of width ``widths[i]``; the first block of every stage after the first halves the
    resolution; stochastic-depth rates rise linearly over all blocks.  ``make_block(in_ch, width,
    stride, drop_path)`` builds one block, whose output has ``width * expansion`` channels.
    Returns the stages (one ``nn.Sequential`` per stage) and the output channel count."""
    rates = iter(drop_path_rates(drop_path_rate, sum(depths)))
    stages = []
    for i, (n, w) in enumerate(zip(depths, widths, strict=True)):
        blocks = []
        for j in range(n):
            blocks.append(make_block(in_ch, w, 2 if (i > 0 and j == 0) else 1, next(rates)))
            in_ch = w * expansion
        stages.append(nn.Sequential(*blocks))
    return nn.Sequential(*stages), in_ch


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round channels to a multiple of ``divisor`` without going more than 10 % down (MobileNet rule)."""
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018): channel gates from globally pooled features."""

    def __init__(self, channels: int, reduced: int, gate: type[nn.Module] = nn.Sigmoid,
                 act: type[nn.Module] = nn.ReLU):
        super().__init__()
        self.reduce = nn.Conv2d(channels, reduced, 1)
        self.act = act(inplace=True) if act in (nn.ReLU, nn.SiLU, nn.Hardswish) else act()
        self.expand = nn.Conv2d(reduced, channels, 1)
        self.gate = gate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)
        return x * self.gate(self.expand(self.act(self.reduce(s))))


def conv_bn(in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1, groups: int = 1,
            act: type[nn.Module] | None = nn.ReLU) -> nn.Sequential:
    """Conv (no bias) + BatchNorm + optional activation, padding keeps 'same' size at stride 1."""
    layers: list[nn.Module] = [
        nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out_ch),
    ]
    if act is not None:
        layers.append(act(inplace=True) if act in (nn.ReLU, nn.ReLU6, nn.SiLU, nn.Hardswish) else act())
    return nn.Sequential(*layers)


def init_weights(model: nn.Module, scheme: str = "kaiming") -> nn.Module:
    """Kaiming (fan_out, ReLU) or Xavier init for convs, unit/zero for norms, small normal for linears."""
    if scheme not in ("kaiming", "xavier"):
        raise ValueError(f"init scheme must be 'kaiming' or 'xavier', got {scheme!r}")
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            if scheme == "kaiming":
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            else:
                nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)):
            if m.weight is not None:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            if scheme == "kaiming":
                bound = 1 / math.sqrt(m.in_features)
                nn.init.uniform_(m.weight, -bound, bound)
            else:
                nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return model


def zero_init_last_bn(model: nn.Module, attr: str = "zero_init_target") -> None:
    """Zero the gamma of the last BN of every residual block that marks it (Goyal et al. 2017),
    so each block starts as the identity.  Blocks mark the BN by storing it as ``attr``."""
    for m in model.modules():
        bn = getattr(m, attr, None)
        if isinstance(bn, nn.BatchNorm2d):
            nn.init.zeros_(bn.weight)
