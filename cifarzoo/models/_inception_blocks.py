"""Modules of Inception-v3 (Szegedy et al. 2016, arXiv:1512.00567) and Inception-v4 /
Inception-ResNet-v2 (Szegedy et al. 2017, arXiv:1602.07261), with the filter counts of the papers'
figures.  Every conv is conv (no bias) + BN + ReLU, as in the papers' released models.

The grid-reduction modules keep the papers' unpadded ("V") stride-2 convs and pools; the
Inception-v4 stem is given in its 32x32 form (see ``V4Stem``).
Private helper of cifarzoo/models/inception.py.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from cifarzoo.models.layers import DropPath

Kernel = int | tuple[int, int]


class ConvBN(nn.Sequential):
    """Conv (no bias) + BN + ReLU; ``padding='same'`` keeps the size at stride 1."""

    def __init__(self, in_ch: int, out_ch: int, kernel: Kernel, stride: int = 1, padding: str = "same"):
        kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
        pad = (kh // 2, kw // 2) if padding == "same" else (0, 0)
        super().__init__(nn.Conv2d(in_ch, out_ch, (kh, kw), stride, pad, bias=False), nn.BatchNorm2d(out_ch),
                         nn.ReLU(inplace=True))
        self.out_channels = out_ch


def chain(in_ch: int, *layers: tuple) -> nn.Sequential:
    """ConvBN layers from (out_ch, kernel[, stride[, padding]]) tuples, each feeding the next."""
    mods = []
    for spec in layers:
        mods.append(ConvBN(in_ch, *spec))
        in_ch = spec[0]
    return nn.Sequential(*mods)


class Branches(nn.Module):
    """Runs parallel branches on the same input and concatenates their outputs."""

    def __init__(self, *branches: nn.Module):
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([b(x) for b in self.branches], 1)


class SplitTail(nn.Module):
    """A trunk whose output feeds a 1x3 and a 3x1 conv in parallel (the "expanded filter bank" of
    Inception-v3 Fig. 7 and Inception-v4 Fig. 6), concatenated."""

    def __init__(self, trunk: nn.Module, trunk_ch: int, out_ch: int):
        super().__init__()
        self.trunk = trunk
        self.a = ConvBN(trunk_ch, out_ch, (1, 3))
        self.b = ConvBN(trunk_ch, out_ch, (3, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.trunk(x)
        return torch.cat([self.a(t), self.b(t)], 1)


def avg_pool_proj(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(nn.AvgPool2d(3, 1, 1, count_include_pad=False), ConvBN(in_ch, out_ch, 1))


# ----------------------------------------------------------------------------------- Inception-v3
def v3_module_a(in_ch: int, pool_proj: int) -> Branches:
    """Fig. 5 (35x35 grid): 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avgpool-1x1.  Out 224 + pool_proj."""
    return Branches(ConvBN(in_ch, 64, 1), chain(in_ch, (48, 1), (64, 5)), chain(in_ch, (64, 1), (96, 3), (96, 3)),
                    avg_pool_proj(in_ch, pool_proj))


def v3_reduction_a(in_ch: int) -> Branches:
    """Fig. 10 grid reduction 35 -> 17: 3x3/2 | 1x1-3x3-3x3/2 | maxpool/2.  Out in_ch + 480."""
    return Branches(ConvBN(in_ch, 384, 3, 2, "valid"), chain(in_ch, (64, 1), (96, 3), (96, 3, 2, "valid")),
                    nn.MaxPool2d(3, 2))


def v3_module_b(in_ch: int, c7: int) -> Branches:
    """Fig. 6 (17x17 grid), n = 7 factorised into 1x7 and 7x1.  Out 768."""
    return Branches(ConvBN(in_ch, 192, 1), chain(in_ch, (c7, 1), (c7, (1, 7)), (192, (7, 1))),
                    chain(in_ch, (c7, 1), (c7, (7, 1)), (c7, (1, 7)), (c7, (7, 1)), (192, (1, 7))),
                    avg_pool_proj(in_ch, 192))


def v3_reduction_b(in_ch: int) -> Branches:
    """Grid reduction 17 -> 8: 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | maxpool/2.  Out in_ch + 512."""
    return Branches(chain(in_ch, (192, 1), (320, 3, 2, "valid")),
                    chain(in_ch, (192, 1), (192, (1, 7)), (192, (7, 1)), (192, 3, 2, "valid")),
                    nn.MaxPool2d(3, 2))


def v3_module_c(in_ch: int) -> Branches:
    """Fig. 7 (8x8 grid, expanded filter banks).  Out 2048."""
    return Branches(ConvBN(in_ch, 320, 1), SplitTail(ConvBN(in_ch, 384, 1), 384, 384),
                    SplitTail(chain(in_ch, (448, 1), (384, 3)), 384, 384), avg_pool_proj(in_ch, 192))


# ----------------------------------------------------------------------------- Inception-v4 / -ResNet
class V4Stem(nn.Module):
    """Fig. 3 stem (shared by Inception-v4 and Inception-ResNet-v2) for 32x32 inputs, out 384 maps.

    The paper's three stride-2 steps (first conv, first pool/conv pair, last conv/pool pair) run at
    stride 1 with 'same' padding, and only the first conv stays unpadded, so a 32x32 image leaves
    as 30x30 (the ImageNet stem would shrink it to 3x3).  Filter counts are unchanged."""

    def __init__(self):
        super().__init__()
        self.convs = chain(3, (32, 3, 1, "valid"), (32, 3), (64, 3))
        self.mixed1 = Branches(nn.MaxPool2d(3, 1, 1), ConvBN(64, 96, 3))
        self.mixed2 = Branches(chain(160, (64, 1), (96, 3)), chain(160, (64, 1), (64, (7, 1)), (64, (1, 7)), (96, 3)))
        self.mixed3 = Branches(ConvBN(192, 192, 3), nn.MaxPool2d(3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mixed3(self.mixed2(self.mixed1(self.convs(x))))


def v4_module_a(in_ch: int) -> Branches:
    """Fig. 4 (35x35 grid).  Out 384."""
    return Branches(avg_pool_proj(in_ch, 96), ConvBN(in_ch, 96, 1), chain(in_ch, (64, 1), (96, 3)),
                    chain(in_ch, (64, 1), (96, 3), (96, 3)))


def v4_reduction_a(in_ch: int, k: int, l: int, m: int, n: int) -> Branches:
    """Fig. 7 (35 -> 17) with Table 1's k, l, m, n.  Out in_ch + n + m."""
    return Branches(nn.MaxPool2d(3, 2), ConvBN(in_ch, n, 3, 2, "valid"),
                    chain(in_ch, (k, 1), (l, 3), (m, 3, 2, "valid")))


