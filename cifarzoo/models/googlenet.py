"""GoogLeNet / Inception-v1 (Szegedy et al. 2015, arXiv:1409.4842) for 32x32 inputs, in the CIFAR
form of kuangliu/pytorch-cifar that document 004 trained (94.94 %, 6,166,250 parameters).

The nine inception modules a3..b5 keep the paper's Table 1 widths.  CIFAR changes: the 7x7/2 conv,
pools and 3x3 conv of the stem become one 3x3 conv to 192 maps at 32x32; the modules run on
32/16/8 maps (max-pool 3x3/2 after b3 and e4); the 5x5 branch is two 3x3 convs (the factorisation
of Inception-v2/v3); every conv is followed by BatchNorm (convs keep their bias, as in the
document's implementation); the auxiliary classifiers are left out.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from cifarzoo.models._pooled_head import PooledDropoutModel, check_rate
from cifarzoo.models.layers import init_weights
from cifarzoo.registry import register_model

SOURCE = "Szegedy et al. 2015, Going Deeper with Convolutions (arXiv:1409.4842); kuangliu/pytorch-cifar"


@dataclass(frozen=True)
class InceptionSpec:
    """One row of the paper's Table 1: output widths of the four branches and their 1x1 reductions."""

    n1x1: int
    n3x3_reduce: int
    n3x3: int
    n5x5_reduce: int
    n5x5: int
    pool_proj: int

    @property
    def out_channels(self) -> int:
        return self.n1x1 + self.n3x3 + self.n5x5 + self.pool_proj


# Table 1 of the paper, modules 3a..5b; "pool" marks the 3x3/2 max-pools between the stages.
TABLE1 = (
    InceptionSpec(64, 96, 128, 16, 32, 32),  # 3a
    InceptionSpec(128, 128, 192, 32, 96, 64),  # 3b
    "pool",
    InceptionSpec(192, 96, 208, 16, 48, 64),  # 4a
    InceptionSpec(160, 112, 224, 24, 64, 64),  # 4b
    InceptionSpec(128, 128, 256, 24, 64, 64),  # 4c
    InceptionSpec(112, 144, 288, 32, 64, 64),  # 4d
    InceptionSpec(256, 160, 320, 32, 128, 128),  # 4e
    "pool",
    InceptionSpec(256, 160, 320, 32, 128, 128),  # 5a
    InceptionSpec(384, 192, 384, 48, 128, 128),  # 5b
)


def conv_bn_relu(in_ch: int, out_ch: int, kernel: int) -> list[nn.Module]:
    return [nn.Conv2d(in_ch, out_ch, kernel, 1, kernel // 2), nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True)]


class Inception(nn.Module):
    def __init__(self, in_ch: int, s: InceptionSpec):
        super().__init__()
        self.branch1 = nn.Sequential(*conv_bn_relu(in_ch, s.n1x1, 1))
        self.branch3 = nn.Sequential(*conv_bn_relu(in_ch, s.n3x3_reduce, 1), *conv_bn_relu(s.n3x3_reduce, s.n3x3, 3))
        # the 5x5 receptive field as two stacked 3x3 convs
        self.branch5 = nn.Sequential(*conv_bn_relu(in_ch, s.n5x5_reduce, 1), *conv_bn_relu(s.n5x5_reduce, s.n5x5, 3),
                                     *conv_bn_relu(s.n5x5, s.n5x5, 3))
        self.branch_pool = nn.Sequential(nn.MaxPool2d(3, 1, 1), *conv_bn_relu(in_ch, s.pool_proj, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch3(x), self.branch5(x), self.branch_pool(x)], 1)


class GoogLeNet(PooledDropoutModel):
    def __init__(self, num_classes: int = 10, drop_rate: float = 0.0):
        super().__init__()
        self.stem = nn.Sequential(*conv_bn_relu(3, 192, 3))
        blocks: list[nn.Module] = []
        ch = 192
        for spec in TABLE1:
            if spec == "pool":
                blocks.append(nn.MaxPool2d(3, 2, 1))
            else:
                blocks.append(Inception(ch, spec))
                ch = spec.out_channels
        self.blocks = nn.Sequential(*blocks)
        self.drop_rate = check_rate("drop_rate", drop_rate)
        self.num_features, self.num_classes = ch, num_classes
        self.fc = nn.Linear(ch, num_classes)
        init_weights(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x))


@register_model(family="googlenet", source=SOURCE)
def googlenet(num_classes: int = 10, drop_rate: float = 0.0):
    """GoogLeNet for CIFAR: 3x3 stem to 192 maps, inception 3a..5b (6,166,250 params; paper dropout 0.4)."""
    return GoogLeNet(num_classes, drop_rate)
