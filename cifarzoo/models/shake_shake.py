"""Shake-Shake ResNets (Gastaldi 2017, "Shake-Shake regularization", arXiv:1705.07485).

Shake-ResNet-26 2xCd: a 3x3 conv to 16 channels + BN, three stages of 4 blocks of widths
C/2C/4C (strides 1, 2, 2; 3 x 4 x 2 convs + stem + classifier = 26 layers), final ReLU, global
pooling, classifier.  Each block has two residual branches ReLU-conv3x3-BN-ReLU-conv3x3-BN mixed
as alpha*b1 + (1-alpha)*b2.  "Shake-Shake-Image" (the paper's best CIFAR-10 setting): alpha is
drawn per image in the forward pass and an independent beta per image replaces it in the
backward pass (a custom autograd.Function); at test time both are 0.5, so eval is
deterministic and exports to ONNX as a plain average.

Downsampling shortcut (paper Sec. 2.2, from the author's code): ReLU, then two paths of
1x1 subsampling + 1x1 conv to half the channels, the second path shifted by one pixel,
concatenated, then BN.  Paper params (Table 1): 2x32d 2.9M, 2x64d 11.7M, 2x96d 26.2M.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from cifarzoo.models._base import ZooModel
from cifarzoo.models.layers import DropPath, init_weights, residual_stages
from cifarzoo.registry import register_model

SOURCE = "Gastaldi 2017, Shake-Shake regularization (arXiv:1705.07485), Shake-Shake-Image 26 2xCd"


class ShakeShake(torch.autograd.Function):
    """alpha*x1 + (1-alpha)*x2 forward; the gradient is split with an independent beta."""

    @staticmethod
    def forward(ctx, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        shape = (x1.shape[0],) + (1,) * (x1.ndim - 1)  # one coefficient per image
        alpha = torch.rand(shape, device=x1.device, dtype=x1.dtype)
        ctx.beta_shape = shape
        return x2 + alpha * (x1 - x2)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        beta = torch.rand(ctx.beta_shape, device=grad.device, dtype=grad.dtype)
        return beta * grad, (1 - beta) * grad


def shake_shake(x1: torch.Tensor, x2: torch.Tensor, training: bool) -> torch.Tensor:
    if training:
        return ShakeShake.apply(x1, x2)
    return 0.5 * (x1 + x2)  # expected value of the forward coefficient


def _branch(in_ch: int, out_ch: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.ReLU(inplace=False),  # must not overwrite the block input, which the shortcut reads
        nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False), nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True),
        nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False), nn.BatchNorm2d(out_ch))


class ShiftedPairShortcut(nn.Module):
    """Parameter-light projection: two half-width 1x1 convs on the subsampled input, one of them
    on the input shifted by a pixel so together they see every position."""

    def __init__(self, in_ch: int, out_ch: int, stride: int):
        super().__init__()
        if out_ch % 2:
            raise ValueError(f"shake-shake shortcut needs an even width, got {out_ch}")
        self.stride = stride
        self.conv1 = nn.Conv2d(in_ch, out_ch // 2, 1, bias=False)
        self.conv2 = nn.Conv2d(in_ch, out_ch // 2, 1, bias=False)
        self.bn = nn.BatchNorm2d(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(x)
        s = self.stride
        a = self.conv1(x[:, :, ::s, ::s])
        shifted = F.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))
        b = self.conv2(shifted[:, :, ::s, ::s])
        return self.bn(torch.cat([a, b], dim=1))


class ShakeBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int, drop_path: float):
        super().__init__()
        self.branch1 = _branch(in_ch, out_ch, stride)
        self.branch2 = _branch(in_ch, out_ch, stride)
        self.shortcut = (ShiftedPairShortcut(in_ch, out_ch, stride)
                         if stride != 1 or in_ch != out_ch else nn.Identity())
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mixed = shake_shake(self.branch1(x), self.branch2(x), self.training)
        return self.shortcut(x) + self.drop_path(mixed)


class ShakeResNet(ZooModel):
    def __init__(self, depth: int, base_width: int, num_classes: int = 10, drop_path_rate: float = 0.0,
                 zero_init_residual: bool = False):
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"Shake-ResNet depth must be 6n+2, got {depth}")
        n = (depth - 2) // 6
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16))
        widths = [base_width * 2 ** i for i in range(3)]
        self.stages, in_ch = residual_stages(ShakeBlock, (n, n, n), widths, 16, drop_path_rate)
        self.final_act = nn.ReLU(inplace=True)
        self.num_features, self.num_classes = in_ch, num_classes
        self.fc = nn.Linear(in_ch, num_classes)
        init_weights(self)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, ShakeBlock):
                    nn.init.zeros_(m.branch1[-1].weight)
                    nn.init.zeros_(m.branch2[-1].weight)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.final_act(self.stages(self.stem(x)))


@register_model(family="shake_shake", source=SOURCE)
def shake_resnet26_2x32d(num_classes: int = 10, drop_path_rate: float = 0.0, zero_init_residual: bool = False):
    """Shake-Shake-Image ResNet-26 2x32d (widths 32/64/128), 2.9M params."""
    return ShakeResNet(26, 32, num_classes, drop_path_rate, zero_init_residual)


@register_model(family="shake_shake", source=SOURCE)
def shake_resnet26_2x64d(num_classes: int = 10, drop_path_rate: float = 0.0, zero_init_residual: bool = False):
    """Shake-Shake-Image ResNet-26 2x64d (widths 64/128/256), 11.7M params."""
    return ShakeResNet(26, 64, num_classes, drop_path_rate, zero_init_residual)


@register_model(family="shake_shake", source=SOURCE)
def shake_resnet26_2x96d(num_classes: int = 10, drop_path_rate: float = 0.0, zero_init_residual: bool = False):
    """Shake-Shake-Image ResNet-26 2x96d (widths 96/192/384), 26.2M params."""
    return ShakeResNet(26, 96, num_classes, drop_path_rate, zero_init_residual)
