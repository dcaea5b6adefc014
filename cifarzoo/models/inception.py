"""Inception-v3, Inception-v4 and Inception-ResNet-v2 adapted to 32x32 inputs.

Modules, filter counts and module repeats are the papers' (see ``_inception_blocks``):
* Inception-v3 (Szegedy et al. 2016, arXiv:1512.00567; the torchvision / TF-slim layer table):
  stem, 3x module A (Fig. 5), reduction, 4x module B (Fig. 6, 1x7/7x1), reduction, 2x module C
  (Fig. 7), 2048 features;
* Inception-v4 (Szegedy et al. 2017, arXiv:1602.07261, Fig. 9): stem (Fig. 3), 4x A, reduction A
  (k, l, m, n = 192, 224, 256, 384), 7x B, reduction B, 3x C, 1536 features;
* Inception-ResNet-v2 (same paper, Fig. 15): stem, 5x A (Fig. 16), reduction A (256, 256, 384,
  384), 10x B (Fig. 17), reduction B (Fig. 18), 5x C (Fig. 19), residual scaling 0.17 / 0.10 / 0.20
  (the values of the authors' released model; the paper says "between 0.1 and 0.3").

32x32 adaptation (after weiaicunzai/pytorch-cifar100, whose models document 001 trained): the
stems lose their stride-2 steps and pools, keeping one unpadded 3x3 conv, so the three grids are
30x30, 14x14 and 6x6 instead of 35/17/8; the two grid reductions are the papers' unpadded stride-2
modules.  No auxiliary classifier; dropout (keep 0.8, Fig. 9 / 15) before the classifier.

Where this differs from weiaicunzai: Inception-v3's module A projects its pool branch with a 1x1
conv as in the paper (theirs uses a 3x3, +327,680 parameters), and Inception-ResNet-v2 follows the
paper's pure identity shortcuts and BN-free summation (theirs adds 1x1 convs on the shortcut and
BN after the sum).  The paper's Inception-ResNet-v2 figures give the B and C blocks 1154 and 2048
output maps, which cannot be added to the 1152- and 2144-map trunk that reduction A and B produce;
the blocks here expand to the trunk width, so every shortcut is an identity.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from cifarzoo.models import _inception_blocks as ib
from cifarzoo.models._pooled_head import PooledDropoutModel, check_rate
from cifarzoo.models.layers import drop_path_rates, init_weights
from cifarzoo.registry import register_model

V3 = "Szegedy et al. 2016, Rethinking the Inception Architecture (arXiv:1512.00567)"
V4 = "Szegedy et al. 2017, Inception-v4, Inception-ResNet and the Impact of Residual Connections (arXiv:1602.07261)"


class InceptionV3(PooledDropoutModel):
    def __init__(self, num_classes: int = 10, drop_rate: float = 0.2):
        super().__init__()
        # torchvision's Conv2d_1a..4a with strides and pools removed; the last conv is unpadded (32 -> 30)
        self.stem = ib.chain(3, (32, 3), (32, 3), (64, 3), (80, 1), (192, 3, 1, "valid"))
        self.blocks = nn.Sequential(
            ib.v3_module_a(192, 32), ib.v3_module_a(256, 64), ib.v3_module_a(288, 64),  # 30x30
            ib.v3_reduction_a(288),  # -> 14x14, 768
            ib.v3_module_b(768, 128), ib.v3_module_b(768, 160), ib.v3_module_b(768, 160), ib.v3_module_b(768, 192),
            ib.v3_reduction_b(768),  # -> 6x6, 1280
            ib.v3_module_c(1280), ib.v3_module_c(2048),
        )
        self.drop_rate = check_rate("drop_rate", drop_rate)
        self.num_features, self.num_classes = 2048, num_classes
        self.fc = nn.Linear(2048, num_classes)
        init_weights(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x))


class InceptionV4(PooledDropoutModel):
    def __init__(self, num_classes: int = 10, drop_rate: float = 0.2):
        super().__init__()
        self.stem = ib.V4Stem()  # 30x30, 384
        self.blocks = nn.Sequential(
            *[ib.v4_module_a(384) for _ in range(4)],
            ib.v4_reduction_a(384, k=192, l=224, m=256, n=384),  # -> 14x14, 1024
            *[ib.v4_module_b(1024) for _ in range(7)],
            ib.v4_reduction_b(1024),  # -> 6x6, 1536
            *[ib.v4_module_c(1536) for _ in range(3)],
        )
        self.drop_rate = check_rate("drop_rate", drop_rate)
        self.num_features, self.num_classes = 1536, num_classes
        self.fc = nn.Linear(1536, num_classes)
        init_weights(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x))


@dataclass(frozen=True)
class InceptionResNetConfig:
    repeats: tuple[int, int, int] = (5, 10, 5)  # A, B, C blocks (Fig. 15)
    scales: tuple[float, float, float] = (0.17, 0.10, 0.20)
    reduction_a: tuple[int, int, int, int] = (256, 256, 384, 384)  # k, l, m, n (Table 1)


class InceptionResNetV2(PooledDropoutModel):
    def __init__(self, cfg: InceptionResNetConfig = InceptionResNetConfig(), num_classes: int = 10,
                 drop_rate: float = 0.2, drop_path_rate: float = 0.0):
        super().__init__()
        self.stem = ib.V4Stem()  # 30x30, 384
        na, nb, nc = cfg.repeats
        sa, sb, sc = cfg.scales
        k, l, m, n = cfg.reduction_a
        rates = iter(drop_path_rates(drop_path_rate, na + nb + nc))
        ch_a = 384
        ch_b = ch_a + n + m
        ch_c = ch_b + 384 + 288 + 320
        self.blocks = nn.Sequential(
            *[ib.ir_block_a(ch_a, sa, next(rates)) for _ in range(na)],
            ib.v4_reduction_a(ch_a, k, l, m, n),  # -> 14x14
            *[ib.ir_block_b(ch_b, sb, next(rates)) for _ in range(nb)],
            ib.ir_reduction_b(ch_b),  # -> 6x6
            *[ib.ir_block_c(ch_c, sc, next(rates)) for _ in range(nc)],
        )
        self.drop_rate = check_rate("drop_rate", drop_rate)
        self.num_features, self.num_classes = ch_c, num_classes
        self.fc = nn.Linear(ch_c, num_classes)
        init_weights(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x))


@register_model(family="inception", source=V3)
def inception_v3(num_classes: int = 10, drop_rate: float = 0.2):
    """Inception-v3 for 32x32 (stride-1 stem, grids 30/14/6), no auxiliary head."""
    return InceptionV3(num_classes, drop_rate)


@register_model(family="inception", source=V4)
def inception_v4(num_classes: int = 10, drop_rate: float = 0.2):
    """Inception-v4 for 32x32 (stride-1 stem, grids 30/14/6): 4xA, 7xB, 3xC."""
    return InceptionV4(num_classes, drop_rate)


@register_model(family="inception", source=V4)
def inception_resnet_v2(num_classes: int = 10, drop_rate: float = 0.2, drop_path_rate: float = 0.0):
    """Inception-ResNet-v2 for 32x32 (stride-1 stem, grids 30/14/6): 5xA, 10xB, 5xC, identity shortcuts."""
    return InceptionResNetV2(InceptionResNetConfig(), num_classes, drop_rate, drop_path_rate)
