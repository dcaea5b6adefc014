"""ShuffleNet V2 (Ma et al. 2018, arXiv:1807.11164), CIFAR adaptation as in
chenyaofo/pytorch-cifar-models: the 3x3 stem runs at stride 1 and the stem max-pool is removed, so
32x32 inputs go 32 -> 16 -> 8 -> 4 through the three stages (Table 5 widths, 4/8/4 units).

Basic unit: split the channels in half, keep one half, run the other through 1x1 -> 3x3 depthwise
-> 1x1, concatenate, shuffle.  Downsampling unit: both halves see the whole input (the left one
through 3x3 depthwise stride 2 -> 1x1).  Units are concatenations, not sums, so there is no
residual branch to drop (no stochastic depth).

Speed notes (this family is trained on the GPU critical path): the split is a zero-copy
``chunk``; the shuffle is one view/transpose copy and keeps channels_last tensors in NHWC.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from cifarzoo.models._base import ZooModel
from cifarzoo.models._mobile_blocks import ConvBNAct, channel_shuffle
from cifarzoo.models.layers import init_weights
from cifarzoo.registry import register_model

SOURCE = ("Ma et al. 2018, ShuffleNet V2 (arXiv:1807.11164), Table 5; CIFAR stem of "
          "chenyaofo/pytorch-cifar-models")


@dataclass(frozen=True)
class ShuffleNetV2Config:
    widths: tuple[int, int, int, int, int]  # stem, stage 2-4 outputs, final 1x1 conv (Table 5)
    repeats: tuple[int, int, int] = (4, 8, 4)


CONFIGS = {
    "0_5": ShuffleNetV2Config((24, 48, 96, 192, 1024)),
    "1_0": ShuffleNetV2Config((24, 116, 232, 464, 1024)),
    "1_5": ShuffleNetV2Config((24, 176, 352, 704, 1024)),
    "2_0": ShuffleNetV2Config((24, 244, 488, 976, 2048)),
}


class ShuffleV2Unit(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int):
        super().__init__()
        if out_ch % 2:
            raise ValueError(f"ShuffleNetV2 unit needs an even output width, got {out_ch}")
        self.stride = stride
        half = out_ch // 2
        if stride == 1 and in_ch != out_ch:
            raise ValueError(f"a stride-1 ShuffleNetV2 unit keeps its width ({in_ch} != {out_ch})")
        branch_in = in_ch if stride == 2 else half
        if stride == 2:
            self.left = nn.Sequential(ConvBNAct(in_ch, in_ch, 3, 2, groups=in_ch, act=None),
                                      ConvBNAct(in_ch, half, 1))
        self.right = nn.Sequential(
            ConvBNAct(branch_in, half, 1),
            ConvBNAct(half, half, 3, stride, groups=half, act=None),
            ConvBNAct(half, half, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            keep, x = x.chunk(2, dim=1)
            out = torch.cat((keep, self.right(x)), 1)
        else:
            out = torch.cat((self.left(x), self.right(x)), 1)
        return channel_shuffle(out, 2)


class ShuffleNetV2(ZooModel):
    classifier_attr = "fc"

    def __init__(self, cfg: ShuffleNetV2Config, num_classes: int = 10, drop_rate: float = 0.0):
        super().__init__()
        stem, *stage_widths, last = cfg.widths
        self.stem = ConvBNAct(3, stem, 3, 1)
        ch, stages = stem, []
        for width, n in zip(stage_widths, cfg.repeats):
            stages.append(nn.Sequential(*[ShuffleV2Unit(ch if i == 0 else width, width, 2 if i == 0 else 1)
                                          for i in range(n)]))
            ch = width
        self.stages = nn.Sequential(*stages)
        self.head_conv = ConvBNAct(ch, last, 1)
        self.num_features, self.num_classes = last, num_classes
        self.drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(last, num_classes)
        init_weights(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.head_conv(self.stages(self.stem(x)))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = x.mean((2, 3))
        return x if pre_logits else self.fc(self.drop(x))


@register_model(family="shufflenetv2", source=SOURCE)
def shufflenetv2_x0_5(num_classes: int = 10, drop_rate: float = 0.0):
    """ShuffleNet V2 0.5x for CIFAR (widths 48/96/192, 0.35M params)."""
    return ShuffleNetV2(CONFIGS["0_5"], num_classes, drop_rate)


@register_model(family="shufflenetv2", source=SOURCE)
def shufflenetv2_x1_0(num_classes: int = 10, drop_rate: float = 0.0):
    """ShuffleNet V2 1.0x for CIFAR (widths 116/232/464, 1.26M params)."""
    return ShuffleNetV2(CONFIGS["1_0"], num_classes, drop_rate)


@register_model(family="shufflenetv2", source=SOURCE)
def shufflenetv2_x1_5(num_classes: int = 10, drop_rate: float = 0.0):
    """ShuffleNet V2 1.5x for CIFAR (widths 176/352/704, 2.49M params)."""
    return ShuffleNetV2(CONFIGS["1_5"], num_classes, drop_rate)


@register_model(family="shufflenetv2", source=SOURCE)
def shufflenetv2_x2_0(num_classes: int = 10, drop_rate: float = 0.0):
    """ShuffleNet V2 2.0x for CIFAR (widths 244/488/976, final conv 2048, 5.37M params)."""
    return ShuffleNetV2(CONFIGS["2_0"], num_classes, drop_rate)
