"""NASNet-A 6@768 for CIFAR-10 (Zoph et al. 2018, arXiv:1707.07012, Table 1: 3.3M params).

Layout of the paper's CIFAR model (as in the reference TF-slim code): a 3x3 stem of 96 channels
(stem multiplier 3 x 32 filters), three stacks of N=6 normal cells with F = 32/64/128 filters,
a reduction cell (stride 2, filters doubled) between stacks, then ReLU, global pooling and the
classifier; the last normal cell outputs 6F = 768 channels ("6@768").  The auxiliary head used in
training is not part of this model.

Every cell takes the two previous cell outputs: the current one ``h`` (ReLU -> 1x1 -> BN to F) and
the one before ``h_prev`` (brought to F channels by ReLU -> 1x1 -> BN, or by a factorized stride-2
reduction when it has twice the resolution).  Ops: "sepKxK" = two stacked ReLU -> depthwise KxK ->
pointwise 1x1 -> BN (the first carries the stride); 3x3 avg/max pooling; identity.
Normal cell (Fig. 4 left), outputs concatenated with h_prev:
  sep5(h) + sep3(h_prev),  sep5(h_prev) + sep3(h_prev),  avg3(h) + h_prev,
  avg3(h_prev) + avg3(h_prev),  sep3(h) + h
Reduction cell (Fig. 4 right), stride 2 on the cell inputs, outputs c1..c4 concatenated:
  c0 = sep5(h) + sep7(h_prev),  c1 = max3(h) + sep7(h_prev),  c2 = avg3(h) + sep5(h_prev),
  c3 = c1 + avg3(c0),  c4 = sep3(c0) + max3(h)
Stochastic depth (the paper's ScheduledDropPath, without the time schedule) drops each non-identity
op of a cell, with a rate rising linearly over the 20 cells.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from cifarzoo.models._base import ZooModel
from cifarzoo.models.layers import DropPath, drop_path_rates, init_weights
from cifarzoo.registry import register_model

SOURCE = "Zoph et al. 2018, Learning Transferable Architectures (arXiv:1707.07012), NASNet-A 6@768 CIFAR-10"


@dataclass(frozen=True)
class NASNetConfig:
    cells_per_stack: int = 6  # N
    filters: int = 32  # F of the first stack (penultimate width 6 * 4F = 768)
    stem_multiplier: int = 3


def _conv_bn(in_ch: int, out_ch: int, relu_first: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.ReLU()] if relu_first else []
    return nn.Sequential(*layers, nn.Conv2d(in_ch, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch))


class SepStack(nn.Sequential):
    """Two ReLU -> depthwise kxk -> pointwise 1x1 -> BN layers; the first one strides."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int):
        p = kernel // 2
        super().__init__(
            nn.ReLU(), nn.Conv2d(in_ch, in_ch, kernel, stride, p, groups=in_ch, bias=False),
            nn.Conv2d(in_ch, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch),
            nn.ReLU(), nn.Conv2d(out_ch, out_ch, kernel, 1, p, groups=out_ch, bias=False),
            nn.Conv2d(out_ch, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch))


class Pool(nn.Module):
    """3x3 pooling ('same' padding, padding excluded from averages); 1x1 + BN when widths differ."""

    def __init__(self, kind: str, in_ch: int, out_ch: int, stride: int):
        super().__init__()
        self.pool = (nn.AvgPool2d(3, stride, 1, count_include_pad=False) if kind == "avg"
                     else nn.MaxPool2d(3, stride, 1))
        self.proj = _conv_bn(in_ch, out_ch, relu_first=False) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.pool(x))


