"""RegNet (Radosavovic et al. 2020, arXiv:2003.13678) X/Y-200MF/400MF for 32x32 inputs, in the CIFAR
form of kuangliu/pytorch-cifar (document 004: RegNetX-200MF 93.89 %, 2,321,946 parameters).

The stage depths, widths and group widths are the paper's quantised designs (Appendix, Fig. 15-16);
the ImageNet stem (3x3/2 conv to 32) becomes a 3x3/1 conv to 64 and only stages 3 and 4 downsample,
so the stages run on 32/32/16/8 pixels.  Every block is the X block: 1x1 conv, grouped 3x3 conv
(group width g), 1x1 conv, each with BN, plus a 1x1 conv-BN projection shortcut where the shape
changes; RegNetY inserts squeeze-and-excitation (ratio 0.25 of the block's input width) after the
3x3 conv.  Stochastic depth drops the residual branch, linearly over the blocks.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from cifarzoo.models._pooled_head import PooledDropoutModel, check_rate
from cifarzoo.models.layers import DropPath, SqueezeExcite, drop_path_rates, init_weights, zero_init_last_bn
from cifarzoo.registry import register_model

SOURCE = "Radosavovic et al. 2020, Designing Network Design Spaces (arXiv:2003.13678); kuangliu/pytorch-cifar"


@dataclass(frozen=True)
class RegNetConfig:
    depths: tuple[int, ...]
    widths: tuple[int, ...]
    group_width: int
    strides: tuple[int, ...] = (1, 1, 2, 2)
    bottleneck_ratio: float = 1.0
    se_ratio: float = 0.0  # 0: RegNetX; 0.25: RegNetY
    stem_width: int = 64

    def __post_init__(self):
        if not len(self.depths) == len(self.widths) == len(self.strides):
            raise ValueError("RegNetConfig: depths, widths and strides need one entry per stage")
        for w in self.widths:
            wb = int(round(w * self.bottleneck_ratio))
            if wb % self.group_width:
                raise ValueError(f"RegNetConfig: bottleneck width {wb} is not a multiple of group width "
                                 f"{self.group_width}")


class XBlock(nn.Module):
    def __init__(self, w_in: int, w_out: int, stride: int, cfg: RegNetConfig, drop_path: float):
        super().__init__()
        w_b = int(round(w_out * cfg.bottleneck_ratio))
        self.conv1 = nn.Conv2d(w_in, w_b, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(w_b)
        self.conv2 = nn.Conv2d(w_b, w_b, 3, stride, 1, groups=w_b // cfg.group_width, bias=False)
        self.bn2 = nn.BatchNorm2d(w_b)
        # the SE width is a fraction of the block *input* width, as in the paper's RegNetY
        self.se = SqueezeExcite(w_b, int(round(w_in * cfg.se_ratio))) if cfg.se_ratio > 0 else nn.Identity()
        self.conv3 = nn.Conv2d(w_b, w_out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(w_out)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or w_in != w_out:
            self.shortcut = nn.Sequential(nn.Conv2d(w_in, w_out, 1, stride, bias=False), nn.BatchNorm2d(w_out))
        self.drop_path = DropPath(drop_path)

    @property
    def zero_init_target(self) -> nn.Module:
        # a property, not an attribute: assigning a module registers it twice (duplicate state-dict keys)
        return self.bn3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = F.relu(self.bn2(self.conv2(out)), inplace=True)
        out = self.bn3(self.conv3(self.se(out)))
        return F.relu(self.shortcut(x) + self.drop_path(out), inplace=True)


class RegNet(PooledDropoutModel):
    def __init__(self, cfg: RegNetConfig, num_classes: int = 10, drop_path_rate: float = 0.0,
                 zero_init_residual: bool = False, drop_rate: float = 0.0):
        super().__init__()
        w = cfg.stem_width
        self.stem = nn.Sequential(nn.Conv2d(3, w, 3, 1, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True))
        rates = iter(drop_path_rates(drop_path_rate, sum(cfg.depths)))
        stages = []
        for depth, width, stride in zip(cfg.depths, cfg.widths, cfg.strides):
            blocks = []
            for i in range(depth):
                blocks.append(XBlock(w, width, stride if i == 0 else 1, cfg, next(rates)))
                w = width
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.drop_rate = check_rate("drop_rate", drop_rate)
        self.num_features, self.num_classes = w, num_classes
        self.fc = nn.Linear(w, num_classes)
        init_weights(self)
        if zero_init_residual:
            zero_init_last_bn(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x))


X200MF = RegNetConfig(depths=(1, 1, 4, 7), widths=(24, 56, 152, 368), group_width=8)
X400MF = RegNetConfig(depths=(1, 2, 7, 12), widths=(32, 64, 160, 384), group_width=16)
Y400MF = RegNetConfig(depths=(1, 2, 7, 12), widths=(32, 64, 160, 384), group_width=16, se_ratio=0.25)


@register_model(family="regnet", source=SOURCE)
def regnetx_200mf(num_classes: int = 10, drop_path_rate: float = 0.0, zero_init_residual: bool = False,
                  drop_rate: float = 0.0):
    """RegNetX-200MF for CIFAR: depths 1-1-4-7, widths 24-56-152-368, g=8 (2,321,946 params)."""
    return RegNet(X200MF, num_classes, drop_path_rate, zero_init_residual, drop_rate)


@register_model(family="regnet", source=SOURCE)
def regnetx_400mf(num_classes: int = 10, drop_path_rate: float = 0.0, zero_init_residual: bool = False,
                  drop_rate: float = 0.0):
    """RegNetX-400MF for CIFAR: depths 1-2-7-12, widths 32-64-160-384, g=16."""
    return RegNet(X400MF, num_classes, drop_path_rate, zero_init_residual, drop_rate)


@register_model(family="regnet", source=SOURCE)
def regnety_400mf(num_classes: int = 10, drop_path_rate: float = 0.0, zero_init_residual: bool = False,
                  drop_rate: float = 0.0):
    """RegNetY-400MF for CIFAR: RegNetX-400MF plus squeeze-and-excitation (ratio 0.25)."""
    return RegNet(Y400MF, num_classes, drop_path_rate, zero_init_residual, drop_rate)
