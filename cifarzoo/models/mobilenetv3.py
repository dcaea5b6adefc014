"""MobileNetV3 Large/Small (Howard et al. 2019, arXiv:1905.02244) for CIFAR, in the layout whose counts
document 004 prints (Large 3,884,328, Small 1,843,272 at 10 classes): that of
leaderj1001/MobileNetV3-Pytorch, with Small carrying the paper's SE on its last 576-channel conv.

Paper Tables 1/2 bodies (bneck = 1x1 expand -> kxk depthwise -> optional SE -> linear 1x1 project,
ReLU or h-swish, identity skip when stride 1 and width unchanged), then 1x1 conv to 960 (576) +
h-swish, global pooling, a 1280-unit fully connected layer + h-swish (the paper's non-BN 1x1 conv
on the pooled vector) and the classifier.  SE: FC to a quarter width, ReLU, FC back, h-sigmoid.
CIFAR change: the stem runs at stride 1 (32x32 inputs reach the head at 2x2).

Layout details the documented counts depend on: every convolution except the expansion 1x1 keeps
a bias even where BatchNorm follows (BN cancels it, so it is inert, but it is counted), SE layers
are biased linears with width exp // 4, and there are no projection shortcuts.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from cifarzoo.models._base import ZooModel
from cifarzoo.models.layers import DropPath, drop_path_rates, init_weights, zero_init_last_bn
from cifarzoo.registry import register_model

SOURCE = ("Howard et al. 2019, Searching for MobileNetV3 (arXiv:1905.02244); CIFAR layout of "
          "leaderj1001/MobileNetV3-Pytorch (document 004 counts)")

# (kernel, expansion width, output width, SE, h-swish, stride): paper Table 1 (Large), Table 2 (Small)
LARGE = ((3, 16, 16, False, False, 1), (3, 64, 24, False, False, 2), (3, 72, 24, False, False, 1),
         (5, 72, 40, True, False, 2), (5, 120, 40, True, False, 1), (5, 120, 40, True, False, 1),
         (3, 240, 80, False, True, 2), (3, 200, 80, False, True, 1), (3, 184, 80, False, True, 1),
         (3, 184, 80, False, True, 1), (3, 480, 112, True, True, 1), (3, 672, 112, True, True, 1),
         (5, 672, 160, True, True, 2), (5, 672, 160, True, True, 1), (5, 960, 160, True, True, 1))
SMALL = ((3, 16, 16, True, False, 2), (3, 72, 24, False, False, 2), (3, 88, 24, False, False, 1),
         (5, 96, 40, True, True, 2), (5, 240, 40, True, True, 1), (5, 240, 40, True, True, 1),
         (5, 120, 48, True, True, 1), (5, 144, 48, True, True, 1), (5, 288, 96, True, True, 2),
         (5, 576, 96, True, True, 1), (5, 576, 96, True, True, 1))


@dataclass(frozen=True)
class MobileNetV3Config:
    blocks: tuple[tuple[int, int, int, bool, bool, int], ...]
    last_conv: int  # 960 (Large) / 576 (Small)
    last_conv_se: bool  # Small: SE on the last conv (paper Table 2)
    hidden: int = 1280
    stem: int = 16


class SqueezeExciteFC(nn.Module):
    """SE with fully connected layers on the pooled vector and an h-sigmoid gate (paper Sec. 5.3)."""

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(channels, channels // reduction), nn.ReLU(inplace=True),
                                nn.Linear(channels // reduction, channels), nn.Hardsigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.fc(x.mean((2, 3)))[:, :, None, None]


class Bneck(nn.Module):
    def __init__(self, in_ch: int, kernel: int, exp: int, out_ch: int, se: bool, hswish: bool, stride: int,
                 drop_path: float):
        super().__init__()
        act = nn.Hardswish if hswish else nn.ReLU
        self.expand = nn.Sequential(nn.Conv2d(in_ch, exp, 1, bias=False), nn.BatchNorm2d(exp), act(inplace=True))
        self.dw = nn.Sequential(nn.Conv2d(exp, exp, kernel, stride, kernel // 2, groups=exp), nn.BatchNorm2d(exp),
                                act(inplace=True))
        self.se = SqueezeExciteFC(exp) if se else nn.Identity()
        self.project = nn.Sequential(nn.Conv2d(exp, out_ch, 1), nn.BatchNorm2d(out_ch))
        self.has_skip = stride == 1 and in_ch == out_ch
        self.drop_path = DropPath(drop_path) if self.has_skip else nn.Identity()

    @property
    def zero_init_target(self) -> nn.Module:
        # a property, not an attribute: assigning a module registers it twice (duplicate state-dict keys)
        return self.project[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.se(self.dw(self.expand(x))))
        return x + self.drop_path(out) if self.has_skip else out


class MobileNetV3(ZooModel):
    classifier_attr = "fc"

    def __init__(self, cfg: MobileNetV3Config, num_classes: int = 10, drop_rate: float = 0.2,
                 drop_path_rate: float = 0.0, zero_init_residual: bool = False):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, cfg.stem, 3, 1, 1), nn.BatchNorm2d(cfg.stem), nn.Hardswish(inplace=True))
        rates = iter(drop_path_rates(drop_path_rate, len(cfg.blocks)))
        blocks, ch = [], cfg.stem
        for k, exp, out, se, hs, s in cfg.blocks:
            blocks.append(Bneck(ch, k, exp, out, se, hs, s, next(rates)))
            ch = out
        self.blocks = nn.Sequential(*blocks)
        self.head_conv = nn.Sequential(nn.Conv2d(ch, cfg.last_conv, 1), nn.BatchNorm2d(cfg.last_conv),
                                       nn.Hardswish(inplace=True),
                                       SqueezeExciteFC(cfg.last_conv) if cfg.last_conv_se else nn.Identity())
        # the paper's 1x1 conv on the 1x1 pooled map, written as the equivalent linear layer
        self.pre_logits = nn.Sequential(nn.Linear(cfg.last_conv, cfg.hidden), nn.Hardswish(inplace=True))
        self.num_features, self.num_classes = cfg.hidden, num_classes
        self.drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(cfg.hidden, num_classes)
        init_weights(self)
        if zero_init_residual:
            zero_init_last_bn(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.head_conv(self.blocks(self.stem(x)))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.pre_logits(x.mean((2, 3)))
        return x if pre_logits else self.fc(self.drop(x))


@register_model(family="mobilenetv3", source=SOURCE)
def mobilenetv3_large(num_classes: int = 10, drop_rate: float = 0.2, drop_path_rate: float = 0.0,
                      zero_init_residual: bool = False):
    """MobileNetV3-Large for CIFAR (stride-1 stem; 3.88M params as in document 004)."""
    return MobileNetV3(MobileNetV3Config(LARGE, 960, False), num_classes, drop_rate, drop_path_rate,
                       zero_init_residual)


@register_model(family="mobilenetv3", source=SOURCE)
def mobilenetv3_small(num_classes: int = 10, drop_rate: float = 0.2, drop_path_rate: float = 0.0,
                      zero_init_residual: bool = False):
    """MobileNetV3-Small for CIFAR (stride-1 stem, SE on the last conv; 1.84M params as in document 004)."""
    return MobileNetV3(MobileNetV3Config(SMALL, 576, True), num_classes, drop_rate, drop_path_rate,
                       zero_init_residual)
