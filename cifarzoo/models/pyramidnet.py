"""PyramidNet (Han et al. 2017, "Deep Pyramidal Residual Networks", arXiv:1610.02915) with
ShakeDrop (Yamada et al. 2018, arXiv:1802.02375).

Widths grow additively by alpha/N per block over all N blocks (widths are rounded from the
running float sum, as in the authors' code), starting from a 16-channel 3x3 conv + BN.  Blocks
(paper Fig. 6d / 7): basic BN-conv3x3-BN-ReLU-conv3x3-BN and bottleneck
BN-conv1x1-BN-ReLU-conv3x3-BN-ReLU-conv1x1(x4)-BN, no ReLU after the addition.  Shortcuts are
parameter-free: 2x2 average pooling where the stage downsamples, then zero channels appended
for the extra width.  A final BN-ReLU precedes global pooling.

ShakeDrop (``shakedrop=True``): the branch is multiplied by (b + alpha - b*alpha) forward and
(b + beta - b*beta) backward, b ~ Bernoulli(p_l), alpha ~ U[-1, 1], beta ~ U[0, 1], drawn per
image; p_l = 1 - (l/L)(1 - p_L) with p_L = 1 - ``shakedrop_rate`` = 0.5 (the paper's linear decay).
At test time the branch is scaled by its expectation E[b + alpha - b*alpha] = p_l.
Paper params (Table 4): PyramidNet-110 alpha=270 basic 28.3M, PyramidNet-272 alpha=200
bottleneck 26.0M; the authors' width rule counted exactly gives 28.5M / 26.2M (28,485,477 and
26,210,842, the same as the osmr/imgclsmob CIFAR zoo).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from cifarzoo.models._base import ZooModel
from cifarzoo.models.layers import DropPath, drop_path_rates, init_weights, zero_init_last_bn
from cifarzoo.registry import register_model

SOURCE = "Han et al. 2017 PyramidNet (arXiv:1610.02915) + ShakeDrop (Yamada et al. 2018, arXiv:1802.02375)"


class _ShakeDropFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, keep_prob: float) -> torch.Tensor:
        shape = (x.shape[0],) + (1,) * (x.ndim - 1)
        gate = torch.empty(shape, device=x.device, dtype=x.dtype).bernoulli_(keep_prob)
        alpha = torch.empty(shape, device=x.device, dtype=x.dtype).uniform_(-1.0, 1.0)
        ctx.save_for_backward(gate)
        # b + a - b*a written as b + a*(1 - b): exactly 1 for kept images, exactly a for dropped
        return x * (gate + alpha * (1.0 - gate))

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (gate,) = ctx.saved_tensors
        beta = torch.rand_like(gate)
        return grad * (gate + beta * (1.0 - gate)), None


class ShakeDrop(nn.Module):
    """Random branch scaling in training; the expected scale ``keep_prob`` at test time."""

    def __init__(self, drop_prob: float):
        super().__init__()
        if not 0.0 <= drop_prob < 1.0:
            raise ValueError(f"ShakeDrop probability must be in [0, 1), got {drop_prob}")
        self.keep_prob = 1.0 - drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            return _ShakeDropFn.apply(x, self.keep_prob)
        return x * self.keep_prob

    def extra_repr(self) -> str:
        return f"keep_prob={self.keep_prob:.3f}"


class PyramidShortcut(nn.Module):
    """Average-pool where the stage downsamples, then append zero channels."""

    def __init__(self, in_ch: int, out_ch: int, stride: int):
        super().__init__()
        self.pool = nn.AvgPool2d(2, 2, ceil_mode=True) if stride != 1 else nn.Identity()
        self.pad = out_ch - in_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(x)
        return F.pad(x, (0, 0, 0, 0, 0, self.pad)) if self.pad else x


def basic_branch(in_ch: int, planes: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.BatchNorm2d(in_ch), nn.Conv2d(in_ch, planes, 3, stride, 1, bias=False),
        nn.BatchNorm2d(planes), nn.ReLU(inplace=True),
        nn.Conv2d(planes, planes, 3, 1, 1, bias=False), nn.BatchNorm2d(planes))


def bottleneck_branch(in_ch: int, planes: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.BatchNorm2d(in_ch), nn.Conv2d(in_ch, planes, 1, bias=False),
        nn.BatchNorm2d(planes), nn.ReLU(inplace=True),
        nn.Conv2d(planes, planes, 3, stride, 1, bias=False),
        nn.BatchNorm2d(planes), nn.ReLU(inplace=True),
        nn.Conv2d(planes, planes * 4, 1, bias=False), nn.BatchNorm2d(planes * 4))


class PyramidUnit(nn.Module):
    """One residual unit: branch (ending in BN) -> [ShakeDrop] -> [DropPath], plus the shortcut."""

    def __init__(self, branch: nn.Sequential, in_ch: int, out_ch: int, stride: int,
                 shakedrop_prob: float | None, drop_path: float):
        super().__init__()
        self.branch = branch
        self.shakedrop = ShakeDrop(shakedrop_prob) if shakedrop_prob is not None else nn.Identity()
        self.drop_path = DropPath(drop_path)
        self.shortcut = PyramidShortcut(in_ch, out_ch, stride)

    @property
    def zero_init_target(self) -> nn.Module:
        # a property, not an attribute: assigning the module would register it twice and
        # duplicate its tensors in the state dict
        return self.branch[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop_path(self.shakedrop(self.branch(x))) + self.shortcut(x)


class PyramidNet(ZooModel):
    def __init__(self, depth: int, alpha: float, bottleneck: bool, num_classes: int = 10, shakedrop: bool = True,
                 shakedrop_rate: float = 0.5, drop_path_rate: float = 0.0, zero_init_residual: bool = False):
        super().__init__()
        per_block = 9 if bottleneck else 6
        if (depth - 2) % per_block:
            raise ValueError(f"PyramidNet depth must be {per_block}n+2 for "
                             f"{'bottleneck' if bottleneck else 'basic'} blocks, got {depth}")
        if alpha <= 0:
            raise ValueError(f"PyramidNet alpha (total widening) must be > 0, got {alpha}")
        if not 0.0 <= shakedrop_rate < 1.0:
            raise ValueError(f"shakedrop_rate (final-block drop probability 1 - p_L) must be in [0, 1), "
                             f"got {shakedrop_rate}")
        n = (depth - 2) // per_block
        total = 3 * n
        make_branch, expansion = (bottleneck_branch, 4) if bottleneck else (basic_branch, 1)
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16))
        dp_rates = iter(drop_path_rates(drop_path_rate, total))
        step = alpha / total
        width, in_ch, index = 16.0, 16, 0
        stages = []
        for i in range(3):
            blocks = []
            for j in range(n):
                index += 1
                width += step
                planes = int(round(width))
                stride = 2 if (i > 0 and j == 0) else 1
                out_ch = planes * expansion
                # linear decay of the survival probability: 1 - l/L * (1 - p_L)
                sd = shakedrop_rate * index / total if shakedrop else None
                blocks.append(PyramidUnit(make_branch(in_ch, planes, stride), in_ch, out_ch, stride, sd,
                                          next(dp_rates)))
                in_ch = out_ch
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.final_bn = nn.BatchNorm2d(in_ch)
        self.final_act = nn.ReLU(inplace=True)
        self.num_features, self.num_classes = in_ch, num_classes
        self.fc = nn.Linear(in_ch, num_classes)
        init_weights(self)
        if zero_init_residual:
            zero_init_last_bn(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.final_act(self.final_bn(self.stages(self.stem(x))))


@register_model(family="pyramidnet", source=SOURCE)
def pyramidnet110_a270(num_classes: int = 10, shakedrop: bool = True, shakedrop_rate: float = 0.5,
                       drop_path_rate: float = 0.0, zero_init_residual: bool = False):
    """PyramidNet-110 (basic blocks, alpha 270) with ShakeDrop, 28.5M params."""
    return PyramidNet(110, 270, False, num_classes, shakedrop, shakedrop_rate, drop_path_rate, zero_init_residual)


@register_model(family="pyramidnet", source=SOURCE)
def pyramidnet272_a200(num_classes: int = 10, shakedrop: bool = True, shakedrop_rate: float = 0.5,
                       drop_path_rate: float = 0.0, zero_init_residual: bool = False):
    """PyramidNet-272 (bottleneck blocks, alpha 200) with ShakeDrop, 26.2M params."""
    return PyramidNet(272, 200, True, num_classes, shakedrop, shakedrop_rate, drop_path_rate, zero_init_residual)
