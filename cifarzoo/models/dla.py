"""Deep Layer Aggregation (Yu et al. 2018, arXiv:1707.06484) for 32x32 inputs, in the CIFAR form of
kuangliu/pytorch-cifar that document 004 trained (94.47 %, 16,291,386 parameters).

Three 3x3 conv-BN-ReLU layers (16, 16, 32 maps) at full resolution feed four hierarchical
aggregation trees of ResNet basic blocks (64, 128, 256, 512 maps on 32/16/8/4 pixels; levels
1, 2, 2, 1).  A level-1 tree is two chained blocks whose outputs a root (1x1 conv-BN-ReLU on their
concatenation) merges; a level-L tree first runs its subtrees of level L-1 .. 1 in a chain and
lets its root merge every subtree output with its own two blocks (iterative deep aggregation
inside hierarchical deep aggregation, Sec. 3).  The paper's level-root connection, which hands a
tree's input to its root, is a strided basic block here ("prev_root" in the document's code), so
the root of a level-L tree (L > 1) merges L + 2 inputs.  Stochastic depth drops the residual
branch of each basic block, with rates rising linearly over the 14 blocks.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from cifarzoo.models._pooled_head import PooledDropoutModel, check_rate
from cifarzoo.models.layers import DropPath, drop_path_rates, init_weights, zero_init_last_bn
from cifarzoo.registry import register_model

SOURCE = "Yu et al. 2018, Deep Layer Aggregation (arXiv:1707.06484); kuangliu/pytorch-cifar (document 004)"


@dataclass(frozen=True)
class DLAConfig:
    base_widths: tuple[int, ...] = (16, 16, 32)  # plain 3x3 conv layers before the trees
    tree_widths: tuple[int, ...] = (64, 128, 256, 512)
    tree_levels: tuple[int, ...] = (1, 2, 2, 1)
    tree_strides: tuple[int, ...] = (1, 2, 2, 2)

    def __post_init__(self):
        if not len(self.tree_widths) == len(self.tree_levels) == len(self.tree_strides):
            raise ValueError("DLAConfig: tree_widths, tree_levels and tree_strides must have the same length")
        if any(lv < 1 for lv in self.tree_levels):
            raise ValueError(f"DLAConfig: tree levels must be >= 1, got {self.tree_levels}")


def blocks_in_tree(level: int) -> int:
    """A level-L tree holds its subtrees of levels L-1..1, two blocks of its own and, for L > 1,
    the block on its level-root connection."""
    return 2 + (level > 1) + sum(blocks_in_tree(i) for i in range(1, level))


class BasicBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int, drop_path: float):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch))
        self.drop_path = DropPath(drop_path)

    @property
    def zero_init_target(self) -> nn.Module:
        # a property, not an attribute: assigning a module registers it twice (duplicate state-dict keys)
        return self.bn2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.bn2(self.conv2(out))
        return F.relu(self.shortcut(x) + self.drop_path(out), inplace=True)


class Root(nn.Module):
    """Aggregation node: 1x1 conv-BN-ReLU over the concatenated inputs."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 1, bias=False)
        self.bn = nn.BatchNorm2d(out_ch)

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        return F.relu(self.bn(self.conv(torch.cat(xs, 1))), inplace=True)


class Tree(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, level: int, stride: int, rates: list[float]):
        """``rates`` holds one drop-path rate per basic block of the tree, consumed in build order."""
        super().__init__()
        # level-root connection: the tree's input, brought to the output shape, goes to the root
        self.level_root = BasicBlock(in_ch, out_ch, stride, rates.pop(0)) if level > 1 else None
        # chain of subtrees of level L-1, ..., 1; only the first one sees the tree's input width
        self.subtrees = nn.ModuleList()
        ch = in_ch
        for i in reversed(range(1, level)):
            self.subtrees.append(Tree(ch, out_ch, i, stride, rates))
            ch, stride = out_ch, 1
        self.left = BasicBlock(ch, out_ch, stride, rates.pop(0))
        self.right = BasicBlock(out_ch, out_ch, 1, rates.pop(0))
        self.root = Root((level + 1 + (level > 1)) * out_ch, out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xs = [] if self.level_root is None else [self.level_root(x)]
        for sub in self.subtrees:
            x = sub(x)
            xs.append(x)
        x = self.left(x)
        xs.append(x)
        xs.append(self.right(x))
        return self.root(xs)


class DLA(PooledDropoutModel):
    def __init__(self, cfg: DLAConfig = DLAConfig(), num_classes: int = 10, drop_path_rate: float = 0.0,
                 zero_init_residual: bool = False, drop_rate: float = 0.0):
        super().__init__()
        layers: list[nn.Module] = []
        ch = 3
        for w in cfg.base_widths:
            layers += [nn.Conv2d(ch, w, 3, 1, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
            ch = w
        self.base = nn.Sequential(*layers)
        rates = drop_path_rates(drop_path_rate, sum(blocks_in_tree(lv) for lv in cfg.tree_levels))
        trees = []
        for w, lv, s in zip(cfg.tree_widths, cfg.tree_levels, cfg.tree_strides):
            trees.append(Tree(ch, w, lv, s, rates))
            ch = w
        self.trees = nn.Sequential(*trees)
        self.drop_rate = check_rate("drop_rate", drop_rate)
        self.num_features, self.num_classes = ch, num_classes
        self.fc = nn.Linear(ch, num_classes)
        init_weights(self)
        if zero_init_residual:
            zero_init_last_bn(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.trees(self.base(x))


@register_model(family="dla", source=SOURCE)
def dla(num_classes: int = 10, drop_path_rate: float = 0.0, zero_init_residual: bool = False,
        drop_rate: float = 0.0):
    """DLA for CIFAR: trees of levels 1-2-2-1 on 64-128-256-512 maps (16,291,386 params)."""
    return DLA(DLAConfig(), num_classes, drop_path_rate, zero_init_residual, drop_rate)
