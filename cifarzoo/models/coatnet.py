"""CoAtNet (Dai et al. 2021, arXiv:2106.04803) for 32x32 inputs.

C-C-T-T layout: a two-conv stem S0, two stages of MBConv blocks (S1, S2), then two stages of
relative-attention transformer blocks (S3, S4), global average pooling and a linear classifier.
All blocks are pre-norm with GELU; MBConv expands its output width by 4 and has
squeeze-excitation (0.25 of the input width); the transformer FFN has expansion 4 and heads of
width 32.

Relative attention (the paper's Eq. 3) adds a learned scalar per head for each relative offset
(i - j) to the attention logits; here it is a ((2h-1)(2w-1), heads) table gathered by a fixed
offset index and handed to ``scaled_dot_product_attention`` as a float ``attn_mask``.

Downsampling (the paper's Appendix A.1): the first block of a stage that halves the
resolution is ``Proj(Pool(x)) + Block(x)``, with stride 2 in the MBConv depthwise conv and
pooling of the normalised input before attention in transformer blocks.  Pool is a 3x3
stride-2 max pool (this project's choice of pooling window).

32x32 adaptation: the paper halves the resolution in S0..S4 (224 -> 7, transformer stages at
14x14 and 7x7).  Here S0 and S1 keep stride 1 and S2/S3/S4 halve it, so the stages run at
32/32/16/8/4: the transformer stages see 8x8 (64) and 4x4 (16) tokens.

Widths and depths are the paper's Table 3.  coatnet_2 uses D4 = 1024 as in the paper (some
public ports print 1026, which is not a multiple of the head width 32).

Parameter counts: with a 1000-class head this file gives 24.4M / 41.5M / 73.4M against the
paper's 25M / 42M / 75M (within 3 %; the paper leaves the stem, SE and shortcut layout
open and its 224-input relative-bias tables are larger); at 10 classes 23.6M / 40.7M / 72.4M.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from cifarzoo.models._base import ZooModel
from cifarzoo.models._transformer import (Mlp, RelativePositionBias, check_drop_rate, check_input_size,
                                          init_transformer, merge_heads, split_heads)
from cifarzoo.models.layers import DropPath, SqueezeExcite, conv_bn, drop_path_rates
from cifarzoo.registry import register_model

SOURCE = ("Dai et al. 2021, CoAtNet (arXiv:2106.04803) Table 3 layout; stem and S1 stride 1 "
          "for 32x32")
HEAD_DIM = 32
EXPANSION = 4
IMG = 32


@dataclass(frozen=True)
class CoAtNetConfig:
    depths: tuple[int, int, int, int, int]   # L0 (stem convs) .. L4
    dims: tuple[int, int, int, int, int]     # D0 .. D4
    strides: tuple[int, int, int, int, int] = (1, 1, 2, 2, 2)  # paper: all 2


CONFIGS = {
    "0": CoAtNetConfig((2, 2, 3, 5, 2), (64, 96, 192, 384, 768)),
    "1": CoAtNetConfig((2, 2, 6, 14, 2), (64, 96, 192, 384, 768)),
    "2": CoAtNetConfig((2, 2, 6, 14, 2), (128, 128, 256, 512, 1024)),
}


def _pool() -> nn.Module:
    return nn.MaxPool2d(3, 2, 1)


class MBConv(nn.Module):
    """Pre-norm MBConv: x + DropPath(1x1 -> dw3x3 -> SE -> 1x1 (BN(x))); downsampling blocks
    take the shortcut through pool + 1x1 projection."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, drop_path: float):
        super().__init__()
        hidden = out_ch * EXPANSION
        if stride == 2:
            self.shortcut = nn.Sequential(_pool(), nn.Conv2d(in_ch, out_ch, 1))
        elif in_ch != out_ch:
            self.shortcut = nn.Conv2d(in_ch, out_ch, 1)
        else:
            self.shortcut = nn.Identity()
        self.norm = nn.BatchNorm2d(in_ch)
        self.conv = nn.Sequential(
            conv_bn(in_ch, hidden, 1, act=nn.GELU),
            conv_bn(hidden, hidden, 3, stride, groups=hidden, act=nn.GELU),
            SqueezeExcite(hidden, max(1, int(in_ch * 0.25)), act=nn.GELU),
            nn.Conv2d(hidden, out_ch, 1),
        )
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.drop_path(self.conv(self.norm(x)))


