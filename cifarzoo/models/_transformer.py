"""Pieces shared by the transformer families (vit, mobilevit, coatnet, cvt, swin).

Everything attends through ``F.scaled_dot_product_attention`` so the fused kernels are used
where available, and every additive bias (relative position, shifted-window mask) is passed as
its float ``attn_mask``.  No module branches on tensor values, so all of them trace for the
TorchScript ONNX exporter.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from cifarzoo.models.layers import DropPath, init_weights


class Mlp(nn.Module):
    """Position-wise feed-forward: Linear -> act -> Linear (the transformer FFN)."""

    def __init__(self, dim: int, hidden: int, act: type[nn.Module] = nn.GELU, out_dim: int | None = None):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = act()
        self.fc2 = nn.Linear(hidden, out_dim or dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, L, heads*d) -> (B, heads, L, d)."""
    b, n, c = x.shape
    return x.reshape(b, n, heads, c // heads).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(B, heads, L, d) -> (B, L, heads*d)."""
    b, h, n, d = x.shape
    return x.transpose(1, 2).reshape(b, n, h * d)


def check_heads(dim: int, heads: int, where: str) -> None:
    if heads < 1 or dim % heads:
        raise ValueError(f"{where}: embedding dim {dim} must be divisible by heads={heads}; "
                         f"choose heads among the divisors of {dim}")


class MultiHeadSelfAttention(nn.Module):
    """Plain multi-head self-attention over (B, L, C) tokens with a fused qkv projection."""

    def __init__(self, dim: int, heads: int, qkv_bias: bool = True):
        super().__init__()
        check_heads(dim, heads, "attention")
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        out = F.scaled_dot_product_attention(split_heads(q, self.heads), split_heads(k, self.heads),
                                             split_heads(v, self.heads), attn_mask=bias)
        return self.proj(merge_heads(out))


class PreNormBlock(nn.Module):
    """Pre-norm transformer encoder block (ViT, MobileViT):
    x + DropPath(MHSA(LN(x))), then x + DropPath(MLP(LN(x)))."""

    def __init__(self, dim: int, heads: int, mlp_hidden: int, drop_path: float = 0.0,
                 act: type[nn.Module] = nn.GELU):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = MultiHeadSelfAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, mlp_hidden, act)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


def relative_position_index(h: int, w: int) -> torch.Tensor:
    """(h*w, h*w) index into a ((2h-1)*(2w-1))-row table: entry [i, j] numbers the offset
    (row_i - row_j, col_i - col_j), so every pair with the same offset shares one learned bias."""
    rows, cols = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    coords = torch.stack([rows.flatten(), cols.flatten()])           # (2, N)
    rel = coords[:, :, None] - coords[:, None, :]                     # (2, N, N), in [-(h-1), h-1]
    return (rel[0] + h - 1) * (2 * w - 1) + (rel[1] + w - 1)


class RelativePositionBias(nn.Module):
    """A learned per-head bias for each relative offset inside an h x w grid (Shaw et al. 2018 as
    used by Swin and CoAtNet); ``forward`` returns the (heads, N, N) additive attention bias."""

    def __init__(self, heads: int, h: int, w: int):
        super().__init__()
        self.heads, self.n = heads, h * w
        self.table = nn.Parameter(torch.zeros((2 * h - 1) * (2 * w - 1), heads))
        nn.init.trunc_normal_(self.table, std=0.02)
        # derived from the grid size, so it is rebuilt rather than stored in checkpoints
        self.register_buffer("index", relative_position_index(h, w).flatten(), persistent=False)

    def forward(self) -> torch.Tensor:
        return self.table[self.index].reshape(self.n, self.n, self.heads).permute(2, 0, 1)


def init_transformer(model: nn.Module) -> nn.Module:
    """Kaiming for convolutions (layers.init_weights), then truncated normal (std 0.02, zero bias)
    for every Linear, the initialisation of ViT/Swin/CvT/CoAtNet training code."""
    init_weights(model)
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return model


def check_input_size(x: torch.Tensor, size: int, model: str) -> None:
    """Models whose position tables or window masks are built for one resolution reject others
    with a clear message.  Skipped while tracing, where shapes are constants anyway."""
    if not torch.jit.is_tracing() and tuple(x.shape[-2:]) != (size, size):
        raise ValueError(f"{model} is built for {size}x{size} inputs, got {tuple(x.shape[-2:])}; "
                         f"resize or crop the images to {size}x{size}")


def check_drop_rate(drop_rate: float) -> None:
    if not 0.0 <= drop_rate < 1.0:
        raise ValueError(f"drop_rate must be in [0, 1), got {drop_rate}")