class FactorizedReduce(nn.Module):
    """Halve the resolution without losing half the pixels: two 1x1 convs on the even and the
    one-pixel-shifted odd grid, concatenated, then BN (stride 1: a plain 1x1 conv + BN)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int):
        super().__init__()
        self.stride = stride
        if stride == 1:
            self.conv = nn.Conv2d(in_ch, out_ch, 1, bias=False)
        else:
            self.path1 = nn.Conv2d(in_ch, out_ch // 2, 1, bias=False)
            self.path2 = nn.Conv2d(in_ch, out_ch - out_ch // 2, 1, bias=False)
        self.bn = nn.BatchNorm2d(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return self.bn(self.conv(x))
        s = self.stride
        shifted = F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.bn(torch.cat((self.path1(x[:, :, ::s, ::s]), self.path2(shifted[:, :, ::s, ::s])), 1))


def _op(name: str, in_ch: int, out_ch: int, stride: int) -> nn.Module:
    if name.startswith("sep"):
        return SepStack(in_ch, out_ch, int(name[3:]), stride)
    if name in ("avg", "max"):
        return Pool(name, in_ch, out_ch, stride)
    if name == "id":
        if stride == 1 and in_ch == out_ch:
            return nn.Identity()
        return nn.Sequential(nn.ReLU(), nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch))
    raise ValueError(f"unknown NASNet op {name!r}")


class Cell(nn.Module):
    """A NASNet cell given as (left op, left input, right op, right input) per combination; inputs
    0 = h, 1 = h_prev, 2.. = earlier combinations.  ``concat`` lists the states concatenated."""

    NORMAL = (("sep5", 0, "sep3", 1), ("sep5", 1, "sep3", 1), ("avg", 0, "id", 1), ("avg", 1, "avg", 1),
              ("sep3", 0, "id", 0))
    NORMAL_CONCAT = (1, 2, 3, 4, 5, 6)
    REDUCTION = (("sep5", 0, "sep7", 1), ("max", 0, "sep7", 1), ("avg", 0, "sep5", 1), ("id", 3, "avg", 2),
                 ("sep3", 2, "max", 0))
    REDUCTION_CONCAT = (3, 4, 5, 6)

    def __init__(self, reduction: bool, ch: int, prev_ch: int, filters: int, prev_is_larger: bool,
                 prev_is_raw: bool, drop_path: float):
        super().__init__()
        stride = 2 if reduction else 1
        self.cur_in = _conv_bn(ch, filters, relu_first=True)
        # h_prev: the stem itself for the first cell (used raw, as the reference code does)
        if prev_is_raw:
            self.prev_in, prev_width = nn.Identity(), prev_ch
        elif prev_is_larger:
            self.prev_in, prev_width = nn.Sequential(nn.ReLU(), FactorizedReduce(prev_ch, filters, 2)), filters
        elif prev_ch != filters:
            self.prev_in, prev_width = _conv_bn(prev_ch, filters, relu_first=True), filters
        else:
            self.prev_in, prev_width = nn.Identity(), filters
        spec, self.concat = (self.REDUCTION, self.REDUCTION_CONCAT) if reduction else (self.NORMAL, self.NORMAL_CONCAT)
        widths = [filters, prev_width]
        self.spec = tuple((li, ri) for _, li, _, ri in spec)
        ops, drop = [], []
        for lname, li, rname, ri in spec:
            for name, i in ((lname, li), (rname, ri)):
                ops.append(_op(name, widths[i], filters, stride if i < 2 else 1))
                drop.append(name != "id")
            widths.append(filters)
        self.ops = nn.ModuleList(ops)
        self.drops = nn.ModuleList(DropPath(drop_path) if d else nn.Identity() for d in drop)
        # concatenated states must share width: a raw h_prev (stem) gets a 1x1 conv + BN
        self.fix = nn.ModuleDict({str(i): FactorizedReduce(widths[i], filters, 1)
                                  for i in self.concat if widths[i] != filters})
        self.out_channels = filters * len(self.concat)

    def forward(self, x: torch.Tensor, x_prev: torch.Tensor) -> torch.Tensor:
        states = [self.cur_in(x), self.prev_in(x_prev)]
        for k, (li, ri) in enumerate(self.spec):
            left = self.drops[2 * k](self.ops[2 * k](states[li]))
            right = self.drops[2 * k + 1](self.ops[2 * k + 1](states[ri]))
            states.append(left + right)
        return torch.cat([self.fix[str(i)](states[i]) if str(i) in self.fix else states[i] for i in self.concat], 1)


class NASNetA(ZooModel):
    classifier_attr = "fc"

    def __init__(self, cfg: NASNetConfig, num_classes: int = 10, drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0):
        super().__init__()
        n, f = cfg.cells_per_stack, cfg.filters
        stem = cfg.stem_multiplier * f
        self.stem = nn.Sequential(nn.Conv2d(3, stem, 3, 1, 1, bias=False), nn.BatchNorm2d(stem))
        rates = iter(drop_path_rates(drop_path_rate, 3 * n + 2))
        # (channels, resolution level) of the last two outputs, to wire each cell's inputs
        outs = [(stem, 0), (stem, 0)]
        cells, filters, level = [], f, 0
        for i in range(3 * n):
            if i > 0 and i % n == 0:  # reduction before stacks 2 and 3 (reference: cells 6 and 12)
                filters *= 2
                cell = Cell(True, outs[-1][0], outs[-2][0], filters, outs[-2][1] < level, False, next(rates))
                level += 1
                cells.append(cell)
                outs.append((cell.out_channels, level))
            cell = Cell(False, outs[-1][0], outs[-2][0], filters, outs[-2][1] < level, i == 0, next(rates))
            cells.append(cell)
            outs.append((cell.out_channels, level))
        self.cells = nn.ModuleList(cells)
        self.num_features, self.num_classes = outs[-1][0], num_classes
        self.drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(self.num_features, num_classes)
        init_weights(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        prev = cur = self.stem(x)
        for cell in self.cells:
            prev, cur = cur, cell(cur, prev)
        return F.relu(cur)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = x.mean((2, 3))
        return x if pre_logits else self.fc(self.drop(x))


@register_model(family="nasnet", source=SOURCE)
def nasnet_a(num_classes: int = 10, drop_rate: float = 0.0, drop_path_rate: float = 0.0):
    """NASNet-A 6@768 for CIFAR-10: 96-channel stem, 3x6 normal + 2 reduction cells (3.3M params)."""
    return NASNetA(NASNetConfig(), num_classes, drop_rate, drop_path_rate)