def v4_module_b(in_ch: int) -> Branches:
    """Fig. 5 (17x17 grid).  Out 1024."""
    return Branches(avg_pool_proj(in_ch, 128), ConvBN(in_ch, 384, 1),
                    chain(in_ch, (192, 1), (224, (1, 7)), (256, (7, 1))),
                    chain(in_ch, (192, 1), (192, (1, 7)), (224, (7, 1)), (224, (1, 7)), (256, (7, 1))))


def v4_reduction_b(in_ch: int) -> Branches:
    """Fig. 8 (17 -> 8).  Out in_ch + 512."""
    return Branches(nn.MaxPool2d(3, 2), chain(in_ch, (192, 1), (192, 3, 2, "valid")),
                    chain(in_ch, (256, 1), (256, (1, 7)), (320, (7, 1)), (320, 3, 2, "valid")))


def v4_module_c(in_ch: int) -> Branches:
    """Fig. 6 (8x8 grid).  Out 1536."""
    return Branches(avg_pool_proj(in_ch, 256), ConvBN(in_ch, 256, 1), SplitTail(ConvBN(in_ch, 384, 1), 384, 256),
                    SplitTail(chain(in_ch, (384, 1), (448, (1, 3)), (512, (3, 1))), 512, 256))


class ResidualInception(nn.Module):
    """Inception-ResNet block (Figs. 16, 17, 19): branches, concatenation, a linear 1x1 conv (bias,
    no BN: "batch-normalization only on top of the traditional layers") back to the trunk width,
    scaled by ``scale`` (Sec. 3.3), added to the identity, then ReLU."""

    def __init__(self, branches: Branches, branch_ch: int, ch: int, scale: float, drop_path: float):
        super().__init__()
        self.branches = branches
        self.up = nn.Conv2d(branch_ch, ch, 1, bias=True)
        self.scale = scale
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.drop_path(self.up(self.branches(x)) * self.scale))


def ir_block_a(ch: int, scale: float, drop_path: float) -> ResidualInception:
    """Fig. 16 (35x35): 1x1 32 | 1x1 32-3x3 32 | 1x1 32-3x3 48-3x3 64 -> 128 -> 1x1 to ``ch``."""
    b = Branches(ConvBN(ch, 32, 1), chain(ch, (32, 1), (32, 3)), chain(ch, (32, 1), (48, 3), (64, 3)))
    return ResidualInception(b, 128, ch, scale, drop_path)


def ir_block_b(ch: int, scale: float, drop_path: float) -> ResidualInception:
    """Fig. 17 (17x17): 1x1 192 | 1x1 128-1x7 160-7x1 192 -> 384 -> 1x1 to ``ch``."""
    b = Branches(ConvBN(ch, 192, 1), chain(ch, (128, 1), (160, (1, 7)), (192, (7, 1))))
    return ResidualInception(b, 384, ch, scale, drop_path)


def ir_block_c(ch: int, scale: float, drop_path: float) -> ResidualInception:
    """Fig. 19 (8x8): 1x1 192 | 1x1 192-1x3 224-3x1 256 -> 448 -> 1x1 to ``ch``."""
    b = Branches(ConvBN(ch, 192, 1), chain(ch, (192, 1), (224, (1, 3)), (256, (3, 1))))
    return ResidualInception(b, 448, ch, scale, drop_path)


def ir_reduction_b(in_ch: int) -> Branches:
    """Fig. 18 (17 -> 8).  Out in_ch + 384 + 288 + 320."""
    return Branches(nn.MaxPool2d(3, 2), chain(in_ch, (256, 1), (384, 3, 2, "valid")),
                    chain(in_ch, (256, 1), (288, 3, 2, "valid")),
                    chain(in_ch, (256, 1), (288, 3), (320, 3, 2, "valid")))
