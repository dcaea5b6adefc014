"""ResNeXt-29 body shared by the resnext and ge_resnext families (Xie et al. 2017,
arXiv:1611.05431, CIFAR section): a 3x3 conv to 64 channels, three stages of three
aggregated-transformation bottlenecks (1x1 -> grouped 3x3 -> 1x1, form (c) of the paper's
Fig. 3), 1x1 conv + BN projection shortcuts where the shape changes, global pooling.

Two width layouts exist for the same name (``LAYOUTS``, see ``resnext29_layout``):

* ``"paper"``: outputs fixed at 256/512/1024, grouped width C*d*2^i (paper Table 7: 8x64d is
  34.4M, 16x64d 68.1M; also the layout of CIFAR-ZOO and of the GE paper's ResNeXt-29);
* ``"kuangliu"``: output 2*C*d*2^i (bottleneck expansion 2) and a 1x1 stem conv, as in
  kuangliu/pytorch-cifar whose ResNeXt29_2x64d document 004 trained (9,128,778 params).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn

from cifarzoo.models._base import ZooModel
from cifarzoo.models.layers import DropPath, drop_path_rates, init_weights, zero_init_last_bn

LAYOUTS = ("kuangliu", "paper")


def resnext29_layout(cardinality: int, width: int, layout: str) -> tuple[tuple[int, ...], tuple[int, ...], int]:
    """(grouped widths, stage outputs, stem kernel) of ResNeXt-29 Cxd in ``layout``."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    if cardinality < 1 or width < 1:
        raise ValueError(f"cardinality and width must be >= 1, got {cardinality}x{width}d")
    inner = tuple(cardinality * width * 2 ** i for i in range(3))
    if layout == "paper":
        return inner, (256, 512, 1024), 3
    # kuangliu's stem is a 1x1 conv (a quirk of that code, kept so the count matches doc 004)
    return inner, tuple(2 * w for w in inner), 1


# gate_factory(channels, spatial_size) -> module applied to the residual branch before the add
GateFactory = Callable[[int, int], nn.Module]


class ResNeXtBottleneck(nn.Module):
    def __init__(self, in_ch: int, inner: int, out_ch: int, cardinality: int, stride: int,
                 drop_path: float, gate: nn.Module | None = None):
        super().__init__()
        if inner % cardinality:
            raise ValueError(f"grouped width {inner} is not divisible by cardinality {cardinality}")
        self.conv1 = nn.Conv2d(in_ch, inner, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(inner)
        self.conv2 = nn.Conv2d(inner, inner, 3, stride, 1, groups=cardinality, bias=False)
        self.bn2 = nn.BatchNorm2d(inner)
        self.conv3 = nn.Conv2d(inner, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.act = nn.ReLU(inplace=True)
        self.gate = gate if gate is not None else nn.Identity()
        self.shortcut = (nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch))
                         if stride != 1 or in_ch != out_ch else nn.Identity())
        self.drop_path = DropPath(drop_path)

    @property
    def zero_init_target(self) -> nn.Module:
        # a property, not an attribute: assigning the module would register it twice and
        # duplicate its tensors in the state dict
        return self.bn3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act(self.bn1(self.conv1(x)))
        out = self.act(self.bn2(self.conv2(out)))
        out = self.gate(self.bn3(self.conv3(out)))
        out = self.drop_path(out)
        out += self.shortcut(x)  # in place, as torchvision: one allocation less per block
        return self.act(out)


class ResNeXt29(ZooModel):
    def __init__(self, cardinality: int, inner: tuple[int, int, int], outer: tuple[int, int, int],
                 num_classes: int = 10, drop_path_rate: float = 0.0, zero_init_residual: bool = False,
                 gate_factory: GateFactory | None = None, blocks_per_stage: int = 3, image_size: int = 32,
                 stem_kernel: int = 3):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, stem_kernel, 1, stem_kernel // 2, bias=False),
                                  nn.BatchNorm2d(64), nn.ReLU(inplace=True))
        rates = iter(drop_path_rates(drop_path_rate, 3 * blocks_per_stage))
        stages, in_ch, size = [], 64, image_size
        for i, (w, o) in enumerate(zip(inner, outer)):
            stride = 1 if i == 0 else 2
            size //= stride
            blocks = []
            for j in range(blocks_per_stage):
                gate = gate_factory(o, size) if gate_factory is not None else None
                blocks.append(ResNeXtBottleneck(in_ch, w, o, cardinality, stride if j == 0 else 1, next(rates), gate))
                in_ch = o
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.num_features, self.num_classes = in_ch, num_classes
        self.fc = nn.Linear(in_ch, num_classes)
        init_weights(self)
        if zero_init_residual:
            zero_init_last_bn(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x))
