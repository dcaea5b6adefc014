"""Gather-Excite ResNeXt-29 (Hu et al. 2018, "Gather-Excite: Exploiting Feature Context in
Convolutional Neural Networks", arXiv:1810.12348) as trained in the CIFAR-tricks document (001).

Variant: GE-θ+ with global extent, the one of that document's source code (pprp's model hub,
itself from BIGBALLON/CIFAR-ZOO's genet.py, which reports ge_resnext29_16x64d at 70.0M):

* gather: a depthwise conv whose kernel covers the whole feature map (32/16/8 on CIFAR), no
  padding, then BN -> one value per channel (a learned, per-channel weighted global pool);
* excite: 1x1 conv C -> C/16, ReLU, 1x1 conv C/16 -> C (no biases), sigmoid, and the residual
  branch is rescaled channel-wise before the addition (placement as in SE).

The body is the paper-layout ResNeXt-29 8x64d (outputs 256/512/1024, grouped widths
512/1024/2048, 3x3 stem: 34.4M params), which both that code and the GE paper use; GE adds
1.9M.  Because the gather kernel equals the map size, the network only accepts 32x32 inputs.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from cifarzoo.models._resnext_blocks import ResNeXt29, resnext29_layout
from cifarzoo.registry import register_model

SOURCE = "Hu et al. 2018 Gather-Excite (arXiv:1810.12348), GE-theta-plus global extent as in CIFAR-ZOO genet"


class GatherExcite(nn.Module):
    """GE-θ+ with global extent on a ``size`` x ``size`` map of ``channels`` channels."""

    def __init__(self, channels: int, size: int, reduction: int = 16):
        super().__init__()
        self.size = size
        self.gather = nn.Sequential(nn.Conv2d(channels, channels, size, groups=channels, bias=False),
                                    nn.BatchNorm2d(channels))
        self.excite = nn.Sequential(nn.Conv2d(channels, channels // reduction, 1, bias=False), nn.ReLU(inplace=True),
                                    nn.Conv2d(channels // reduction, channels, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # the 1x1 context broadcasts over the map (the "interpolate" of GE at global extent)
        return x * torch.sigmoid(self.excite(self.gather(x)))

    def extra_repr(self) -> str:
        return f"extent=global ({self.size}x{self.size})"


class GEResNeXt29(ResNeXt29):
    image_size = 32

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        # shapes are constants of an exported graph, so the check only runs eagerly
        if not torch.jit.is_tracing() and tuple(x.shape[-2:]) != (self.image_size, self.image_size):
            raise ValueError(f"GE-ResNeXt gathers over whole {self.image_size}x{self.image_size} maps; "
                             f"got input of spatial size {tuple(x.shape[-2:])}: resize the images to 32x32")
        return super().forward_features(x)


@register_model(family="ge_resnext", source=SOURCE)
def ge_resnext29_8x64d(num_classes: int = 10, drop_path_rate: float = 0.0, zero_init_residual: bool = False):
    """GE-θ+ (global extent) ResNeXt-29 8x64d in the paper layout, 36.3M params."""
    inner, outer, stem_kernel = resnext29_layout(8, 64, "paper")
    return GEResNeXt29(8, inner, outer, num_classes, drop_path_rate=drop_path_rate,
                       zero_init_residual=zero_init_residual, gate_factory=GatherExcite,
                       image_size=GEResNeXt29.image_size, stem_kernel=stem_kernel)
