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
from cifarzoo.models.layers import DropPath, SqueezeExcite, drop_path_rates, init_weights
from cifarzoo.registry import register_model

SOURCE = "Hu et al. 2018 SENet (arXiv:1709.01507), kuangliu/pytorch-cifar SENet18 layout (seed doc 004)"


class SEPreActBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int, reduction: int, drop_path: float):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.act = nn.ReLU(inplace=True)
        self.se = SqueezeExcite(out_ch, out_ch // reduction)
        self.shortcut = (nn.Conv2d(in_ch, out_ch, 1, stride, bias=False)
                         if stride != 1 or in_ch != out_ch else None)
        self.drop_path = DropPath(drop_path)

    @property
    def zero_init_conv(self) -> nn.Module:
        # a property, not an attribute: assigning the module would register it twice and
        # duplicate its tensors in the state dict
        return self.conv2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.act(self.bn1(x))
        shortcut = x if self.shortcut is None else self.shortcut(pre)
        out = self.conv1(pre)
        out = self.se(self.conv2(self.act(self.bn2(out))))
        return shortcut + self.drop_path(out)


class SENet(ZooModel):
    def __init__(self, layers: tuple[int, ...], num_classes: int = 10, reduction: int = 16,
                 drop_path_rate: float = 0.0, zero_init_residual: bool = False):
        super().__init__()
        if reduction < 1:
            raise ValueError(f"SE reduction must be >= 1, got {reduction}")
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True))
        rates = iter(drop_path_rates(drop_path_rate, sum(layers)))
        stages, in_ch = [], 64
        for i, n in enumerate(layers):
            w = 64 * 2 ** i
            blocks = []
            for j in range(n):
                blocks.append(SEPreActBlock(in_ch, w, 2 if (i > 0 and j == 0) else 1, reduction, next(rates)))
                in_ch = w
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
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
