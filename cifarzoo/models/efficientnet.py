"""EfficientNet B0-B7 (Tan & Le 2019, arXiv:1905.11946) in the CIFAR layout of kuangliu/pytorch-cifar,
whose EfficientNetB0 document 004 counts at exactly 3,599,686 parameters.

B0 is the paper's Table 1 body: a 3x3 stem of 32 channels (stride 1 for 32x32 inputs) and seven
stages of MBConv blocks (expand 1x1 -> depthwise kxk -> squeeze-excitation -> linear 1x1), Swish
activations, identity skips on stride-1 same-width blocks with stochastic depth ("drop connect").
Conventions that produce the documented count, kept for all of B0-B7:
  * squeeze-excitation width = 0.25 x the block's *input* width (the paper's se_ratio), 1x1 convs
    with bias, Swish inside, sigmoid gate;
  * the 1x1 expansion conv exists in the expansion-1 blocks too (ratio-1 pointwise conv + BN +
    Swish); kuangliu builds it there, so it is counted, and here it is also used so that every
    counted parameter is trained;
  * no 1280-channel head conv: the pooled last stage (320 x width) feeds the classifier.
B1-B7 apply the paper's compound scaling: widths x w rounded to multiples of 8, repeats ceil(d x n),
dropout 0.2-0.5 before the classifier.  The resolution coefficient is not applied: CIFAR stays 32x32.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn

from cifarzoo.models._base import ZooModel
from cifarzoo.models.layers import (DropPath, SqueezeExcite, drop_path_rates, init_weights, make_divisible,
                                    zero_init_last_bn)
from cifarzoo.registry import register_model

SOURCE = ("Tan & Le 2019, EfficientNet (arXiv:1905.11946), compound scaling; B0 CIFAR layout of "
          "kuangliu/pytorch-cifar (document 004: 3,599,686 params)")

# paper Table 1: (expansion, channels, repeats, kernel, stride); stage 2 keeps its stride 2 because
# the stem already runs at stride 1 on 32x32 inputs (32 -> 16 -> 8 -> 4 -> 2)
B0_STAGES = ((1, 16, 1, 3, 1), (6, 24, 2, 3, 2), (6, 40, 2, 5, 2), (6, 80, 3, 3, 2), (6, 112, 3, 5, 1),
             (6, 192, 4, 5, 2), (6, 320, 1, 3, 1))


@dataclass(frozen=True)
class EfficientNetConfig:
    width: float  # channel multiplier w
    depth: float  # repeat multiplier d
    stem: int = 32
    se_ratio: float = 0.25
    stages: tuple[tuple[int, int, int, int, int], ...] = B0_STAGES

    def channels(self, c: int) -> int:
        return make_divisible(c * self.width, 8)

    def repeats(self, n: int) -> int:
        return int(math.ceil(self.depth * n))


# paper Sec. 4 / official code: (width, depth) per variant; each factory's drop_rate default is the
# official dropout before the classifier (0.2, 0.2, 0.3, 0.3, 0.4, 0.4, 0.5, 0.5)
VARIANTS = {
    "b0": (1.0, 1.0), "b1": (1.0, 1.1), "b2": (1.1, 1.2), "b3": (1.2, 1.4),
    "b4": (1.4, 1.8), "b5": (1.6, 2.2), "b6": (1.8, 2.6), "b7": (2.0, 3.1),
}


class MBConv(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, expand: int, se_ratio: float,
                 drop_path: float):
        super().__init__()
        mid = in_ch * expand
        self.expand = nn.Sequential(nn.Conv2d(in_ch, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.SiLU(inplace=True))
        self.dw = nn.Sequential(nn.Conv2d(mid, mid, kernel, stride, kernel // 2, groups=mid, bias=False),
                                nn.BatchNorm2d(mid), nn.SiLU(inplace=True))
        self.se = SqueezeExcite(mid, max(1, int(in_ch * se_ratio)), gate=nn.Sigmoid, act=nn.SiLU)
        self.project = nn.Sequential(nn.Conv2d(mid, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch))
        self.has_skip = stride == 1 and in_ch == out_ch
        self.drop_path = DropPath(drop_path) if self.has_skip else nn.Identity()

    @property
    def zero_init_target(self) -> nn.Module:
        # a property, not an attribute: assigning a module registers it twice (duplicate state-dict keys)
        return self.project[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.se(self.dw(self.expand(x))))
        return x + self.drop_path(out) if self.has_skip else out


class EfficientNet(ZooModel):
    classifier_attr = "fc"

    def __init__(self, cfg: EfficientNetConfig, num_classes: int = 10, drop_rate: float = 0.2,
                 drop_path_rate: float = 0.0, zero_init_residual: bool = False):
        super().__init__()
        stem = cfg.channels(cfg.stem)
        self.stem = nn.Sequential(nn.Conv2d(3, stem, 3, 1, 1, bias=False), nn.BatchNorm2d(stem), nn.SiLU(inplace=True))
        rates = iter(drop_path_rates(drop_path_rate, sum(cfg.repeats(n) for _, _, n, _, _ in cfg.stages)))
        blocks, ch = [], stem
        for expand, c, n, k, s in cfg.stages:
            out = cfg.channels(c)
            for i in range(cfg.repeats(n)):
                blocks.append(MBConv(ch, out, k, s if i == 0 else 1, expand, cfg.se_ratio, next(rates)))
                ch = out
        self.blocks = nn.Sequential(*blocks)
        self.num_features, self.num_classes = ch, num_classes
        self.drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(ch, num_classes)
        init_weights(self)
        if zero_init_residual:
            zero_init_last_bn(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = x.mean((2, 3))
        return x if pre_logits else self.fc(self.drop(x))


def _build(variant: str, num_classes: int, drop_rate: float, drop_path_rate: float,
           zero_init_residual: bool) -> EfficientNet:
    w, d = VARIANTS[variant]
    return EfficientNet(EfficientNetConfig(w, d), num_classes, drop_rate, drop_path_rate, zero_init_residual)


@register_model(family="efficientnet", source=SOURCE)
def efficientnet_b0(num_classes: int = 10, drop_rate: float = 0.2, drop_path_rate: float = 0.0,
                    zero_init_residual: bool = False):
    """EfficientNet-B0 for CIFAR (w=1.0, d=1.0; kuangliu layout, 3.60M params)."""
    return _build("b0", num_classes, drop_rate, drop_path_rate, zero_init_residual)


@register_model(family="efficientnet", source=SOURCE)
def efficientnet_b1(num_classes: int = 10, drop_rate: float = 0.2, drop_path_rate: float = 0.0,
                    zero_init_residual: bool = False):
    """EfficientNet-B1 for CIFAR (w=1.0, d=1.1)."""
    return _build("b1", num_classes, drop_rate, drop_path_rate, zero_init_residual)


@register_model(family="efficientnet", source=SOURCE)
def efficientnet_b2(num_classes: int = 10, drop_rate: float = 0.3, drop_path_rate: float = 0.0,
                    zero_init_residual: bool = False):
    """EfficientNet-B2 for CIFAR (w=1.1, d=1.2)."""
    return _build("b2", num_classes, drop_rate, drop_path_rate, zero_init_residual)


@register_model(family="efficientnet", source=SOURCE)
def efficientnet_b3(num_classes: int = 10, drop_rate: float = 0.3, drop_path_rate: float = 0.0,
                    zero_init_residual: bool = False):
    """EfficientNet-B3 for CIFAR (w=1.2, d=1.4)."""
    return _build("b3", num_classes, drop_rate, drop_path_rate, zero_init_residual)


@register_model(family="efficientnet", source=SOURCE)
def efficientnet_b4(num_classes: int = 10, drop_rate: float = 0.4, drop_path_rate: float = 0.0,
                    zero_init_residual: bool = False):
    """EfficientNet-B4 for CIFAR (w=1.4, d=1.8)."""
    return _build("b4", num_classes, drop_rate, drop_path_rate, zero_init_residual)


@register_model(family="efficientnet", source=SOURCE)
def efficientnet_b5(num_classes: int = 10, drop_rate: float = 0.4, drop_path_rate: float = 0.0,
                    zero_init_residual: bool = False):
    """EfficientNet-B5 for CIFAR (w=1.6, d=2.2)."""
    return _build("b5", num_classes, drop_rate, drop_path_rate, zero_init_residual)


@register_model(family="efficientnet", source=SOURCE)
def efficientnet_b6(num_classes: int = 10, drop_rate: float = 0.5, drop_path_rate: float = 0.0,
                    zero_init_residual: bool = False):
    """EfficientNet-B6 for CIFAR (w=1.8, d=2.6)."""
    return _build("b6", num_classes, drop_rate, drop_path_rate, zero_init_residual)


@register_model(family="efficientnet", source=SOURCE)
def efficientnet_b7(num_classes: int = 10, drop_rate: float = 0.5, drop_path_rate: float = 0.0,
                    zero_init_residual: bool = False):
    """EfficientNet-B7 for CIFAR (w=2.0, d=3.1)."""
    return _build("b7", num_classes, drop_rate, drop_path_rate, zero_init_residual)
