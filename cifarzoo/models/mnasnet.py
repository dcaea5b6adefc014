"""MNASNet-B1 (Tan et al. 2019, arXiv:1807.11626) as laid out in torchvision, for CIFAR: the 3x3 stem
runs at stride 1, so 32x32 inputs reach the head at 2x2.

Stem: 3x3 conv -> 3x3 depthwise -> linear 1x1 (the paper's SepConv).  Body: six stacks of inverted
residuals with ReLU (expansion 3/3/6/6/6/6, kernels 3/5/5/3/5/3, repeats 3/3/3/2/4/1), then a 1x1
conv to 1280 channels, dropout 0.2 and the classifier.  All widths (stem included) scale with the
depth multiplier alpha, rounded to multiples of 8 without dropping more than 10 %.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from cifarzoo.models._base import ZooModel
from cifarzoo.models._mobile_blocks import ConvBNAct, InvertedResidual
from cifarzoo.models.layers import drop_path_rates, init_weights, make_divisible, zero_init_last_bn
from cifarzoo.registry import register_model

SOURCE = ("Tan et al. 2019, MnasNet (arXiv:1807.11626), B1 as in torchvision; stem stride 1 for CIFAR "
          "(counts = torchvision's at 10 classes)")

# TensorFlow's BN decay 0.9997 (momentum 1 - decay in PyTorch terms), as in the reference models
BN_MOMENTUM = 1 - 0.9997


@dataclass(frozen=True)
class MNASNetConfig:
    alpha: float
    # stem conv, stem sepconv output, then the six stacks' outputs (paper Fig. 7(a) at alpha 1)
    depths: tuple[int, ...] = (32, 16, 24, 40, 80, 96, 192, 320)
    # (kernel, stride, expansion, repeats) of the six stacks
    stacks: tuple[tuple[int, int, int, int], ...] = (
        (3, 2, 3, 3), (5, 2, 3, 3), (5, 2, 6, 3), (3, 1, 6, 2), (5, 2, 6, 4), (3, 1, 6, 1))
    last: int = 1280

    def widths(self) -> list[int]:
        return [make_divisible(d * self.alpha, 8) for d in self.depths]


class MNASNet(ZooModel):
    classifier_attr = "fc"

    def __init__(self, cfg: MNASNetConfig, num_classes: int = 10, drop_rate: float = 0.2,
                 drop_path_rate: float = 0.0, zero_init_residual: bool = False):
        super().__init__()
        if cfg.alpha <= 0:
            raise ValueError(f"MNASNet alpha must be > 0, got {cfg.alpha}")
        d = cfg.widths()
        self.stem = nn.Sequential(
            ConvBNAct(3, d[0], 3, 1, bn_momentum=BN_MOMENTUM),
            ConvBNAct(d[0], d[0], 3, 1, groups=d[0], bn_momentum=BN_MOMENTUM),
            ConvBNAct(d[0], d[1], 1, act=None, bn_momentum=BN_MOMENTUM))
        rates = iter(drop_path_rates(drop_path_rate, sum(r for _, _, _, r in cfg.stacks)))
        blocks, ch = [], d[1]
        for out, (k, s, e, r) in zip(d[2:], cfg.stacks):
            for i in range(r):
                blocks.append(InvertedResidual(ch, out, s if i == 0 else 1, e, k, act=nn.ReLU,
                                               drop_path=next(rates), bn_momentum=BN_MOMENTUM))
                ch = out
        self.blocks = nn.Sequential(*blocks)
        self.head_conv = ConvBNAct(ch, cfg.last, 1, bn_momentum=BN_MOMENTUM)
        self.num_features, self.num_classes = cfg.last, num_classes
        self.drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(cfg.last, num_classes)
        init_weights(self)
        if zero_init_residual:
            zero_init_last_bn(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.head_conv(self.blocks(self.stem(x)))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = x.mean((2, 3))
        return x if pre_logits else self.fc(self.drop(x))


@register_model(family="mnasnet", source=SOURCE)
def mnasnet0_5(num_classes: int = 10, drop_rate: float = 0.2, drop_path_rate: float = 0.0,
               zero_init_residual: bool = False):
    """MNASNet-B1 with depth multiplier 0.5 for CIFAR (0.95M params)."""
    return MNASNet(MNASNetConfig(0.5), num_classes, drop_rate, drop_path_rate, zero_init_residual)


@register_model(family="mnasnet", source=SOURCE)
def mnasnet1_0(num_classes: int = 10, drop_rate: float = 0.2, drop_path_rate: float = 0.0,
               zero_init_residual: bool = False):
    """MNASNet-B1 with depth multiplier 1.0 for CIFAR (3.12M params)."""
    return MNASNet(MNASNetConfig(1.0), num_classes, drop_rate, drop_path_rate, zero_init_residual)
