"""Vision Transformer (Dosovitskiy et al. 2021, arXiv:2010.11929) for 32x32 inputs.

Non-overlapping p x p patches are linearly embedded (a stride-p convolution), a learned class
token is prepended, a learned 1-D position embedding is added, and pre-norm encoder blocks
(LN -> MHSA -> residual, LN -> MLP -> residual) follow; the classifier reads the final
LayerNorm'd class token.

Configurations:
* ``vit``: this project's small CIFAR default, patch 4 (8x8 = 64 tokens + class token),
  dim 512, depth 6, heads 8, MLP ratio 2.  Document 001 (pprp CIFAR tricks) lists its
  ``vision_transformer`` checkpoint at 47.6 MB, i.e. ~12.5M float32 parameters; this default
  has 12.7M, which is why the MLP ratio is 2 rather than the paper's 4.
* ``vit_h1_l1``, ``vit_h1_l8``, ``vit_h4_l2``: document 004's CIFAR-10 rows, which were
  trained as [heads, layers] variants of one small ViT; patch and width as ``vit``.
* ``vit_small_p4``: ViT-S (dim 384, depth 12, heads 6, MLP ratio 4; Touvron et al. 2021's
  DeiT-S sizes) with 4x4 patches.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from cifarzoo.models._base import ZooModel
from cifarzoo.models._transformer import PreNormBlock, check_drop_rate, check_input_size, check_heads, init_transformer
from cifarzoo.models.layers import drop_path_rates
from cifarzoo.registry import register_model

SOURCE = "Dosovitskiy et al. 2021, An Image is Worth 16x16 Words (arXiv:2010.11929)"
SOURCE_004 = SOURCE + "; [heads, layers] variants of document 004"
IMG = 32


class ViT(ZooModel):
    """Defaults are the ``vit`` configuration; the document-004 variants change depth and heads only."""

    classifier_attr = "head"

    def __init__(self, num_classes: int = 10, patch_size: int = 4, embed_dim: int = 512, depth: int = 6,
                 heads: int = 8, mlp_ratio: float = 2.0, drop_path_rate: float = 0.0, drop_rate: float = 0.0):
        super().__init__()
        if patch_size < 1 or IMG % patch_size:
            raise ValueError(f"patch_size must divide the {IMG}x{IMG} input, got {patch_size}; "
                             f"use a divisor of {IMG} such as 2, 4 or 8")
        if depth < 1:
            raise ValueError(f"depth must be >= 1 encoder block, got {depth}")
        if mlp_ratio <= 0:
            raise ValueError(f"mlp_ratio must be > 0, got {mlp_ratio}")
        check_heads(embed_dim, heads, "ViT")
        check_drop_rate(drop_rate)
        n_tokens = (IMG // patch_size) ** 2
        self.patch_embed = nn.Conv2d(3, embed_dim, patch_size, patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, n_tokens + 1, embed_dim))
        hidden = int(embed_dim * mlp_ratio)
        self.blocks = nn.Sequential(*[PreNormBlock(embed_dim, heads, hidden, p)
                                      for p in drop_path_rates(drop_path_rate, depth)])
        self.norm = nn.LayerNorm(embed_dim)
        self.head_drop = nn.Dropout(drop_rate)
        self.head = nn.Linear(embed_dim, num_classes)
        self.num_features, self.num_classes = embed_dim, num_classes
        init_transformer(self)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        check_input_size(x, IMG, "ViT")
        x = self.patch_embed(x).flatten(2).transpose(1, 2)                  # (B, N, C)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        return self.norm(self.blocks(x))                                     # (B, 1+N, C)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = x[:, 0]  # the class token summarises the image
        return x if pre_logits else self.head(self.head_drop(x))


@register_model(family="vit", source=SOURCE)
def vit(num_classes: int = 10, depth: int = 6, heads: int = 8, patch_size: int = 4, embed_dim: int = 512,
        mlp_ratio: float = 2.0, drop_path_rate: float = 0.0, drop_rate: float = 0.0):
    """Configurable CIFAR ViT; default patch 4, dim 512, depth 6, heads 8, MLP ratio 2 (12.7M params)."""
    return ViT(num_classes, patch_size=patch_size, embed_dim=embed_dim, depth=depth, heads=heads,
               mlp_ratio=mlp_ratio, drop_path_rate=drop_path_rate, drop_rate=drop_rate)


@register_model(family="vit", source=SOURCE_004)
def vit_h1_l1(num_classes: int = 10, drop_path_rate: float = 0.0, drop_rate: float = 0.0):
    """ViT with 1 head and 1 layer (document 004's [heads=1, layers=1] row; patch 4, dim 512)."""
    return ViT(num_classes, depth=1, heads=1, drop_path_rate=drop_path_rate, drop_rate=drop_rate)


@register_model(family="vit", source=SOURCE_004)
def vit_h1_l8(num_classes: int = 10, drop_path_rate: float = 0.0, drop_rate: float = 0.0):
    """ViT with 1 head and 8 layers (document 004's [heads=1, layers=8] row; patch 4, dim 512)."""
    return ViT(num_classes, depth=8, heads=1, drop_path_rate=drop_path_rate, drop_rate=drop_rate)


@register_model(family="vit", source=SOURCE_004)
def vit_h4_l2(num_classes: int = 10, drop_path_rate: float = 0.0, drop_rate: float = 0.0):
    """ViT with 4 heads and 2 layers (document 004's [heads=4, layers=2] row; patch 4, dim 512)."""
    return ViT(num_classes, depth=2, heads=4, drop_path_rate=drop_path_rate, drop_rate=drop_rate)


@register_model(family="vit", source=SOURCE + "; ViT-S sizes of Touvron et al. 2021 (DeiT)")
def vit_small_p4(num_classes: int = 10, drop_path_rate: float = 0.0, drop_rate: float = 0.0):
    """ViT-S on 4x4 patches: dim 384, depth 12, heads 6, MLP ratio 4 (21.3M params)."""
    return ViT(num_classes, patch_size=4, embed_dim=384, depth=12, heads=6, mlp_ratio=4.0,
               drop_path_rate=drop_path_rate, drop_rate=drop_rate)
