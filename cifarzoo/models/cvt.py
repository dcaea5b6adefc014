"""CvT-13 (Wu et al. 2021, Convolutional vision Transformers, arXiv:2103.15808) for 32x32 inputs.

Three stages.  Each starts with a convolutional token embedding (an overlapping strided conv
followed by LayerNorm over the tokens) and stacks pre-norm blocks whose attention computes
q, k and v by a convolutional projection: depthwise 3x3 conv + BatchNorm on the token map
(stride 1 for q, stride 2 for k and v, the paper's "squeezed" keys/values), then a linear
layer.  There is no position embedding: the convolutions carry position.  A class token joins
the last stage (it bypasses the convolutional projection and is concatenated back to q, k, v)
and the classifier reads its final LayerNorm'd state.

CvT-13 sizes (paper Table 2): depths 1/2/10, dims 64/192/384, heads 1/3/6, MLP ratio 4,
embedding kernels 7/3/3.  Parameter count: 19.6M at 10 classes (paper: 20M at ImageNet).

32x32 adaptation: the paper's stage-1 embedding is kernel 7 stride 4 (224 -> 56 -> 28 -> 14),
which would leave a 2x2 map in stage 3.  Here stage 1 embeds with kernel 7, stride 1,
padding 3, and stages 2/3 keep the paper's kernel 3, stride 2, padding 1, so the stages run
on 32x32 / 16x16 / 8x8 tokens (keys/values on 16x16 / 8x8 / 4x4).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from cifarzoo.models._base import ZooModel
from cifarzoo.models._transformer import Mlp, check_drop_rate, check_heads, init_transformer, merge_heads, split_heads
from cifarzoo.models.layers import DropPath, drop_path_rates
from cifarzoo.registry import register_model

SOURCE = "Wu et al. 2021, CvT (arXiv:2103.15808) CvT-13; stage-1 embedding stride 1 for 32x32"


@dataclass(frozen=True)
class CvTStage:
    dim: int
    depth: int
    heads: int
    kernel: int
    stride: int
    padding: int
    cls_token: bool = False


CVT13 = (
    CvTStage(64, 1, 1, 7, 1, 3),          # paper: stride 4, padding 2
    CvTStage(192, 2, 3, 3, 2, 1),
    CvTStage(384, 10, 6, 3, 2, 1, cls_token=True),
)
MLP_RATIO = 4
KV_STRIDE = 2


def conv_projection(dim: int, stride: int) -> nn.Sequential:
    """Depthwise 3x3 conv + BN on the token map (the paper's convolutional projection)."""
    return nn.Sequential(nn.Conv2d(dim, dim, 3, stride, 1, groups=dim, bias=False), nn.BatchNorm2d(dim))


class ConvAttention(nn.Module):
    def __init__(self, dim: int, heads: int, has_cls: bool):
        super().__init__()
        check_heads(dim, heads, "CvT")
        self.heads, self.has_cls = heads, has_cls
        self.conv_q = conv_projection(dim, 1)
        self.conv_k = conv_projection(dim, KV_STRIDE)
        self.conv_v = conv_projection(dim, KV_STRIDE)
        self.proj_q, self.proj_k, self.proj_v = (nn.Linear(dim, dim) for _ in range(3))
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        b, _, c = x.shape
        cls, x = (x[:, :1], x[:, 1:]) if self.has_cls else (None, x)
        fmap = x.transpose(1, 2).reshape(b, c, h, w)

        def project(conv: nn.Module, lin: nn.Module) -> torch.Tensor:
            t = conv(fmap).flatten(2).transpose(1, 2)
            if cls is not None:
                t = torch.cat([cls, t], dim=1)
            return split_heads(lin(t), self.heads)

        q = project(self.conv_q, self.proj_q)
        k, v = project(self.conv_k, self.proj_k), project(self.conv_v, self.proj_v)  # squeezed by KV_STRIDE
        return self.proj(merge_heads(F.scaled_dot_product_attention(q, k, v)))


class CvTBlock(nn.Module):
    def __init__(self, dim: int, heads: int, has_cls: bool, drop_path: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = ConvAttention(dim, heads, has_cls)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, MLP_RATIO * dim)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x), h, w))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class CvTStageModule(nn.Module):
    """Conv token embedding + LN, optional class token, then the stage's blocks; NCHW in,
    tokens (B, [1+]H*W, C) out together with the map size."""

    def __init__(self, in_ch: int, cfg: CvTStage, rates: list[float]):
        super().__init__()
        self.embed = nn.Conv2d(in_ch, cfg.dim, cfg.kernel, cfg.stride, cfg.padding)
        self.embed_norm = nn.LayerNorm(cfg.dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.dim)) if cfg.cls_token else None
        self.blocks = nn.ModuleList(CvTBlock(cfg.dim, cfg.heads, cfg.cls_token, r) for r in rates)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        x = self.embed(x)
        h, w = x.shape[-2:]
        x = self.embed_norm(x.flatten(2).transpose(1, 2))
        if self.cls_token is not None:
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        for blk in self.blocks:
            x = blk(x, h, w)
        return x, h, w


class CvT(ZooModel):
    classifier_attr = "head"

    def __init__(self, stages: tuple[CvTStage, ...] = CVT13, num_classes: int = 10, drop_path_rate: float = 0.0,
                 drop_rate: float = 0.0):
        super().__init__()
        check_drop_rate(drop_rate)
        if not stages[-1].cls_token or any(s.cls_token for s in stages[:-1]):
            raise ValueError("CvT: only the last stage carries the class token")
        rates = iter(drop_path_rates(drop_path_rate, sum(s.depth for s in stages)))
        mods, in_ch = [], 3
        for s in stages:
            mods.append(CvTStageModule(in_ch, s, [next(rates) for _ in range(s.depth)]))
            in_ch = s.dim
        self.stages = nn.ModuleList(mods)
        self.norm = nn.LayerNorm(in_ch)
        self.head_drop = nn.Dropout(drop_rate)
        self.head = nn.Linear(in_ch, num_classes)
        self.num_features, self.num_classes = in_ch, num_classes
        init_transformer(self)
        for m in self.stages:
            if m.cls_token is not None:
                nn.init.trunc_normal_(m.cls_token, std=0.02)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        for i, stage in enumerate(self.stages):
            x, h, w = stage(x)
            if i < len(self.stages) - 1:  # back to a map for the next stage's conv embedding
                x = x.transpose(1, 2).reshape(x.shape[0], -1, h, w)
        return self.norm(x)  # (B, 1 + H*W, C), class token first

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = x[:, 0]
        return x if pre_logits else self.head(self.head_drop(x))


@register_model(family="cvt", source=SOURCE)
def cvt(num_classes: int = 10, drop_path_rate: float = 0.0, drop_rate: float = 0.0):
    """CvT-13: depths 1/2/10, dims 64/192/384, heads 1/3/6, stages on 32/16/8 maps (19.6M params)."""
    return CvT(CVT13, num_classes, drop_path_rate, drop_rate)
