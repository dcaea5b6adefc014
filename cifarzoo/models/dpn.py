"""Dual Path Networks (Chen et al. 2017, arXiv:1707.01629) for 32x32 inputs, in the CIFAR form of
kuangliu/pytorch-cifar that document 004 trained (DPN-26 94.05 %, DPN-92 94.73 %; 11,574,842 and
34,236,634 parameters).

Each block is a ResNeXt bottleneck (1x1, grouped 3x3 with 32 groups, 1x1) whose output of
``out + dense`` maps is split: the first ``out`` maps are added to the residual path, the last
``dense`` maps are appended to the densely connected path, which therefore grows by ``dense`` maps
per block.  The first block of each stage projects both paths with a strided 1x1 conv-BN.  The
stem is one 3x3 conv to 64 maps; the stages run on 32/16/8/4 pixels.
Stochastic depth drops a block's whole output (its residual update and its new dense maps).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from cifarzoo.models._pooled_head import PooledDropoutModel, check_rate
from cifarzoo.models.layers import DropPath, drop_path_rates, init_weights
from cifarzoo.registry import register_model

SOURCE = "Chen et al. 2017, Dual Path Networks (arXiv:1707.01629); kuangliu/pytorch-cifar (document 004)"


@dataclass(frozen=True)
class DPNConfig:
    bottleneck_widths: tuple[int, ...]  # width of the grouped 3x3 conv per stage
    residual_widths: tuple[int, ...]  # maps on the residual path per stage
    blocks: tuple[int, ...]
    dense_increments: tuple[int, ...]  # maps each block adds to the dense path
    groups: int = 32
    strides: tuple[int, ...] = (1, 2, 2, 2)

    def __post_init__(self):
        n = len(self.blocks)
        if not (len(self.bottleneck_widths) == len(self.residual_widths) == len(self.dense_increments)
                == len(self.strides) == n):
            raise ValueError("DPNConfig: every per-stage tuple must have one entry per stage")
        if any(w % self.groups for w in self.bottleneck_widths):
            raise ValueError(f"DPNConfig: bottleneck widths {self.bottleneck_widths} must divide into "
                             f"{self.groups} groups")


class DualPathBlock(nn.Module):
    def __init__(self, in_ch: int, width: int, res_ch: int, dense_inc: int, stride: int, groups: int,
                 project: bool, drop_path: float):
        super().__init__()
        self.res_ch = res_ch
        self.conv1 = nn.Conv2d(in_ch, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, res_ch + dense_inc, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(res_ch + dense_inc)
        self.shortcut: nn.Module = nn.Identity()
        if project:
            self.shortcut = nn.Sequential(nn.Conv2d(in_ch, res_ch + dense_inc, 1, stride, bias=False),
                                          nn.BatchNorm2d(res_ch + dense_inc))
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = F.relu(self.bn2(self.conv2(out)), inplace=True)
        out = self.drop_path(self.bn3(self.conv3(out)))
        x = self.shortcut(x)
        d = self.res_ch
        # [residual sum | dense path so far | new dense maps]
        out = torch.cat([x[:, :d] + out[:, :d], x[:, d:], out[:, d:]], 1)
        return F.relu(out)


class DPN(PooledDropoutModel):
    def __init__(self, cfg: DPNConfig, num_classes: int = 10, drop_path_rate: float = 0.0, drop_rate: float = 0.0):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True))
        rates = iter(drop_path_rates(drop_path_rate, sum(cfg.blocks)))
        ch, stages = 64, []
        for width, res, n, inc, stride in zip(cfg.bottleneck_widths, cfg.residual_widths, cfg.blocks,
                                              cfg.dense_increments, cfg.strides):
            blocks = []
            for i in range(n):
                blocks.append(DualPathBlock(ch, width, res, inc, stride if i == 0 else 1, cfg.groups,
                                            project=i == 0, drop_path=next(rates)))
                # the projection starts the dense path at `inc` maps; every block adds `inc` more
                ch = res + (i + 2) * inc
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.drop_rate = check_rate("drop_rate", drop_rate)
        self.num_features, self.num_classes = ch, num_classes
        self.fc = nn.Linear(ch, num_classes)
        init_weights(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x))


# kuangliu's CIFAR configurations: ImageNet DPN-92 widths (96..768 bottleneck, 256..2048 residual)
# with 2-2-2-2 blocks for DPN-26 and 3-4-20-3 for DPN-92.
_WIDTHS = dict(bottleneck_widths=(96, 192, 384, 768), residual_widths=(256, 512, 1024, 2048),
               dense_increments=(16, 32, 24, 128))


@register_model(family="dpn", source=SOURCE)
def dpn26(num_classes: int = 10, drop_path_rate: float = 0.0, drop_rate: float = 0.0):
    """DPN-26 for CIFAR: 2-2-2-2 dual path blocks (11,574,842 params)."""
    return DPN(DPNConfig(blocks=(2, 2, 2, 2), **_WIDTHS), num_classes, drop_path_rate, drop_rate)


@register_model(family="dpn", source=SOURCE)
def dpn92(num_classes: int = 10, drop_path_rate: float = 0.0, drop_rate: float = 0.0):
    """DPN-92 for CIFAR: 3-4-20-3 dual path blocks (34,236,634 params)."""
    return DPN(DPNConfig(blocks=(3, 4, 20, 3), **_WIDTHS), num_classes, drop_path_rate, drop_rate)