class RelativeAttention(nn.Module):
    """Multi-head self-attention over an h x w grid with a learned relative position bias;
    input width may differ from output width (the first block of a stage)."""

    def __init__(self, in_dim: int, dim: int, h: int, w: int):
        super().__init__()
        self.heads = dim // HEAD_DIM
        self.qkv = nn.Linear(in_dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.rel_bias = RelativePositionBias(self.heads, h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        out = F.scaled_dot_product_attention(split_heads(q, self.heads), split_heads(k, self.heads),
                                             split_heads(v, self.heads), attn_mask=self.rel_bias().unsqueeze(0))
        return self.proj(merge_heads(out))


class TransformerBlock(nn.Module):
    """Pre-norm relative-attention block on a feature map; input and output are NCHW."""

    def __init__(self, in_dim: int, dim: int, stride: int, size: int, drop_path: float):
        super().__init__()
        if dim % HEAD_DIM:
            raise ValueError(f"CoAtNet transformer width {dim} must be a multiple of the head width {HEAD_DIM}")
        self.size = size // stride  # output grid side
        if stride == 2:
            self.pool, self.shortcut = _pool(), nn.Sequential(_pool(), nn.Conv2d(in_dim, dim, 1))
        else:
            self.pool = nn.Identity()
            self.shortcut = nn.Conv2d(in_dim, dim, 1) if in_dim != dim else nn.Identity()
        self.norm1 = nn.LayerNorm(in_dim)
        self.attn = RelativeAttention(in_dim, dim, self.size, self.size)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, EXPANSION * dim)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        short = self.shortcut(x).flatten(2).transpose(1, 2)                       # (B, N, D)
        y = self.norm1(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)                 # LN over channels
        y = self.pool(y).flatten(2).transpose(1, 2)
        x = short + self.drop_path(self.attn(y))
        x = x + self.drop_path(self.mlp(self.norm2(x)))
        return x.transpose(1, 2).reshape(b, -1, self.size, self.size)


class CoAtNet(ZooModel):
    classifier_attr = "fc"

    def __init__(self, cfg: CoAtNetConfig, num_classes: int = 10, drop_path_rate: float = 0.0,
                 drop_rate: float = 0.0):
        super().__init__()
        check_drop_rate(drop_rate)
        d, s = cfg.dims, cfg.strides
        # S0: L0 = 2 convs; the second has no norm because S1 starts with its own pre-norm
        self.stem = nn.Sequential(conv_bn(3, d[0], 3, s[0], act=nn.GELU), nn.Conv2d(d[0], d[0], 3, 1, 1))
        rates = iter(drop_path_rates(drop_path_rate, sum(cfg.depths[1:])))
        size, stages = IMG // s[0], []
        for i in range(1, 5):
            blocks = []
            for j in range(cfg.depths[i]):
                in_ch, stride = (d[i - 1], s[i]) if j == 0 else (d[i], 1)
                if i <= 2:
                    blocks.append(MBConv(in_ch, d[i], stride, next(rates)))
                else:
                    blocks.append(TransformerBlock(in_ch, d[i], stride, size, next(rates)))
                size //= stride
            stages.append(nn.Sequential(*blocks))
        if size < 4:
            raise ValueError(f"strides {s} leave the last stage a {size}x{size} map; transformer stages need >= 4x4")
        self.stages = nn.Sequential(*stages)
        self.head_drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(d[4], num_classes)
        self.num_features, self.num_classes = d[4], num_classes
        init_transformer(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        check_input_size(x, IMG, "CoAtNet")
        return self.stages(self.stem(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = x.mean(dim=(2, 3))
        return x if pre_logits else self.fc(self.head_drop(x))


@register_model(family="coatnet", source=SOURCE)
def coatnet_0(num_classes: int = 10, drop_path_rate: float = 0.0, drop_rate: float = 0.0):
    """CoAtNet-0: depths (2,2,3,5,2), widths (64,96,192,384,768)."""
    return CoAtNet(CONFIGS["0"], num_classes, drop_path_rate, drop_rate)


@register_model(family="coatnet", source=SOURCE)
def coatnet_1(num_classes: int = 10, drop_path_rate: float = 0.0, drop_rate: float = 0.0):
    """CoAtNet-1: depths (2,2,6,14,2), widths (64,96,192,384,768)."""
    return CoAtNet(CONFIGS["1"], num_classes, drop_path_rate, drop_rate)


@register_model(family="coatnet", source=SOURCE)
def coatnet_2(num_classes: int = 10, drop_path_rate: float = 0.0, drop_rate: float = 0.0):
    """CoAtNet-2: depths (2,2,6,14,2), widths (128,128,256,512,1024)."""
    return CoAtNet(CONFIGS["2"], num_classes, drop_path_rate, drop_rate)
