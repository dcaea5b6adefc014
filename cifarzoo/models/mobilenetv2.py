"""MobileNetV2 (Sandler et al. 2018, arXiv:1801.04381): inverted residuals with linear bottlenecks.

CIFAR adaptation as in the published CIFAR zoos (e.g. chenyaofo/pytorch-cifar-models): the stem
and the first stride-2 stage (24 channels) run at stride 1, so 32x32 inputs reach the head at
4x4 instead of 1x1.  Widths follow the paper's Table 2 scaled by the width multiplier and rounded
to multiples of 8; the last 1x1 conv has 1280 * max(1, width) channels.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from cifarzoo.models._base import ZooModel
from cifarzoo.models._mobile_blocks import ConvBNAct, InvertedResidual
from cifarzoo.models.layers import drop_path_rates, init_weights, make_divisible, zero_init_last_bn
from cifarzoo.registry import register_model

SOURCE = ("Sandler et al. 2018, MobileNetV2 (arXiv:1801.04381); CIFAR strides of "
          "chenyaofo/pytorch-cifar-models")


@dataclass(frozen=True)
class MobileNetV2Config:
    width_mult: float = 1.0
    # (expansion t, channels c, repeats n, stride s) of the paper's Table 2, with the second
    # row's stride 2 -> 1 for 32x32 inputs
    stages: tuple[tuple[int, int, int, int], ...] = (
        (1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
        (6, 320, 1, 1))
    stem: int = 32
    last: int = 1280


class MobileNetV2(ZooModel):
    classifier_attr = "fc"

    def __init__(self, cfg: MobileNetV2Config, num_classes: int = 10, drop_rate: float = 0.2,
                 drop_path_rate: float = 0.0, zero_init_residual: bool = False):
        super().__init__()
        if cfg.width_mult <= 0:
            raise ValueError(f"width_mult must be > 0, got {cfg.width_mult}")
        w = cfg.width_mult
        ch = make_divisible(cfg.stem * w)
        self.stem = ConvBNAct(3, ch, 3, 1, act=nn.ReLU6)
        rates = iter(drop_path_rates(drop_path_rate, sum(n for _, _, n, _ in cfg.stages)))
        blocks = []
        for t, c, n, s in cfg.stages:
            out = make_divisible(c * w)
            for i in range(n):
                blocks.append(InvertedResidual(ch, out, s if i == 0 else 1, t, drop_path=next(rates)))
                ch = out
        self.blocks = nn.Sequential(*blocks)
        last = make_divisible(cfg.last * max(1.0, w))
        self.head_conv = ConvBNAct(ch, last, 1, act=nn.ReLU6)
        self.num_features, self.num_classes = last, num_classes
        self.drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(last, num_classes)
        init_weights(self)
        if zero_init_residual:
            zero_init_last_bn(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.head_conv(self.blocks(self.stem(x)))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = x.mean((2, 3))
        return x if pre_logits else self.fc(self.drop(x))


def _build(width: float, num_classes: int, drop_rate: float, drop_path_rate: float,
           zero_init_residual: bool) -> MobileNetV2:
    return MobileNetV2(MobileNetV2Config(width_mult=width), num_classes, drop_rate, drop_path_rate,
                       zero_init_residual)


@register_model(family="mobilenetv2", source=SOURCE)
def mobilenetv2(num_classes: int = 10, drop_rate: float = 0.2, drop_path_rate: float = 0.0,
                zero_init_residual: bool = False):
    """MobileNetV2 1.0x for CIFAR (same network as mobilenetv2_x1_0; 2.24M params, 88M MACs)."""
    return _build(1.0, num_classes, drop_rate, drop_path_rate, zero_init_residual)


@register_model(family="mobilenetv2", source=SOURCE)
def mobilenetv2_x0_5(num_classes: int = 10, drop_rate: float = 0.2, drop_path_rate: float = 0.0,
                     zero_init_residual: bool = False):
    """MobileNetV2 with width multiplier 0.5 for CIFAR (0.70M params)."""
    return _build(0.5, num_classes, drop_rate, drop_path_rate, zero_init_residual)


@register_model(family="mobilenetv2", source=SOURCE)
def mobilenetv2_x0_75(num_classes: int = 10, drop_rate: float = 0.2, drop_path_rate: float = 0.0,
                      zero_init_residual: bool = False):
    """MobileNetV2 with width multiplier 0.75 for CIFAR (1.37M params)."""
    return _build(0.75, num_classes, drop_rate, drop_path_rate, zero_init_residual)


@register_model(family="mobilenetv2", source=SOURCE)
def mobilenetv2_x1_0(num_classes: int = 10, drop_rate: float = 0.2, drop_path_rate: float = 0.0,
                     zero_init_residual: bool = False):
    """MobileNetV2 with width multiplier 1.0 for CIFAR (2.24M params, 88M MACs)."""
    return _build(1.0, num_classes, drop_rate, drop_path_rate, zero_init_residual)


@register_model(family="mobilenetv2", source=SOURCE)
def mobilenetv2_x1_4(num_classes: int = 10, drop_rate: float = 0.2, drop_path_rate: float = 0.0,
                     zero_init_residual: bool = False):
    """MobileNetV2 with width multiplier 1.4 for CIFAR (4.33M params; last conv 1792 channels)."""
    return _build(1.4, num_classes, drop_rate, drop_path_rate, zero_init_residual)
