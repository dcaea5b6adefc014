"""MobileNet v1 (Howard et al. 2017, arXiv:1704.04861) in the CIFAR layout of kuangliu/pytorch-cifar:
a 3x3 stride-1 stem of 32 channels, then 13 depthwise-separable blocks (3x3 depthwise + 1x1
pointwise, each followed by BN + ReLU) with four stride-2 blocks (32 -> 16 -> 8 -> 4 -> 2),
global average pooling and one linear classifier.  Plain feed-forward: no residual paths, so no
stochastic depth."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from cifarzoo.models._base import ZooModel
from cifarzoo.models._mobile_blocks import ConvBNAct
from cifarzoo.models.layers import init_weights, make_divisible
from cifarzoo.registry import register_model

SOURCE = "Howard et al. 2017, MobileNets (arXiv:1704.04861); CIFAR layout of kuangliu/pytorch-cifar"


@dataclass(frozen=True)
class MobileNetConfig:
    # (out_channels, stride) of the 13 separable blocks of Table 1; the paper's stride-2 stem is
    # stride 1 here, which keeps 32x32 inputs at 2x2 before pooling.
    blocks: tuple[tuple[int, int], ...] = (
        (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
        (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))
    stem: int = 32
    width_mult: float = 1.0


class DepthwiseSeparable(nn.Sequential):
    """3x3 depthwise conv (filters each channel) + 1x1 pointwise conv (mixes channels)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int):
        super().__init__(ConvBNAct(in_ch, in_ch, 3, stride, groups=in_ch), ConvBNAct(in_ch, out_ch, 1))


class MobileNetV1(ZooModel):
    classifier_attr = "fc"

    def __init__(self, cfg: MobileNetConfig, num_classes: int = 10, drop_rate: float = 0.0):
        super().__init__()
        if cfg.width_mult <= 0:
            raise ValueError(f"width_mult must be > 0, got {cfg.width_mult}")
        # the paper's width multiplier alpha thins every layer; rounding to multiples of 8 keeps
        # the depthwise groups hardware friendly (every width of the 1.0x network already is one)
        ch = make_divisible(cfg.stem * cfg.width_mult)
        self.stem = ConvBNAct(3, ch, 3, 1)
        blocks = []
        for out, stride in cfg.blocks:
            out = make_divisible(out * cfg.width_mult)
            blocks.append(DepthwiseSeparable(ch, out, stride))
            ch = out
        self.blocks = nn.Sequential(*blocks)
        self.num_features, self.num_classes = ch, num_classes
        self.drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(ch, num_classes)
        init_weights(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = x.mean((2, 3))
        return x if pre_logits else self.fc(self.drop(x))


@register_model(family="mobilenet", source=SOURCE)
def mobilenet(num_classes: int = 10, width_mult: float = 1.0, drop_rate: float = 0.0):
    """MobileNet v1 (1.0x) for CIFAR: 3x3 stride-1 stem, 13 depthwise-separable blocks (3.2M params)."""
    return MobileNetV1(MobileNetConfig(width_mult=width_mult), num_classes, drop_rate)
