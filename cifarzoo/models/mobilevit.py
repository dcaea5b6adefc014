"""MobileViT (Mehta & Rastegari 2022, arXiv:2110.02178) for 32x32 inputs.

The paper's layout is kept: a 3x3 stem with 16 channels, layer1-2 of MobileNetV2 blocks
(MV2), layers 3-5 each a stride-2 MV2 block followed by a MobileViT block, a 1x1 conv to
4x the last width, global pooling and a linear classifier.  Widths, transformer dims d,
depths L = (2, 4, 3), 2x2 patches, 4 heads, FFN width 2d and MV2 expansion (2 for XXS, 4 for
XS/S) are those of the paper (its Table 4 / appendix).

A MobileViT block models local structure with a 3x3 conv, projects to d channels, splits the
map into 2x2 patches and lets the pixels at the same position of every patch attend to each
other (global structure), projects back and fuses with the block's input by a 3x3 conv.  The
patch unfold/fold is a pure reshape/permute.

32x32 adaptation: the paper downsamples by 32 (stem and layers 2-5 have stride 2), which would
leave layer 5 a 1x1 map.  Here the stem and layer 2 use stride 1, so layers 3/4/5 run at
16x16/8x8/4x4 (the paper: 32x32/16x16/8x8 at 256x256), i.e. total downsampling 8.

Parameter counts: at 1000 classes this file gives 1.27M / 2.32M / 5.58M, the paper's
1.3M / 2.3M / 5.6M; at 10 classes only the classifier shrinks.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from cifarzoo.models._base import ZooModel
from cifarzoo.models._transformer import PreNormBlock, check_drop_rate, init_transformer
from cifarzoo.models.layers import DropPath, conv_bn, drop_path_rates
from cifarzoo.registry import register_model

SOURCE = ("Mehta & Rastegari 2022, MobileViT (arXiv:2110.02178); paper layout, stem and layer-2 "
          "stride 1 for 32x32")
PATCH = 2  # 2x2 patches, as in the paper for all variants
HEADS = 4


@dataclass(frozen=True)
class MobileViTConfig:
    widths: tuple[int, int, int, int, int]   # output channels of layers 1..5
    dims: tuple[int, int, int]               # transformer width d of the MobileViT blocks in layers 3..5
    depths: tuple[int, int, int] = (2, 4, 3)  # transformer blocks L in layers 3..5
    expansion: int = 4                       # MV2 expansion ratio
    stem: int = 16
    last_mult: int = 4                       # final 1x1 conv widens to last_mult * widths[-1]


CONFIGS = {
    "xxs": MobileViTConfig((16, 24, 48, 64, 80), (64, 80, 96), expansion=2),
    "xs": MobileViTConfig((32, 48, 64, 80, 96), (96, 120, 144)),
    "s": MobileViTConfig((32, 64, 96, 128, 160), (144, 192, 240)),
}


class MV2Block(nn.Module):
    """MobileNetV2 inverted residual: 1x1 expand -> 3x3 depthwise -> linear 1x1 project (SiLU)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, expansion: int, drop_path: float):
        super().__init__()
        hidden = in_ch * expansion
        self.conv = nn.Sequential(
            conv_bn(in_ch, hidden, 1, act=nn.SiLU),
            conv_bn(hidden, hidden, 3, stride, groups=hidden, act=nn.SiLU),
            conv_bn(hidden, out_ch, 1, act=None),
        )
        self.residual = stride == 1 and in_ch == out_ch
        self.drop_path = DropPath(drop_path) if self.residual else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        return x + self.drop_path(out) if self.residual else out


