"""Swin Transformer (Liu et al. 2021, arXiv:2103.14030) for 32x32 inputs.

A patch embedding, four stages of pre-norm blocks that attend inside non-overlapping windows
(every second block shifts the windows by half a window with a cyclic roll and masks pairs of
tokens that the roll brought together from different image regions), patch merging (2x2
neighbours concatenated, LayerNorm, linear 4C -> 2C) between stages, a final LayerNorm,
average pooling over tokens and a linear classifier.  Each window attention adds a learned
relative position bias (one table of (2M-1)^2 entries per head); bias and shift mask are
passed together as the float ``attn_mask`` of ``scaled_dot_product_attention``.

Swin-T/S sizes (paper Sec. 3.3): C = 96, depths (2,2,6,2) / (2,2,18,2), heads (3,6,12,24),
MLP ratio 4.

32x32 adaptation: the paper uses 4x4 patches and 7x7 windows on 224x224 (56 -> 28 -> 14 -> 7
tokens per side).  Here patches are 2x2 and windows 4x4, so the stages see 16x16 -> 8x8 ->
4x4 -> 2x2 tokens.  As in the paper's code, a window never exceeds the map: in stage 3 the
4x4 window covers the whole 4x4 map and in stage 4 it is clipped to 2x2; there is then
nothing to shift, so those stages use plain (unshifted) window attention.
Parameter counts at 10 classes: 27.5M (Swin-T) and 48.8M (Swin-S), against the paper's
28M / 50M at ImageNet; at 1000 classes the official 28,288,354 / 49,606,258 are reproduced
exactly once the smaller patch embedding and bias tables are accounted for (see the tests).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from cifarzoo.models._base import ZooModel
from cifarzoo.models._transformer import (Mlp, RelativePositionBias, check_drop_rate, check_input_size, check_heads,
                                          init_transformer, merge_heads, split_heads)
from cifarzoo.models.layers import DropPath, drop_path_rates
from cifarzoo.registry import register_model

SOURCE = "Liu et al. 2021, Swin Transformer (arXiv:2103.14030); patch 2, window 4 for 32x32"
IMG = 32


@dataclass(frozen=True)
class SwinConfig:
    depths: tuple[int, ...]
    heads: tuple[int, ...]
    embed_dim: int = 96
    patch_size: int = 2   # paper: 4
    window: int = 4       # paper: 7
    mlp_ratio: int = 4


CONFIGS = {
    "t": SwinConfig((2, 2, 6, 2), (3, 6, 12, 24)),
    "s": SwinConfig((2, 2, 18, 2), (3, 6, 12, 24)),
}


def window_partition(x: torch.Tensor, ws: int) -> torch.Tensor:
    """(B, H, W, C) -> (B * nW, ws*ws, C), windows in row-major order within each image."""
    b, h, w, c = x.shape
    x = x.reshape(b, h // ws, ws, w // ws, ws, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, ws * ws, c)


def window_merge(x: torch.Tensor, ws: int, b: int, h: int, w: int) -> torch.Tensor:
    """Inverse of :func:`window_partition`."""
    c = x.shape[-1]
    x = x.reshape(b, h // ws, w // ws, ws, ws, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h, w, c)


def shifted_window_mask(size: int, ws: int, shift: int) -> torch.Tensor:
    """(nW, N, N) additive mask: -inf where two tokens of a window came from different regions
    of the image before the cyclic shift, 0 elsewhere."""
    region = torch.zeros(1, size, size, 1)
    bounds = (slice(0, -ws), slice(-ws, -shift), slice(-shift, None))
    label = 0
    for hs in bounds:
        for wsl in bounds:
            region[:, hs, wsl, :] = label
            label += 1
    ids = window_partition(region, ws).squeeze(-1)                    # (nW, N)
    same = ids[:, :, None] == ids[:, None, :]
    return torch.zeros(same.shape).masked_fill(~same, float("-inf"))


class WindowAttention(nn.Module):
    def __init__(self, dim: int, heads: int, ws: int, size: int, shift: int):
        super().__init__()
        check_heads(dim, heads, "Swin")
        self.heads, self.ws, self.shift = heads, ws, shift
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.rel_bias = RelativePositionBias(heads, ws, ws)
        if shift:
            self.register_buffer("mask", shifted_window_mask(size, ws, shift).unsqueeze(1), persistent=False)
        else:
            self.mask = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, H, W, C) -> (B, H, W, C)."""
        b, h, w, _ = x.shape
        if self.shift:
            x = torch.roll(x, (-self.shift, -self.shift), dims=(1, 2))
        win = window_partition(x, self.ws)                                  # (B*nW, N, C)
        q, k, v = (split_heads(t, self.heads) for t in self.qkv(win).chunk(3, dim=-1))
        bias = self.rel_bias().unsqueeze(0)                                 # (1, heads, N, N)
        if self.mask is not None:
            bias = (bias + self.mask).repeat(b, 1, 1, 1)                    # (B*nW, heads, N, N)
        out = self.proj(merge_heads(F.scaled_dot_product_attention(q, k, v, attn_mask=bias)))
        x = window_merge(out, self.ws, b, h, w)
        if self.shift:
            x = torch.roll(x, (self.shift, self.shift), dims=(1, 2))
        return x


