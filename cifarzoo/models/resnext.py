"""ResNeXt-29 for CIFAR (Xie et al. 2017, arXiv:1611.05431), by default in the layout of
kuangliu/pytorch-cifar, which document 004 trained (its ResNeXt-29 2x64d: 9,128,778 params).

kuangliu layout: stage i (i = 0, 1, 2) has grouped width C*d*2^i and output 2*C*d*2^i
(bottleneck expansion 2), and the stem is a 1x1 conv.  The paper's CIFAR ResNeXt-29 fixes the
outputs at 256/512/1024 (3x3 stem), so its wide-cardinality models are much smaller:
8x64d 34.4M and 16x64d 68.1M in the paper against 89.6M and 320.8M here.  ``layout="paper"``
builds the paper's network (exactly 34,426,698 / 68,155,210 params at 10 classes).
"""
from __future__ import annotations

from cifarzoo.models._resnext_blocks import ResNeXt29, resnext29_layout
from cifarzoo.registry import register_model

SOURCE = "Xie et al. 2017 (arXiv:1611.05431), kuangliu/pytorch-cifar ResNeXt29 layout (seed doc 004)"


def _build(cardinality: int, width: int, num_classes: int, drop_path_rate: float, zero_init_residual: bool,
           layout: str):
    inner, outer, stem_kernel = resnext29_layout(cardinality, width, layout)
    return ResNeXt29(cardinality, inner, outer, num_classes, drop_path_rate=drop_path_rate,
                     zero_init_residual=zero_init_residual, stem_kernel=stem_kernel)


@register_model(family="resnext", source=SOURCE)
def resnext29_2x64d(num_classes: int = 10, drop_path_rate: float = 0.0, zero_init_residual: bool = False,
                    layout: str = "kuangliu"):
    """ResNeXt-29 2x64d (cardinality 2, width 64), 9.13M params as in document 004."""
    return _build(2, 64, num_classes, drop_path_rate, zero_init_residual, layout)


@register_model(family="resnext", source=SOURCE)
def resnext29_4x64d(num_classes: int = 10, drop_path_rate: float = 0.0, zero_init_residual: bool = False,
                    layout: str = "kuangliu"):
    """ResNeXt-29 4x64d (cardinality 4, width 64), 27.1M params in the kuangliu layout."""
    return _build(4, 64, num_classes, drop_path_rate, zero_init_residual, layout)


@register_model(family="resnext", source=SOURCE)
def resnext29_8x64d(num_classes: int = 10, drop_path_rate: float = 0.0, zero_init_residual: bool = False,
                    layout: str = "kuangliu"):
    """ResNeXt-29 8x64d (cardinality 8, width 64), 89.6M params kuangliu layout / 34.4M paper layout."""
    return _build(8, 64, num_classes, drop_path_rate, zero_init_residual, layout)


@register_model(family="resnext", source=SOURCE)
def resnext29_16x64d(num_classes: int = 10, drop_path_rate: float = 0.0, zero_init_residual: bool = False,
                     layout: str = "kuangliu"):
    """ResNeXt-29 16x64d (cardinality 16, width 64), 320.8M params kuangliu layout / 68.1M paper layout."""
    return _build(16, 64, num_classes, drop_path_rate, zero_init_residual, layout)


@register_model(family="resnext", source=SOURCE)
def resnext29_32x4d(num_classes: int = 10, drop_path_rate: float = 0.0, zero_init_residual: bool = False,
                    layout: str = "kuangliu"):
    """ResNeXt-29 32x4d (cardinality 32, width 4), 4.8M params in the kuangliu layout."""
    return _build(32, 4, num_classes, drop_path_rate, zero_init_residual, layout)