def unfold_patches(x: torch.Tensor, p: int = PATCH) -> torch.Tensor:
    """(B, C, H, W) -> (B*p*p, H*W/p^2, C): one sequence per pixel position inside a patch,
    whose tokens are that position in every patch."""
    b, c, h, w = x.shape
    x = x.reshape(b, c, h // p, p, w // p, p).permute(0, 3, 5, 2, 4, 1)  # (B, p, p, H/p, W/p, C)
    return x.reshape(b * p * p, (h // p) * (w // p), c)


def fold_patches(x: torch.Tensor, b: int, h: int, w: int, p: int = PATCH) -> torch.Tensor:
    """Inverse of :func:`unfold_patches`."""
    c = x.shape[-1]
    x = x.reshape(b, p, p, h // p, w // p, c).permute(0, 5, 3, 1, 4, 2)  # (B, C, H/p, p, W/p, p)
    return x.reshape(b, c, h, w)


class MobileViTBlock(nn.Module):
    """Local 3x3 conv + 1x1 to d -> unfold -> L transformer blocks -> fold -> 1x1 back -> fuse."""

    def __init__(self, ch: int, dim: int, depth: int, rates: list[float]):
        super().__init__()
        self.local = nn.Sequential(conv_bn(ch, ch, 3, act=nn.SiLU), nn.Conv2d(ch, dim, 1, bias=False))
        self.transformer = nn.Sequential(*[PreNormBlock(dim, HEADS, 2 * dim, r, act=nn.SiLU) for r in rates])
        self.norm = nn.LayerNorm(dim)
        self.proj = conv_bn(dim, ch, 1, act=nn.SiLU)
        self.fuse = conv_bn(2 * ch, ch, 3, act=nn.SiLU)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        if not torch.jit.is_tracing() and (h % PATCH or w % PATCH):
            raise ValueError(f"MobileViT block needs a feature map divisible by {PATCH}, got {h}x{w}")
        y = unfold_patches(self.local(x))
        y = self.norm(self.transformer(y))
        y = self.proj(fold_patches(y, b, h, w))
        return self.fuse(torch.cat([x, y], dim=1))


class MobileViT(ZooModel):
    classifier_attr = "fc"

    def __init__(self, cfg: MobileViTConfig, num_classes: int = 10, drop_path_rate: float = 0.0,
                 drop_rate: float = 0.0):
        super().__init__()
        check_drop_rate(drop_rate)
        w, e = cfg.widths, cfg.expansion
        # residual branches: the stride-1 MV2 blocks whose shapes match (layer1 if stem == w[0],
        # layer2's first if w[0] == w[1], layer2's other two) and every transformer block; the
        # stride-2 MV2 blocks have no shortcut.
        n_res = int(cfg.stem == w[0]) + int(w[0] == w[1]) + 2 + sum(cfg.depths)
        rates = iter(drop_path_rates(drop_path_rate, n_res))

        def mv2(i, o, s):
            return MV2Block(i, o, s, e, next(rates) if (s == 1 and i == o) else 0.0)

        self.stem = conv_bn(3, cfg.stem, 3, stride=1, act=nn.SiLU)  # paper: stride 2
        self.layer1 = mv2(cfg.stem, w[0], 1)
        self.layer2 = nn.Sequential(mv2(w[0], w[1], 1), mv2(w[1], w[1], 1), mv2(w[1], w[1], 1))  # paper: 1st s2
        layers, in_ch = [], w[1]
        for ch, dim, depth in zip(w[2:], cfg.dims, cfg.depths):
            down = mv2(in_ch, ch, 2)
            layers.append(nn.Sequential(down, MobileViTBlock(ch, dim, depth, [next(rates) for _ in range(depth)])))
            in_ch = ch
        self.layer3, self.layer4, self.layer5 = layers
        out = cfg.last_mult * w[-1]
        self.conv_last = conv_bn(w[-1], out, 1, act=nn.SiLU)
        self.head_drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(out, num_classes)
        self.num_features, self.num_classes = out, num_classes
        init_transformer(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer2(self.layer1(self.stem(x)))
        return self.conv_last(self.layer5(self.layer4(self.layer3(x))))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = x.mean(dim=(2, 3))
        return x if pre_logits else self.fc(self.head_drop(x))


@register_model(family="mobilevit", source=SOURCE)
def mobilevit_xxs(num_classes: int = 10, drop_path_rate: float = 0.0, drop_rate: float = 0.0):
    """MobileViT-XXS (paper: 1.3M params at ImageNet; 0.95M with a 10-class head)."""
    return MobileViT(CONFIGS["xxs"], num_classes, drop_path_rate, drop_rate)


@register_model(family="mobilevit", source=SOURCE)
def mobilevit_xs(num_classes: int = 10, drop_path_rate: float = 0.0, drop_rate: float = 0.0):
    """MobileViT-XS (paper: 2.3M params at ImageNet; 1.94M with a 10-class head)."""
    return MobileViT(CONFIGS["xs"], num_classes, drop_path_rate, drop_rate)


@register_model(family="mobilevit", source=SOURCE)
def mobilevit_s(num_classes: int = 10, drop_path_rate: float = 0.0, drop_rate: float = 0.0):
    """MobileViT-S (paper: 5.6M params at ImageNet; 4.94M with a 10-class head)."""
    return MobileViT(CONFIGS["s"], num_classes, drop_path_rate, drop_rate)
