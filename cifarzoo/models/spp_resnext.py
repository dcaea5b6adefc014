"""SPP-ResNeXt: the spatial-pyramid attention study of document 001 (section 3.10), after
pprp/PyTorch-CIFAR-Model-Hub (lib/models/spp_depth/spp_resnet.py + poolings.py).

Backbone: CIFAR ResNeXt (Xie et al. 2017) with cardinality 16 and base width 8, depth 9n+2 for
n = 1, 2, 3 bottlenecks per stage (depth 11/20/29), a 3x3 stem of 64 channels and stage outputs
256/512/1024 (32 -> 16 -> 8).  Bottleneck: 1x1 reduce -> 3x3 grouped conv -> 1x1 expand, 1x1
projection shortcut where the width changes.

Variant letters name the spatial-pyramid-pooling module (YOLOv5-style SPP: 1x1 conv to half the
width, concatenation with stride-1 max-pools of kernel k, 1x1 conv back; conv + BN + SiLU each)
that the source applies to every bottleneck's residual branch before the addition:
N = none, A = k (3,), B = (5,), C = (7,), D = (3, 5, 7).

Parameter counts: document 001's "weight:M" column is checkpoint size in MB (7.36 / 13.4 / 19.4,
identical for N..D at each depth).  Those sizes equal the pN networks (1.91M / 3.49M / 5.07M fp32
parameters plus BN buffers): the source's spp_d*_p[A-D] factories pass ``spp=False``, so the
published A-D checkpoints are the plain network.  Here A-D really carry the SPP module their names
describe, which adds 1.5x to 2.5x width^2 parameters per bottleneck.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from cifarzoo.models._base import ZooModel
from cifarzoo.models.layers import DropPath, init_weights, residual_stages, zero_init_last_bn
from cifarzoo.registry import register_model

SOURCE = ("Document 001 sec. 3.10 (SPP attention on ResNeXt, cardinality 16, base width 8), layout of "
          "pprp/PyTorch-CIFAR-Model-Hub spp_depth/spp_resnet.py")

KERNELS = {"n": (), "a": (3,), "b": (5,), "c": (7,), "d": (3, 5, 7)}


@dataclass(frozen=True)
class SPPResNeXtConfig:
    depth: int
    kernels: tuple[int, ...] = ()
    cardinality: int = 16
    base_width: int = 8
    stem: int = 64
    widths: tuple[int, int, int] = (256, 512, 1024)

    @property
    def blocks_per_stage(self) -> int:
        if (self.depth - 2) % 9 or self.depth < 11:
            raise ValueError(f"SPP-ResNeXt depth must be 9n+2 with n >= 1 (11, 20, 29, ...), got {self.depth}")
        return (self.depth - 2) // 9


class ConvBNSiLU(nn.Sequential):
    def __init__(self, in_ch: int, out_ch: int):
        super().__init__(nn.Conv2d(in_ch, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch), nn.SiLU(inplace=True))


class SPP(nn.Module):
    """Spatial pyramid pooling (He et al. 2015, in the YOLOv5 form): halve the width, concatenate
    the map with stride-1 max-pools of each kernel (context at several scales, same size), fuse
    back with a 1x1 conv."""

    def __init__(self, channels: int, kernels: tuple[int, ...]):
        super().__init__()
        if any(k % 2 == 0 or k < 1 for k in kernels):
            raise ValueError(f"SPP kernels must be odd and positive, got {kernels}")
        hidden = channels // 2
        self.kernels = tuple(kernels)
        self.reduce = ConvBNSiLU(channels, hidden)
        self.fuse = ConvBNSiLU(hidden * (len(kernels) + 1), channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.reduce(x)
        return self.fuse(torch.cat([x] + [F.max_pool2d(x, k, 1, k // 2) for k in self.kernels], 1))


class Bottleneck(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int, cardinality: int, base_width: int,
                 kernels: tuple[int, ...], drop_path: float):
        super().__init__()
        # ResNeXt template: group width scales with the stage (output / 256 x base width)
        d = cardinality * int(base_width * out_ch / 256)
        self.reduce = nn.Sequential(nn.Conv2d(in_ch, d, 1, bias=False), nn.BatchNorm2d(d), nn.ReLU(inplace=True))
        self.grouped = nn.Sequential(nn.Conv2d(d, d, 3, stride, 1, groups=cardinality, bias=False),
                                     nn.BatchNorm2d(d), nn.ReLU(inplace=True))
        self.expand = nn.Sequential(nn.Conv2d(d, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch))
        self.spp = SPP(out_ch, kernels) if kernels else nn.Identity()
        self.shortcut = (nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch))
                         if in_ch != out_ch or stride != 1 else nn.Identity())
        self.drop_path = DropPath(drop_path)

    @property
    def zero_init_target(self) -> nn.Module:
        # a property, not an attribute: assigning a module registers it twice (duplicate state-dict keys)
        return self.spp.fuse[1] if isinstance(self.spp, SPP) else self.expand[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.spp(self.expand(self.grouped(self.reduce(x))))
        return F.relu(self.shortcut(x) + self.drop_path(out), inplace=True)


class SPPResNeXt(ZooModel):
    classifier_attr = "fc"

    def __init__(self, cfg: SPPResNeXtConfig, num_classes: int = 10, drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0, zero_init_residual: bool = False):
        super().__init__()
        n = cfg.blocks_per_stage
        self.stem = nn.Sequential(nn.Conv2d(3, cfg.stem, 3, 1, 1, bias=False), nn.BatchNorm2d(cfg.stem),
                                  nn.ReLU(inplace=True))
        self.stages, ch = residual_stages(
            lambda c_in, width, stride, dp: Bottleneck(c_in, width, stride, cfg.cardinality, cfg.base_width,
                                                       cfg.kernels, dp),
            (n,) * len(cfg.widths), cfg.widths, cfg.stem, drop_path_rate)
        self.num_features, self.num_classes = ch, num_classes
        self.drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(ch, num_classes)
        init_weights(self)
        if zero_init_residual:
            zero_init_last_bn(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = x.mean((2, 3))
        return x if pre_logits else self.fc(self.drop(x))


def _build(depth: int, variant: str, num_classes: int, drop_rate: float, drop_path_rate: float,
           zero_init_residual: bool) -> SPPResNeXt:
    return SPPResNeXt(SPPResNeXtConfig(depth, KERNELS[variant]), num_classes, drop_rate, drop_path_rate,
                      zero_init_residual)


# One factory per (depth, variant): the registry needs a named function for each architecture.
@register_model(family="spp_resnext", source=SOURCE)
def spp_d11_pn(num_classes: int = 10, drop_rate: float = 0.0, drop_path_rate: float = 0.0,
               zero_init_residual: bool = False):
    """SPP-ResNeXt depth 11 (16x8d), no SPP module (1.91M params)."""
    return _build(11, "n", num_classes, drop_rate, drop_path_rate, zero_init_residual)


@register_model(family="spp_resnext", source=SOURCE)
def spp_d11_pa(num_classes: int = 10, drop_rate: float = 0.0, drop_path_rate: float = 0.0,
               zero_init_residual: bool = False):
    """SPP-ResNeXt depth 11 (16x8d), SPP max-pool kernel 3 in every bottleneck."""
    return _build(11, "a", num_classes, drop_rate, drop_path_rate, zero_init_residual)


@register_model(family="spp_resnext", source=SOURCE)
def spp_d11_pb(num_classes: int = 10, drop_rate: float = 0.0, drop_path_rate: float = 0.0,
               zero_init_residual: bool = False):
    """SPP-ResNeXt depth 11 (16x8d), SPP max-pool kernel 5 in every bottleneck."""
    return _build(11, "b", num_classes, drop_rate, drop_path_rate, zero_init_residual)


@register_model(family="spp_resnext", source=SOURCE)
def spp_d11_pc(num_classes: int = 10, drop_rate: float = 0.0, drop_path_rate: float = 0.0,
               zero_init_residual: bool = False):
    """SPP-ResNeXt depth 11 (16x8d), SPP max-pool kernel 7 in every bottleneck."""
    return _build(11, "c", num_classes, drop_rate, drop_path_rate, zero_init_residual)


@register_model(family="spp_resnext", source=SOURCE)
def spp_d11_pd(num_classes: int = 10, drop_rate: float = 0.0, drop_path_rate: float = 0.0,
               zero_init_residual: bool = False):
    """SPP-ResNeXt depth 11 (16x8d), SPP max-pool kernels 3/5/7 in every bottleneck."""
    return _build(11, "d", num_classes, drop_rate, drop_path_rate, zero_init_residual)


@register_model(family="spp_resnext", source=SOURCE)
def spp_d20_pn(num_classes: int = 10, drop_rate: float = 0.0, drop_path_rate: float = 0.0,
               zero_init_residual: bool = False):
    """SPP-ResNeXt depth 20 (16x8d), no SPP module (3.49M params)."""
    return _build(20, "n", num_classes, drop_rate, drop_path_rate, zero_init_residual)


@register_model(family="spp_resnext", source=SOURCE)
def spp_d20_pa(num_classes: int = 10, drop_rate: float = 0.0, drop_path_rate: float = 0.0,
               zero_init_residual: bool = False):
    """SPP-ResNeXt depth 20 (16x8d), SPP max-pool kernel 3 in every bottleneck."""
    return _build(20, "a", num_classes, drop_rate, drop_path_rate, zero_init_residual)


@register_model(family="spp_resnext", source=SOURCE)
def spp_d20_pb(num_classes: int = 10, drop_rate: float = 0.0, drop_path_rate: float = 0.0,
               zero_init_residual: bool = False):
    """SPP-ResNeXt depth 20 (16x8d), SPP max-pool kernel 5 in every bottleneck."""
    return _build(20, "b", num_classes, drop_rate, drop_path_rate, zero_init_residual)


@register_model(family="spp_resnext", source=SOURCE)
def spp_d20_pc(num_classes: int = 10, drop_rate: float = 0.0, drop_path_rate: float = 0.0,
               zero_init_residual: bool = False):
    """SPP-ResNeXt depth 20 (16x8d), SPP max-pool kernel 7 in every bottleneck."""
    return _build(20, "c", num_classes, drop_rate, drop_path_rate, zero_init_residual)


@register_model(family="spp_resnext", source=SOURCE)
def spp_d20_pd(num_classes: int = 10, drop_rate: float = 0.0, drop_path_rate: float = 0.0,
               zero_init_residual: bool = False):
    """SPP-ResNeXt depth 20 (16x8d), SPP max-pool kernels 3/5/7 in every bottleneck."""
    return _build(20, "d", num_classes, drop_rate, drop_path_rate, zero_init_residual)


@register_model(family="spp_resnext", source=SOURCE)
def spp_d29_pn(num_classes: int = 10, drop_rate: float = 0.0, drop_path_rate: float = 0.0,
               zero_init_residual: bool = False):
    """SPP-ResNeXt depth 29 (16x8d), no SPP module (5.07M params)."""
    return _build(29, "n", num_classes, drop_rate, drop_path_rate, zero_init_residual)


@register_model(family="spp_resnext", source=SOURCE)
def spp_d29_pa(num_classes: int = 10, drop_rate: float = 0.0, drop_path_rate: float = 0.0,
               zero_init_residual: bool = False):
    """SPP-ResNeXt depth 29 (16x8d), SPP max-pool kernel 3 in every bottleneck."""
    return _build(29, "a", num_classes, drop_rate, drop_path_rate, zero_init_residual)


@register_model(family="spp_resnext", source=SOURCE)
def spp_d29_pb(num_classes: int = 10, drop_rate: float = 0.0, drop_path_rate: float = 0.0,
               zero_init_residual: bool = False):
    """SPP-ResNeXt depth 29 (16x8d), SPP max-pool kernel 5 in every bottleneck."""
    return _build(29, "b", num_classes, drop_rate, drop_path_rate, zero_init_residual)


@register_model(family="spp_resnext", source=SOURCE)
def spp_d29_pc(num_classes: int = 10, drop_rate: float = 0.0, drop_path_rate: float = 0.0,
               zero_init_residual: bool = False):
    """SPP-ResNeXt depth 29 (16x8d), SPP max-pool kernel 7 in every bottleneck."""
    return _build(29, "c", num_classes, drop_rate, drop_path_rate, zero_init_residual)


@register_model(family="spp_resnext", source=SOURCE)
def spp_d29_pd(num_classes: int = 10, drop_rate: float = 0.0, drop_path_rate: float = 0.0,
               zero_init_residual: bool = False):
    """SPP-ResNeXt depth 29 (16x8d), SPP max-pool kernels 3/5/7 in every bottleneck."""
    return _build(29, "d", num_classes, drop_rate, drop_path_rate, zero_init_residual)
