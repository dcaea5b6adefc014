"""VGG (Simonyan & Zisserman 2015, arXiv:1409.1556) configurations A/B/D/E for 32x32 inputs.

Convolutions are the paper's: 3x3, stride 1, padding 1, with bias, widths 64-128-256-512-512 and
a 2x2 max-pool closing each of the five stages, so a 32x32 image ends as a 1x1x512 map.

CIFAR head (a choice): the paper's three FC layers (4096-4096-1000, 120M of the 138M parameters of
VGG-16) are dropped for one Linear(512, num_classes) on the 512-d vector, as in
kuangliu/pytorch-cifar, whose VGGs document 004 trained (VGG-11/13/16/19: 92.2-93.7 %) and which
gives VGG-16 14.7M parameters.  On a 1x1x512 map the paper's hidden FC layers would only be a
512-wide MLP (as chenyaofo/pytorch-cifar-models does); the single linear layer keeps the counts of
the document the accuracies come from.

``vgg*_bn`` put BatchNorm between each conv and its ReLU (Ioffe & Szegedy 2015) and, like
kuangliu's and torchvision's ``vgg*_bn``, keep the conv bias, so their counts equal kuangliu's
exactly; the plain ``vgg*`` are the paper's conv + bias + ReLU with no normalisation.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from cifarzoo.models._pooled_head import PooledDropoutModel, check_rate
from cifarzoo.models.layers import init_weights
from cifarzoo.registry import register_model

SOURCE = "Simonyan & Zisserman 2015 (arXiv:1409.1556), CIFAR head of kuangliu/pytorch-cifar (document 004)"

POOL = "M"
# Table 1 of the paper: the width of every 3x3 conv, "M" for each 2x2 max-pool.
LAYOUTS = {
    "A": (64, POOL, 128, POOL, 256, 256, POOL, 512, 512, POOL, 512, 512, POOL),
    "B": (64, 64, POOL, 128, 128, POOL, 256, 256, POOL, 512, 512, POOL, 512, 512, POOL),
    "D": (64, 64, POOL, 128, 128, POOL, 256, 256, 256, POOL, 512, 512, 512, POOL, 512, 512, 512, POOL),
    "E": (64, 64, POOL, 128, 128, POOL, 256, 256, 256, 256, POOL, 512, 512, 512, 512, POOL,
          512, 512, 512, 512, POOL),
}


@dataclass(frozen=True)
class VGGConfig:
    layout: str  # "A" (VGG-11), "B" (13), "D" (16) or "E" (19)
    batch_norm: bool

    def __post_init__(self):
        if self.layout not in LAYOUTS:
            raise ValueError(f"VGG layout must be one of {sorted(LAYOUTS)}, got {self.layout!r}")


class VGG(PooledDropoutModel):
    def __init__(self, cfg: VGGConfig, num_classes: int = 10, drop_rate: float = 0.0):
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = 3
        for v in LAYOUTS[cfg.layout]:
            if v == POOL:
                layers.append(nn.MaxPool2d(2))
                continue
            layers.append(nn.Conv2d(in_ch, v, 3, 1, 1, bias=True))
            if cfg.batch_norm:
                layers.append(nn.BatchNorm2d(v))
            layers.append(nn.ReLU(inplace=True))
            in_ch = v
        self.features = nn.Sequential(*layers)
        self.drop_rate = check_rate("drop_rate", drop_rate)
        self.num_features, self.num_classes = in_ch, num_classes
        self.fc = nn.Linear(in_ch, num_classes)
        init_weights(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


@register_model(family="vgg", source=SOURCE)
def vgg11(num_classes: int = 10, drop_rate: float = 0.0):
    """VGG-11 (configuration A), conv + bias + ReLU, linear CIFAR head (9.22M params)."""
    return VGG(VGGConfig("A", batch_norm=False), num_classes, drop_rate)


@register_model(family="vgg", source=SOURCE)
def vgg13(num_classes: int = 10, drop_rate: float = 0.0):
    """VGG-13 (configuration B), conv + bias + ReLU, linear CIFAR head (9.41M params)."""
    return VGG(VGGConfig("B", batch_norm=False), num_classes, drop_rate)


@register_model(family="vgg", source=SOURCE)
def vgg16(num_classes: int = 10, drop_rate: float = 0.0):
    """VGG-16 (configuration D), conv + bias + ReLU, linear CIFAR head (14.7M params)."""
    return VGG(VGGConfig("D", batch_norm=False), num_classes, drop_rate)


@register_model(family="vgg", source=SOURCE)
def vgg19(num_classes: int = 10, drop_rate: float = 0.0):
    """VGG-19 (configuration E), conv + bias + ReLU, linear CIFAR head (20.0M params)."""
    return VGG(VGGConfig("E", batch_norm=False), num_classes, drop_rate)


@register_model(family="vgg", source=SOURCE)
def vgg11_bn(num_classes: int = 10, drop_rate: float = 0.0):
    """VGG-11 with BatchNorm after every conv, linear CIFAR head (kuangliu VGG('VGG11'))."""
    return VGG(VGGConfig("A", batch_norm=True), num_classes, drop_rate)


@register_model(family="vgg", source=SOURCE)
def vgg13_bn(num_classes: int = 10, drop_rate: float = 0.0):
    """VGG-13 with BatchNorm after every conv, linear CIFAR head (kuangliu VGG('VGG13'))."""
    return VGG(VGGConfig("B", batch_norm=True), num_classes, drop_rate)


@register_model(family="vgg", source=SOURCE)
def vgg16_bn(num_classes: int = 10, drop_rate: float = 0.0):
    """VGG-16 with BatchNorm after every conv, linear CIFAR head (kuangliu VGG('VGG16'))."""
    return VGG(VGGConfig("D", batch_norm=True), num_classes, drop_rate)


@register_model(family="vgg", source=SOURCE)
def vgg19_bn(num_classes: int = 10, drop_rate: float = 0.0):
    """VGG-19 with BatchNorm after every conv, linear CIFAR head (kuangliu VGG('VGG19'))."""
    return VGG(VGGConfig("E", batch_norm=True), num_classes, drop_rate)