class SwinBlock(nn.Module):
    def __init__(self, dim: int, heads: int, size: int, window: int, shifted: bool, mlp_ratio: int,
                 drop_path: float):
        super().__init__()
        ws = min(window, size)  # a window never exceeds the map
        shift = ws // 2 if (shifted and size > window) else 0
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, heads, ws, size, shift)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, mlp_ratio * dim)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class PatchMerging(nn.Module):
    """2x2 neighbouring tokens -> one token: concat (4C), LayerNorm, linear to 2C."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], dim=-1)
        return self.reduction(self.norm(x))


class Swin(ZooModel):
    classifier_attr = "head"

    def __init__(self, cfg: SwinConfig, num_classes: int = 10, drop_path_rate: float = 0.0,
                 drop_rate: float = 0.0):
        super().__init__()
        check_drop_rate(drop_rate)
        if IMG % cfg.patch_size:
            raise ValueError(f"patch_size {cfg.patch_size} must divide the {IMG}x{IMG} input")
        size = IMG // cfg.patch_size
        n_stages = len(cfg.depths)
        if size % (2 ** (n_stages - 1)) or size >> (n_stages - 1) < 1:
            raise ValueError(f"{size}x{size} tokens cannot be halved {n_stages - 1} times")
        self.patch_embed = nn.Conv2d(3, cfg.embed_dim, cfg.patch_size, cfg.patch_size)
        self.embed_norm = nn.LayerNorm(cfg.embed_dim)
        rates = iter(drop_path_rates(drop_path_rate, sum(cfg.depths)))
        layers, dim = [], cfg.embed_dim
        for i, (depth, heads) in enumerate(zip(cfg.depths, cfg.heads)):
            ws = min(cfg.window, size)
            if size % ws:
                raise ValueError(f"stage {i + 1}: window {ws} does not tile the {size}x{size} token map")
            for j in range(depth):
                layers.append(SwinBlock(dim, heads, size, cfg.window, j % 2 == 1, cfg.mlp_ratio, next(rates)))
            if i < n_stages - 1:
                layers.append(PatchMerging(dim))
                dim, size = 2 * dim, size // 2
        self.layers = nn.Sequential(*layers)
        self.norm = nn.LayerNorm(dim)
        self.head_drop = nn.Dropout(drop_rate)
        self.head = nn.Linear(dim, num_classes)
        self.num_features, self.num_classes = dim, num_classes
        init_transformer(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        check_input_size(x, IMG, "Swin")
        x = self.embed_norm(self.patch_embed(x).permute(0, 2, 3, 1))        # (B, H, W, C)
        x = self.norm(self.layers(x))
        return x.flatten(1, 2)                                               # (B, L, C)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = x.mean(dim=1)
        return x if pre_logits else self.head(self.head_drop(x))


@register_model(family="swin", source=SOURCE)
def swin_t(num_classes: int = 10, drop_path_rate: float = 0.0, drop_rate: float = 0.0):
    """Swin-T: C=96, depths (2,2,6,2), heads (3,6,12,24); patch 2, window 4 for 32x32."""
    return Swin(CONFIGS["t"], num_classes, drop_path_rate, drop_rate)


@register_model(family="swin", source=SOURCE)
def swin_s(num_classes: int = 10, drop_path_rate: float = 0.0, drop_rate: float = 0.0):
    """Swin-S: C=96, depths (2,2,18,2), heads (3,6,12,24); patch 2, window 4 for 32x32."""
    return Swin(CONFIGS["s"], num_classes, drop_path_rate, drop_rate)
