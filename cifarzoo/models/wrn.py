"""Wide Residual Networks (Zagoruyko & Komodakis 2016, arXiv:1605.07146).

WRN-d-k: a 3x3 conv to 16 channels, then three groups of n = (d-4)/6 pre-activation basic
blocks of widths 16k/32k/64k (strides 1, 2, 2), a final BN-ReLU, global pooling and the
classifier.  Blocks are BN-ReLU-conv3x3-BN-ReLU-[dropout]-conv3x3 ("B(3,3)" of the paper, with
the paper's dropout between the two convs, ``drop_rate``); a 1x1 conv shortcut appears when the
width or resolution changes and, like the authors' code, reads the pre-activated input.
Paper counts (Table 4/5): WRN-16-8 11.0M, WRN-28-10 36.5M, WRN-40-4 8.9M.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from cifarzoo.models._base import ZooModel
from cifarzoo.models._init_utils import zero_init_last_conv
from cifarzoo.models.layers import init_weights, residual_stages
from cifarzoo.models.preact_resnet import PreActBasic
from cifarzoo.registry import register_model

SOURCE = "Zagoruyko & Komodakis 2016, Wide Residual Networks (arXiv:1605.07146)"


class WideResNet(ZooModel):
    def __init__(self, depth: int, widen: int, num_classes: int = 10, drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0, zero_init_residual: bool = False):
        super().__init__()
        if (depth - 4) % 6 or depth < 10:
            raise ValueError(f"WRN depth must be 6n+4 with n >= 1, got {depth}")
        if widen < 1:
            raise ValueError(f"WRN widen factor must be >= 1, got {widen}")
        if not 0.0 <= drop_rate < 1.0:
            raise ValueError(f"drop_rate must be in [0, 1), got {drop_rate}")
        n = (depth - 4) // 6
        widths = (16 * widen, 32 * widen, 64 * widen)
        self.stem = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.stages, in_ch = residual_stages(
            lambda c_in, w, stride, dp: PreActBasic(c_in, w, stride, dp, drop_rate=drop_rate),
            (n, n, n), widths, 16, drop_path_rate)
        self.final_bn = nn.BatchNorm2d(in_ch)
        self.final_act = nn.ReLU(inplace=True)
        self.num_features, self.num_classes = in_ch, num_classes
        self.fc = nn.Linear(in_ch, num_classes)
        init_weights(self)
        if zero_init_residual:
            zero_init_last_conv(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.final_act(self.final_bn(self.stages(self.stem(x))))


@register_model(family="wrn", source=SOURCE)
def wrn16_8(num_classes: int = 10, drop_rate: float = 0.0, drop_path_rate: float = 0.0,
            zero_init_residual: bool = False):
    """WRN-16-8 (n=2, widths 128/256/512), 11.0M params."""
    return WideResNet(16, 8, num_classes, drop_rate, drop_path_rate, zero_init_residual)


@register_model(family="wrn", source=SOURCE)
def wrn28_10(num_classes: int = 10, drop_rate: float = 0.0, drop_path_rate: float = 0.0,
             zero_init_residual: bool = False):
    """WRN-28-10 (n=4, widths 160/320/640), 36.5M params; the paper trains it with drop_rate=0.3."""
    return WideResNet(28, 10, num_classes, drop_rate, drop_path_rate, zero_init_residual)


@register_model(family="wrn", source=SOURCE)
def wrn40_4(num_classes: int = 10, drop_rate: float = 0.0, drop_path_rate: float = 0.0,
            zero_init_residual: bool = False):
    """WRN-40-4 (n=6, widths 64/128/256), 8.9M params."""
    return WideResNet(40, 4, num_classes, drop_rate, drop_path_rate, zero_init_residual)
