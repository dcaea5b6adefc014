"""CIFAR ResNets of He et al. 2016 (arXiv:1512.03385, Sec. 4.2): 6n+2 layers, three stages of
16/32/64 channels on 32x32/16x16/8x8 maps, basic blocks, parameter-free "option A" shortcuts
(stride-2 subsampling plus zero channel padding), as in the paper's CIFAR experiments."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from cifarzoo.models._base import ZooModel
from cifarzoo.models.layers import DropPath, init_weights, residual_stages, zero_init_last_bn
from cifarzoo.registry import register_model

SOURCE = "He et al. 2016, Deep Residual Learning (arXiv:1512.03385), CIFAR-10 section"


class PadShortcut(nn.Module):
    """Option A: subsample spatially and zero-pad the new channels (no parameters)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int):
        super().__init__()
        self.stride, self.pad = stride, out_ch - in_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))


class BasicBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int, drop_path: float):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.shortcut = PadShortcut(in_ch, out_ch, stride) if stride != 1 or in_ch != out_ch else nn.Identity()
        self.drop_path = DropPath(drop_path)

    @property
    def zero_init_target(self) -> nn.Module:
        # a property, not an attribute: assigning a module registers it twice (duplicate state-dict keys)
        return self.bn2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.bn2(self.conv2(out))
        return F.relu(self.shortcut(x) + self.drop_path(out), inplace=True)


class CifarResNet(ZooModel):
    def __init__(self, depth: int, num_classes: int = 10, widths=(16, 32, 64), drop_path_rate: float = 0.0,
                 zero_init_residual: bool = False):
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"CIFAR ResNet depth must be 6n+2, got {depth}")
        n = (depth - 2) // 6
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]),
                                  nn.ReLU(inplace=True))
        self.stages, in_ch = residual_stages(BasicBlock, (n,) * len(widths), widths, widths[0], drop_path_rate)
        self.num_features, self.num_classes = in_ch, num_classes
        self.fc = nn.Linear(in_ch, num_classes)
        init_weights(self)
        if zero_init_residual:
            zero_init_last_bn(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x))



@register_model(family="resnet_cifar", source=SOURCE)
def resnet20(num_classes: int = 10, drop_path_rate: float = 0.0, zero_init_residual: bool = False):
    """ResNet-20 for CIFAR (n=3, 0.27M params)."""
    return CifarResNet(20, num_classes, drop_path_rate=drop_path_rate, zero_init_residual=zero_init_residual)


@register_model(family="resnet_cifar", source=SOURCE)
def resnet32(num_classes: int = 10, drop_path_rate: float = 0.0, zero_init_residual: bool = False):
    """ResNet-32 for CIFAR (n=5, 0.46M params)."""
    return CifarResNet(32, num_classes, drop_path_rate=drop_path_rate, zero_init_residual=zero_init_residual)


@register_model(family="resnet_cifar", source=SOURCE)
def resnet44(num_classes: int = 10, drop_path_rate: float = 0.0, zero_init_residual: bool = False):
    """ResNet-44 for CIFAR (n=7, 0.66M params)."""
    return CifarResNet(44, num_classes, drop_path_rate=drop_path_rate, zero_init_residual=zero_init_residual)


@register_model(family="resnet_cifar", source=SOURCE)
def resnet56(num_classes: int = 10, drop_path_rate: float = 0.0, zero_init_residual: bool = False):
    """ResNet-56 for CIFAR (n=9, 0.85M params)."""
    return CifarResNet(56, num_classes, drop_path_rate=drop_path_rate, zero_init_residual=zero_init_residual)


@register_model(family="resnet_cifar", source=SOURCE)
def resnet110(num_classes: int = 10, drop_path_rate: float = 0.0, zero_init_residual: bool = False):
    """ResNet-110 for CIFAR (n=18, 1.7M params)."""
    return CifarResNet(110, num_classes, drop_path_rate=drop_path_rate, zero_init_residual=zero_init_residual)
