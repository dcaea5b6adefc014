"""Blocks shared by the mobile families (MobileNetV2, MNASNet, ShuffleNet v1/v2).

Private module (leading underscore): not auto-imported as a family, registers nothing.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from cifarzoo.models.layers import DropPath


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """ShuffleNet channel shuffle: (N, g*k, H, W) -> channels reordered as k groups of g.

    Done with view/transpose so it costs one copy.  A channels_last tensor is shuffled in its
    NHWC layout and stays channels_last, so the convolutions around it never pay a layout
    conversion (the decision depends on memory layout only, never on tensor values, so the
    graph traces identically for ONNX export)."""
    if groups == 1:
        return x
    n, c, h, w = x.shape
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        y = x.permute(0, 2, 3, 1).reshape(n, h, w, groups, c // groups).transpose(3, 4)
        return y.reshape(n, h, w, c).permute(0, 3, 1, 2)
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class ConvBNAct(nn.Sequential):
    """Conv (no bias) + BatchNorm + optional activation; 'same' padding at stride 1."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1, groups: int = 1,
                 act: type[nn.Module] | None = nn.ReLU, bn_momentum: float = 0.1):
        layers: list[nn.Module] = [
            nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2, groups=groups, bias=False),
            nn.BatchNorm2d(out_ch, momentum=bn_momentum),
        ]
        if act is not None:
            layers.append(act(inplace=True))
        super().__init__(*layers)


class InvertedResidual(nn.Module):
    """MobileNetV2 / MNASNet inverted residual (Sandler et al. 2018): 1x1 expand (skipped when the
    expansion is 1), depthwise kxk, linear 1x1 projection.  The identity skip exists only when
    stride is 1 and the width is unchanged; stochastic depth drops the residual branch there."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, expand_ratio: float, kernel: int = 3,
                 act: type[nn.Module] = nn.ReLU6, drop_path: float = 0.0, bn_momentum: float = 0.1):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"InvertedResidual stride must be 1 or 2, got {stride}")
        hidden = int(round(in_ch * expand_ratio))
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvBNAct(in_ch, hidden, 1, act=act, bn_momentum=bn_momentum))
        layers.append(ConvBNAct(hidden, hidden, kernel, stride, groups=hidden, act=act, bn_momentum=bn_momentum))
        layers.append(ConvBNAct(hidden, out_ch, 1, act=None, bn_momentum=bn_momentum))
        self.conv = nn.Sequential(*layers)
        self.use_residual = stride == 1 and in_ch == out_ch
        self.drop_path = DropPath(drop_path) if self.use_residual else nn.Identity()

    @property
    def zero_init_target(self) -> nn.Module:
        # a property, not an attribute: assigning a module registers it twice (duplicate state-dict keys)
        return self.conv[-1][1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_residual:
            return x + self.drop_path(self.conv(x))
        return self.conv(x)
