"""PNASNet A/B (Liu et al. 2018, Progressive Neural Architecture Search, arXiv:1712.00559) in the small
CIFAR form of kuangliu/pytorch-cifar, whose counts document 004 prints (PNASNetA 130,646,
PNASNetB 451,626).

Network: 3x3 stem, then 6 cells, a stride-2 cell doubling the width, 6 cells, a stride-2 cell,
6 cells (32 -> 16 -> 8 spatially), global pooling and a linear classifier.  Cell A (44 base
channels) is one block: sep7x7(x) + maxpool3x3(x).  Cell B (32 base channels) is two blocks,
sep7x7(x) + sep3x3(x) and maxpool3x3(x) + sep5x5(x), concatenated and reduced by a 1x1 conv.
Where a stride-2 cell changes the width, the pooled path gets a 1x1 conv + BN.

The "separable" op of this layout is a single grouped kxk conv (groups = input channels,
channel multiplier = out/in) followed by BN; the counts above depend on it.  Stochastic depth
("drop path", as used to train NAS cells) drops the convolutional paths of each sum.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from cifarzoo.models._base import ZooModel
from cifarzoo.models.layers import DropPath, drop_path_rates, init_weights
from cifarzoo.registry import register_model

SOURCE = ("Liu et al. 2018, PNASNet (arXiv:1712.00559); CIFAR form of kuangliu/pytorch-cifar "
          "(document 004 counts)")


@dataclass(frozen=True)
class PNASNetConfig:
    cell: str  # "A" or "B"
    base: int  # channels of the first 6 cells
    cells_per_stage: int = 6


class SepConv(nn.Sequential):
    """Grouped kxk conv (one group per input channel, out/in filters each) + BN."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int):
        super().__init__(nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2, groups=in_ch, bias=False),
                         nn.BatchNorm2d(out_ch))


class PoolPath(nn.Module):
    """3x3 max-pool; when the cell widens at stride 2, a 1x1 conv + BN matches the width."""

    def __init__(self, in_ch: int, out_ch: int, stride: int):
        super().__init__()
        self.stride = stride
        self.proj = (nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch))
                     if stride == 2 else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(F.max_pool2d(x, 3, self.stride, 1))


class CellA(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int, drop_path: float):
        super().__init__()
        self.sep7 = SepConv(in_ch, out_ch, 7, stride)
        self.pool = PoolPath(in_ch, out_ch, stride)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.drop_path(self.sep7(x)) + self.pool(x))


class CellB(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int, drop_path: float):
        super().__init__()
        self.sep7 = SepConv(in_ch, out_ch, 7, stride)
        self.sep3 = SepConv(in_ch, out_ch, 3, stride)
        self.pool = PoolPath(in_ch, out_ch, stride)
        self.sep5 = SepConv(in_ch, out_ch, 5, stride)
        self.reduce = nn.Sequential(nn.Conv2d(2 * out_ch, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch))
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dp = self.drop_path
        b1 = F.relu(dp(self.sep7(x)) + dp(self.sep3(x)))
        b2 = F.relu(self.pool(x) + dp(self.sep5(x)))
        return F.relu(self.reduce(torch.cat((b1, b2), 1)))


CELLS = {"A": CellA, "B": CellB}


class PNASNet(ZooModel):
    classifier_attr = "fc"

    def __init__(self, cfg: PNASNetConfig, num_classes: int = 10, drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0):
        super().__init__()
        if cfg.cell not in CELLS:
            raise ValueError(f"PNASNet cell must be one of {sorted(CELLS)}, got {cfg.cell!r}")
        cell, n, c = CELLS[cfg.cell], cfg.cells_per_stage, cfg.base
        self.stem = nn.Sequential(nn.Conv2d(3, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True))
        rates = iter(drop_path_rates(drop_path_rate, 3 * n + 2))
        layers, ch = [], c
        for stage, width in enumerate((c, 2 * c, 4 * c)):
            if stage > 0:  # the stride-2 cell that opens stages 2 and 3
                layers.append(cell(ch, width, 2, next(rates)))
                ch = width
            layers.extend(cell(width, width, 1, next(rates)) for _ in range(n))
        self.cells = nn.Sequential(*layers)
        self.num_features, self.num_classes = ch, num_classes
        self.drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(ch, num_classes)
        init_weights(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.cells(self.stem(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = x.mean((2, 3))
        return x if pre_logits else self.fc(self.drop(x))


@register_model(family="pnasnet", source=SOURCE)
def pnasnet_a(num_classes: int = 10, drop_rate: float = 0.0, drop_path_rate: float = 0.0):
    """PNASNet-A for CIFAR: one-block cells (sep7x7 + maxpool), 44/88/176 channels (0.13M params)."""
    return PNASNet(PNASNetConfig("A", 44), num_classes, drop_rate, drop_path_rate)


@register_model(family="pnasnet", source=SOURCE)
def pnasnet_b(num_classes: int = 10, drop_rate: float = 0.0, drop_path_rate: float = 0.0):
    """PNASNet-B for CIFAR: two-block cells with 1x1 reduction, 32/64/128 channels (0.45M params)."""
    return PNASNet(PNASNetConfig("B", 32), num_classes, drop_rate, drop_path_rate)
