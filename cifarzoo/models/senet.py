"""SENet-18 for CIFAR (Hu et al. 2018, Squeeze-and-Excitation Networks, arXiv:1709.01507), in
the layout of kuangliu/pytorch-cifar that document 004 trained (SENet18: 11,260,354 params).

Pre-activation basic blocks (BN-ReLU-conv3x3-BN-ReLU-conv3x3), widths 64-512 in stages of 2,
3x3 stride-1 stem (conv-BN-ReLU), no max-pool.  Each block rescales its residual branch with an
SE gate before the addition: global average pool, 1x1 conv to C/16, ReLU, 1x1 conv back to C,
sigmoid (1x1 convs with bias, i.e. the paper's two FC layers).  The projection shortcut reads
the pre-activated input.  As in that code there is no BN-ReLU after the last block, so the
exact count of document 004 is kept.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from cifarzoo.models._base import ZooModel
from cifarzoo.models._init_utils import zero_init_last_conv
from cifarzoo.models.layers import SqueezeExcite, init_weights, residual_stages
from cifarzoo.models.preact_resnet import PreActBasic
from cifarzoo.registry import register_model

SOURCE = "Hu et al. 2018 SENet (arXiv:1709.01507), kuangliu/pytorch-cifar SENet18 layout (seed doc 004)"


class SENet(ZooModel):
    def __init__(self, layers: tuple[int, ...], num_classes: int = 10, reduction: int = 16,
                 drop_path_rate: float = 0.0, zero_init_residual: bool = False):
        super().__init__()
        if reduction < 1:
            raise ValueError(f"SE reduction must be >= 1, got {reduction}")
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True))
        self.stages, in_ch = residual_stages(
            lambda c_in, w, stride, dp: PreActBasic(c_in, w, stride, dp, se=SqueezeExcite(w, w // reduction)),
            layers, [64 * 2 ** i for i in range(len(layers))], 64, drop_path_rate)
        self.num_features, self.num_classes = in_ch, num_classes
        self.fc = nn.Linear(in_ch, num_classes)
        init_weights(self)
        if zero_init_residual:
            zero_init_last_conv(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x))


@register_model(family="senet", source=SOURCE)
def senet18(num_classes: int = 10, reduction: int = 16, drop_path_rate: float = 0.0,
            zero_init_residual: bool = False):
    """SENet-18: pre-activation ResNet-18 with SE gates (reduction 16), 11.26M params as in document 004."""
    return SENet((2, 2, 2, 2), num_classes, reduction, drop_path_rate, zero_init_residual)
