"""ShuffleNet v1 (Zhang et al. 2018, arXiv:1707.01083) in the CIFAR layout whose parameter counts
document 004 prints (kuangliu/pytorch-cifar style): a 1x1 stem of 24 channels at stride 1, three
stages of 4/8/4 units with the paper's Table 1 widths for g = 1, 2, 3, 4, 8, each stage opening
with a stride-2 unit (32 -> 16 -> 8 -> 4).

A unit is 1x1 group conv -> channel shuffle -> 3x3 depthwise -> 1x1 group conv.  The bottleneck
is a quarter of the stage's output width (paper Sec. 3.2); the very first 1x1 conv (24 input
channels) is not grouped (paper: too few input channels).  Stride-1 units add an identity
shortcut; stride-2 units concatenate a 3x3 average-pooled shortcut, so their branch produces only
``out - in`` channels.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from cifarzoo.models._base import ZooModel
from cifarzoo.models._mobile_blocks import ConvBNAct, channel_shuffle
from cifarzoo.models.layers import DropPath, drop_path_rates, init_weights, zero_init_last_bn
from cifarzoo.registry import register_model

SOURCE = ("Zhang et al. 2018, ShuffleNet (arXiv:1707.01083), Table 1 widths; CIFAR layout of "
          "document 004 / kuangliu/pytorch-cifar")

# paper Table 1: output channels of stages 2-4 for each group count (complexity ~140 MFLOPs)
WIDTHS = {1: (144, 288, 576), 2: (200, 400, 800), 3: (240, 480, 960), 4: (272, 544, 1088),
          8: (384, 768, 1536)}


@dataclass(frozen=True)
class ShuffleNetConfig:
    groups: int
    repeats: tuple[int, int, int] = (4, 8, 4)
    stem: int = 24

    @property
    def widths(self) -> tuple[int, int, int]:
        return WIDTHS[self.groups]


class ShuffleUnit(nn.Module):
    def __init__(self, in_ch: int, stage_width: int, stride: int, groups: int, first_groups: int,
                 drop_path: float):
        super().__init__()
        self.stride, self.groups1 = stride, first_groups
        mid = stage_width // 4
        # a stride-2 unit concatenates its input, so its branch only adds the missing channels
        branch_out = stage_width - in_ch if stride == 2 else stage_width
        self.conv1 = ConvBNAct(in_ch, mid, 1, groups=first_groups)
        self.conv2 = ConvBNAct(mid, mid, 3, stride, groups=mid, act=None)
        self.conv3 = ConvBNAct(mid, branch_out, 1, groups=groups, act=None)
        self.drop_path = DropPath(drop_path) if stride == 1 else nn.Identity()

    @property
    def zero_init_target(self) -> nn.Module:
        # a property, not an attribute: assigning a module registers it twice (duplicate state-dict keys)
        return self.conv3[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = channel_shuffle(self.conv1(x), self.groups1)
        out = self.conv3(self.conv2(out))
        if self.stride == 2:
            return F.relu(torch.cat((out, F.avg_pool2d(x, 3, 2, 1)), 1))
        return F.relu(x + self.drop_path(out))


class ShuffleNetV1(ZooModel):
    classifier_attr = "fc"

    def __init__(self, cfg: ShuffleNetConfig, num_classes: int = 10, drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0, zero_init_residual: bool = False):
        super().__init__()
        if cfg.groups not in WIDTHS:
            raise ValueError(f"ShuffleNet groups must be one of {sorted(WIDTHS)}, got {cfg.groups}")
        self.stem = ConvBNAct(3, cfg.stem, 1)
        rates = iter(drop_path_rates(drop_path_rate, sum(cfg.repeats)))
        ch, stages = cfg.stem, []
        for width, n in zip(cfg.widths, cfg.repeats):
            units = []
            for i in range(n):
                first_groups = 1 if ch == cfg.stem else cfg.groups
                units.append(ShuffleUnit(ch, width, 2 if i == 0 else 1, cfg.groups, first_groups, next(rates)))
                ch = width
            stages.append(nn.Sequential(*units))
        self.stages = nn.Sequential(*stages)
        self.num_features, self.num_classes = ch, num_classes
        self.drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(ch, num_classes)
        init_weights(self)
        if zero_init_residual:
            zero_init_last_bn(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = x.mean((2, 3))
        return x if pre_logits else self.fc(self.drop(x))


def _build(groups, num_classes, drop_rate, drop_path_rate, zero_init_residual):
    return ShuffleNetV1(ShuffleNetConfig(groups), num_classes, drop_rate, drop_path_rate, zero_init_residual)


@register_model(family="shufflenet", source=SOURCE)
def shufflenet_g1(num_classes: int = 10, drop_rate: float = 0.0, drop_path_rate: float = 0.0,
                  zero_init_residual: bool = False):
    """ShuffleNet v1 1x, g=1 (widths 144/288/576) for CIFAR (0.96M params)."""
    return _build(1, num_classes, drop_rate, drop_path_rate, zero_init_residual)


@register_model(family="shufflenet", source=SOURCE)
def shufflenet_g2(num_classes: int = 10, drop_rate: float = 0.0, drop_path_rate: float = 0.0,
                  zero_init_residual: bool = False):
    """ShuffleNet v1 1x, g=2 (widths 200/400/800) for CIFAR (0.94M params)."""
    return _build(2, num_classes, drop_rate, drop_path_rate, zero_init_residual)


@register_model(family="shufflenet", source=SOURCE)
def shufflenet_g3(num_classes: int = 10, drop_rate: float = 0.0, drop_path_rate: float = 0.0,
                  zero_init_residual: bool = False):
    """ShuffleNet v1 1x, g=3 (widths 240/480/960) for CIFAR (0.91M params)."""
    return _build(3, num_classes, drop_rate, drop_path_rate, zero_init_residual)


@register_model(family="shufflenet", source=SOURCE)
def shufflenet_g4(num_classes: int = 10, drop_rate: float = 0.0, drop_path_rate: float = 0.0,
                  zero_init_residual: bool = False):
    """ShuffleNet v1 1x, g=4 (widths 272/544/1088) for CIFAR (0.89M params)."""
    return _build(4, num_classes, drop_rate, drop_path_rate, zero_init_residual)


@register_model(family="shufflenet", source=SOURCE)
def shufflenet_g8(num_classes: int = 10, drop_rate: float = 0.0, drop_path_rate: float = 0.0,
                  zero_init_residual: bool = False):
    """ShuffleNet v1 1x, g=8 (widths 384/768/1536) for CIFAR (0.91M params)."""
    return _build(8, num_classes, drop_rate, drop_path_rate, zero_init_residual)
