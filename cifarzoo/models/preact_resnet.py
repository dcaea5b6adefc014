"""Pre-activation ResNets (He et al. 2016, "Identity Mappings in Deep Residual Networks",
arXiv:1603.05027): every residual unit is BN-ReLU-conv, the shortcut stays a clean identity, and
one BN-ReLU follows the last unit (the paper's "extra activation after the final addition").

* ``preact_resnet18/34``: the ImageNet widths 64-512 with a 3x3 stride-1 stem and no max-pool
  (kuangliu/pytorch-cifar layout).  kuangliu's PreActResNet omits the final BN-ReLU; we keep it
  as in the paper, so the counts are kuangliu's + 2*512 BN parameters.
* ``preact_resnet164``: the CIFAR bottleneck network of the paper (Table 3/4, depth 9n+2, n=18):
  16-channel stem, stages of bottleneck width 16/32/64 and output 64/128/256, ~1.7M params.

When a unit changes shape, the projection shortcut takes the pre-activated input (BN-ReLU is
shared by both paths), as in the authors' code: a projection of the raw sum would put an
un-normalised signal through a conv.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from cifarzoo.models._base import ZooModel
from cifarzoo.models._init_utils import zero_init_last_conv
from cifarzoo.models.layers import DropPath, init_weights, residual_stages
from cifarzoo.registry import register_model

SOURCE = "He et al. 2016, Identity Mappings in Deep Residual Networks (arXiv:1603.05027)"


class PreActBasic(nn.Module):
    """BN-ReLU-conv3x3-BN-ReLU-[dropout]-conv3x3-[SE]: the pre-activation basic block, shared with
    WRN (``drop_rate``: the dropout between the convs of Zagoruyko & Komodakis) and SENet
    (``se``: a gate that rescales the residual branch before the addition)."""
    expansion = 1

    def __init__(self, in_ch: int, planes: int, stride: int, drop_path: float, drop_rate: float = 0.0,
                 se: nn.Module | None = None):
        super().__init__()
        out_ch = planes * self.expansion
        self.bn1 = nn.BatchNorm2d(in_ch)
        self.conv1 = nn.Conv2d(in_ch, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, out_ch, 3, 1, 1, bias=False)
        self.act = nn.ReLU(inplace=True)
        self.drop_rate = drop_rate
        self.se = se if se is not None else nn.Identity()
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
        out = self.act(self.bn2(self.conv1(pre)))
        if self.drop_rate > 0:
            out = F.dropout(out, self.drop_rate, self.training)
        out = self.se(self.conv2(out))
        return shortcut + self.drop_path(out)


class PreActBottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_ch: int, planes: int, stride: int, drop_path: float):
        super().__init__()
        out_ch = planes * self.expansion
        self.bn1 = nn.BatchNorm2d(in_ch)
        self.conv1 = nn.Conv2d(in_ch, planes, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_ch, 1, bias=False)
        self.act = nn.ReLU(inplace=True)
        self.shortcut = (nn.Conv2d(in_ch, out_ch, 1, stride, bias=False)
                         if stride != 1 or in_ch != out_ch else None)
        self.drop_path = DropPath(drop_path)

    @property
    def zero_init_conv(self) -> nn.Module:
        return self.conv3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.act(self.bn1(x))
        shortcut = x if self.shortcut is None else self.shortcut(pre)
        out = self.conv1(pre)
        out = self.conv2(self.act(self.bn2(out)))
        out = self.conv3(self.act(self.bn3(out)))
        return shortcut + self.drop_path(out)


class PreActResNet(ZooModel):
    """``planes`` per stage, ``strides`` per stage; a final BN-ReLU before pooling."""

    def __init__(self, block: type[nn.Module], layers: tuple[int, ...], planes: tuple[int, ...],
                 stem_width: int, num_classes: int = 10, drop_path_rate: float = 0.0,
                 zero_init_residual: bool = False):
        super().__init__()
        self.stem = nn.Conv2d(3, stem_width, 3, 1, 1, bias=False)
        self.stages, in_ch = residual_stages(block, layers, planes, stem_width, drop_path_rate, block.expansion)
        self.final_bn = nn.BatchNorm2d(in_ch)
        self.final_act = nn.ReLU(inplace=True)
        self.num_features, self.num_classes = in_ch, num_classes
        self.fc = nn.Linear(in_ch, num_classes)
        init_weights(self)
        if zero_init_residual:
            zero_init_last_conv(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.final_act(self.final_bn(self.stages(self.stem(x))))


@register_model(family="preact_resnet", source=SOURCE)
def preact_resnet18(num_classes: int = 10, drop_path_rate: float = 0.0, zero_init_residual: bool = False):
    """Pre-activation ResNet-18 (widths 64-512, 3x3 stem, final BN-ReLU), 11.2M params."""
    return PreActResNet(PreActBasic, (2, 2, 2, 2), (64, 128, 256, 512), 64, num_classes,
                        drop_path_rate, zero_init_residual)


@register_model(family="preact_resnet", source=SOURCE)
def preact_resnet34(num_classes: int = 10, drop_path_rate: float = 0.0, zero_init_residual: bool = False):
    """Pre-activation ResNet-34 (widths 64-512, 3x3 stem, final BN-ReLU), 21.3M params."""
    return PreActResNet(PreActBasic, (3, 4, 6, 3), (64, 128, 256, 512), 64, num_classes,
                        drop_path_rate, zero_init_residual)


@register_model(family="preact_resnet", source=SOURCE)
def preact_resnet164(num_classes: int = 10, drop_path_rate: float = 0.0, zero_init_residual: bool = False):
    """Pre-activation ResNet-164 for CIFAR (bottlenecks, n=18, outputs 64/128/256), 1.7M params."""
    return PreActResNet(PreActBottleneck, (18, 18, 18), (16, 32, 64), 16, num_classes,
                        drop_path_rate, zero_init_residual)
