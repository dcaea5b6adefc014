"""ImageNet-layout ResNets (He et al. 2016, arXiv:1512.03385, Table 1) adapted to 32x32 CIFAR
images, plus the ResNet-50 "ladder" of the Strong-Baselines-for-CIFAR100 document.

One configurable class covers both:

* ``stem``: ``"imagenet"`` (7x7 stride-2 conv) or ``"cifar"`` (3x3 stride-1 pad-1 conv);
* ``maxpool``: keep the 3x3 stride-2 max-pool after the stem;
* ``last_stride``: stride of the last stage (2 as in ImageNet, 1 keeps an 8x8 final map);
* ``avg_down``: ResNet-D downsampling (Bag of Tricks, He et al. 2019, arXiv:1812.01187, Fig. 2c):
  the projection shortcut averages 2x2 first and then applies a stride-1 1x1 conv, so it stops
  discarding three quarters of the input.

The CIFAR ResNet-18..152 (``resnet18``...) are the cifar stem without max-pool (the layout of
kuangliu/pytorch-cifar and of document 003).  The ladder (seed document 000, table "基础架构"):
T = torchvision as is, E1 = 3x3 stride-1 stem, E2 = E1 without max-pool, E3 = E2 with last-stage
stride 1, E5 = E3 with ResNet-D shortcuts.  Stride sits on the 3x3 conv of the bottleneck
(torchvision's "ResNet v1.5", also ResNet-B of Bag of Tricks).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn

from cifarzoo.models._base import ZooModel
from cifarzoo.models.layers import DropPath, drop_path_rates, init_weights, zero_init_last_bn
from cifarzoo.registry import register_model

SOURCE = "He et al. 2016 (arXiv:1512.03385) ImageNet ResNets, CIFAR stem as in kuangliu/pytorch-cifar"
LADDER_SOURCE = ("Strong Baselines for CIFAR-100 (tcmyxc, seed doc 000) ResNet-50 ladder T/E1/E2/E3/E5; "
                 "ResNet-D from Bag of Tricks (He et al. 2019, arXiv:1812.01187)")

STEMS = ("cifar", "imagenet")


def _shortcut(in_ch: int, out_ch: int, stride: int, avg_down: bool) -> nn.Module:
    """Identity when shapes match, else a 1x1 projection + BN (ResNet option B)."""
    if stride == 1 and in_ch == out_ch:
        return nn.Identity()
    if avg_down and stride > 1:
        # ResNet-D: pool first so every input pixel reaches the 1x1 conv
        return nn.Sequential(
            nn.AvgPool2d(stride, stride, ceil_mode=True, count_include_pad=False),
            nn.Conv2d(in_ch, out_ch, 1, 1, bias=False), nn.BatchNorm2d(out_ch))
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch))


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_ch: int, planes: int, stride: int, avg_down: bool, drop: nn.Module):
        super().__init__()
        out_ch = planes * self.expansion
        self.conv1 = nn.Conv2d(in_ch, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, out_ch, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.act = nn.ReLU(inplace=True)
        self.shortcut = _shortcut(in_ch, out_ch, stride, avg_down)
        self.drop_path = drop

    @property
    def zero_init_target(self) -> nn.Module:
        # a property, not an attribute: assigning the module would register it twice and
        # duplicate its tensors in the state dict
        return self.bn2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = self.drop_path(out)
        out += self.shortcut(x)  # in place, as torchvision: one allocation less per block
        return self.act(out)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_ch: int, planes: int, stride: int, avg_down: bool, drop: nn.Module):
        super().__init__()
        out_ch = planes * self.expansion
        self.conv1 = nn.Conv2d(in_ch, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.act = nn.ReLU(inplace=True)
        self.shortcut = _shortcut(in_ch, out_ch, stride, avg_down)
        self.drop_path = drop

    @property
    def zero_init_target(self) -> nn.Module:
        return self.bn3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act(self.bn1(self.conv1(x)))
        out = self.act(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out = self.drop_path(out)
        out += self.shortcut(x)  # in place, as torchvision: one allocation less per block
        return self.act(out)


@dataclass(frozen=True)
class ResNetConfig:
    block: type[nn.Module]
    layers: tuple[int, int, int, int]
    stem: str = "cifar"
    maxpool: bool = False
    last_stride: int = 2
    avg_down: bool = False

    def __post_init__(self):
        if self.stem not in STEMS:
            raise ValueError(f"stem must be one of {STEMS}, got {self.stem!r}")
        if self.last_stride not in (1, 2):
            raise ValueError(f"last_stride must be 1 or 2, got {self.last_stride!r}")


class ResNet(ZooModel):
    """Four stages of 64/128/256/512 planes.  ``drop_layer`` builds the module that may drop a
    block's residual branch from its rate (per-sample DropPath here; the stochastic_depth family
    passes its per-batch gate)."""

    def __init__(self, cfg: ResNetConfig, num_classes: int = 10, drop_path_rate: float = 0.0,
                 zero_init_residual: bool = False, drop_layer: Callable[[float], nn.Module] = DropPath,
                 block_rates: list[float] | None = None):
        super().__init__()
        self.cfg = cfg
        if cfg.stem == "imagenet":
            stem = [nn.Conv2d(3, 64, 7, 2, 3, bias=False)]
        else:
            stem = [nn.Conv2d(3, 64, 3, 1, 1, bias=False)]
        stem += [nn.BatchNorm2d(64), nn.ReLU(inplace=True)]
        if cfg.maxpool:
            stem.append(nn.MaxPool2d(3, 2, 1))
        self.stem = nn.Sequential(*stem)

        n_blocks = sum(cfg.layers)
        rates = iter(block_rates if block_rates is not None else drop_path_rates(drop_path_rate, n_blocks))
        strides = (1, 2, 2, cfg.last_stride)
        stages, in_ch = [], 64
        for i, (n, stride) in enumerate(zip(cfg.layers, strides)):
            planes = 64 * 2 ** i
            blocks = []
            for j in range(n):
                blocks.append(cfg.block(in_ch, planes, stride if j == 0 else 1, cfg.avg_down, drop_layer(next(rates))))
                in_ch = planes * cfg.block.expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.num_features, self.num_classes = in_ch, num_classes
        self.fc = nn.Linear(in_ch, num_classes)
        init_weights(self)
        if zero_init_residual:
            zero_init_last_bn(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x))


def _build(block, layers, num_classes, drop_path_rate, zero_init_residual, stem, maxpool, last_stride, avg_down):
    cfg = ResNetConfig(block, layers, stem=stem, maxpool=maxpool, last_stride=last_stride, avg_down=avg_down)
    return ResNet(cfg, num_classes, drop_path_rate=drop_path_rate, zero_init_residual=zero_init_residual)


# ----------------------------------------------------------------------------- CIFAR ResNets
@register_model(family="resnet", source=SOURCE)
def resnet18(num_classes: int = 10, drop_path_rate: float = 0.0, zero_init_residual: bool = False,
             stem: str = "cifar", maxpool: bool = False, last_stride: int = 2, avg_down: bool = False):
    """ResNet-18 (basic blocks 2-2-2-2) with a 3x3 stride-1 stem and no max-pool, 11.2M params."""
    return _build(BasicBlock, (2, 2, 2, 2), num_classes, drop_path_rate, zero_init_residual,
                  stem, maxpool, last_stride, avg_down)


@register_model(family="resnet", source=SOURCE)
def resnet34(num_classes: int = 10, drop_path_rate: float = 0.0, zero_init_residual: bool = False,
             stem: str = "cifar", maxpool: bool = False, last_stride: int = 2, avg_down: bool = False):
    """ResNet-34 (basic blocks 3-4-6-3) with a 3x3 stride-1 stem and no max-pool, 21.3M params."""
    return _build(BasicBlock, (3, 4, 6, 3), num_classes, drop_path_rate, zero_init_residual,
                  stem, maxpool, last_stride, avg_down)


@register_model(family="resnet", source=SOURCE)
def resnet50(num_classes: int = 10, drop_path_rate: float = 0.0, zero_init_residual: bool = False,
             stem: str = "cifar", maxpool: bool = False, last_stride: int = 2, avg_down: bool = False):
    """ResNet-50 (bottlenecks 3-4-6-3) with a 3x3 stride-1 stem and no max-pool, 23.5M params."""
    return _build(Bottleneck, (3, 4, 6, 3), num_classes, drop_path_rate, zero_init_residual,
                  stem, maxpool, last_stride, avg_down)


@register_model(family="resnet", source=SOURCE)
def resnet101(num_classes: int = 10, drop_path_rate: float = 0.0, zero_init_residual: bool = False,
              stem: str = "cifar", maxpool: bool = False, last_stride: int = 2, avg_down: bool = False):
    """ResNet-101 (bottlenecks 3-4-23-3) with a 3x3 stride-1 stem and no max-pool, 42.5M params."""
    return _build(Bottleneck, (3, 4, 23, 3), num_classes, drop_path_rate, zero_init_residual,
                  stem, maxpool, last_stride, avg_down)


@register_model(family="resnet", source=SOURCE)
def resnet152(num_classes: int = 10, drop_path_rate: float = 0.0, zero_init_residual: bool = False,
              stem: str = "cifar", maxpool: bool = False, last_stride: int = 2, avg_down: bool = False):
    """ResNet-152 (bottlenecks 3-8-36-3) with a 3x3 stride-1 stem and no max-pool, 58.2M params."""
    return _build(Bottleneck, (3, 8, 36, 3), num_classes, drop_path_rate, zero_init_residual,
                  stem, maxpool, last_stride, avg_down)


# ----------------------------------------------------------------------------- ResNet-50 ladder
@register_model(family="resnet", source=LADDER_SOURCE)
def resnet50_t(num_classes: int = 10, drop_path_rate: float = 0.0, zero_init_residual: bool = False,
               stem: str = "imagenet", maxpool: bool = True, last_stride: int = 2, avg_down: bool = False):
    """ResNet-50-T: torchvision layout unchanged (7x7/2 stem + max-pool, 1x1 final map on CIFAR)."""
    return _build(Bottleneck, (3, 4, 6, 3), num_classes, drop_path_rate, zero_init_residual,
                  stem, maxpool, last_stride, avg_down)


@register_model(family="resnet", source=LADDER_SOURCE)
def resnet50_e1(num_classes: int = 10, drop_path_rate: float = 0.0, zero_init_residual: bool = False,
                stem: str = "cifar", maxpool: bool = True, last_stride: int = 2, avg_down: bool = False):
    """ResNet-50-E1: 3x3 stride-1 pad-1 stem, max-pool kept."""
    return _build(Bottleneck, (3, 4, 6, 3), num_classes, drop_path_rate, zero_init_residual,
                  stem, maxpool, last_stride, avg_down)


@register_model(family="resnet", source=LADDER_SOURCE)
def resnet50_e2(num_classes: int = 10, drop_path_rate: float = 0.0, zero_init_residual: bool = False,
                stem: str = "cifar", maxpool: bool = False, last_stride: int = 2, avg_down: bool = False):
    """ResNet-50-E2: E1 without the max-pool (same network as resnet50)."""
    return _build(Bottleneck, (3, 4, 6, 3), num_classes, drop_path_rate, zero_init_residual,
                  stem, maxpool, last_stride, avg_down)


@register_model(family="resnet", source=LADDER_SOURCE)
def resnet50_e3(num_classes: int = 10, drop_path_rate: float = 0.0, zero_init_residual: bool = False,
                stem: str = "cifar", maxpool: bool = False, last_stride: int = 1, avg_down: bool = False):
    """ResNet-50-E3: E2 with last-stage stride 1 (8x8 final feature map)."""
    return _build(Bottleneck, (3, 4, 6, 3), num_classes, drop_path_rate, zero_init_residual,
                  stem, maxpool, last_stride, avg_down)


@register_model(family="resnet", source=LADDER_SOURCE)
def resnet50_e5(num_classes: int = 10, drop_path_rate: float = 0.0, zero_init_residual: bool = False,
                stem: str = "cifar", maxpool: bool = False, last_stride: int = 1, avg_down: bool = True):
    """ResNet-50-E5: E3 with ResNet-D (avg-pool then 1x1 conv) downsampling shortcuts."""
    return _build(Bottleneck, (3, 4, 6, 3), num_classes, drop_path_rate, zero_init_residual,
                  stem, maxpool, last_stride, avg_down)
