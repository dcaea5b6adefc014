"""ResNet in ResNet (Targ, Almeida & Lyman 2016, arXiv:1603.08029), the paper's CIFAR-10 main
model "18-layer + wide RiR" (5.01 % error reported).

Generalized residual block (paper Eq. 1): two parallel streams, a residual stream r with an
identity shortcut and a transient stream t without one,

    r' = ReLU(BN(conv(r, W_rr) + conv(t, W_tr) + shortcut(r)))
    t' = ReLU(BN(conv(r, W_rt) + conv(t, W_tt)))

The four 3x3 convs are exactly one 3x3 conv from [r, t] to [r', t'] (the paper's "ResNet Init"
view), so each layer here is a single conv on the concatenated streams, which is the same
function and parameter count and runs faster.  A RiR block is a ResNet block whose two layers
are generalized residual blocks, with its own identity shortcut on the residual stream.

Layout (as reproduced from the paper by nutszebra/resnet_in_resnet, 94.43 % vs the paper's
94.99 %): 3x3 conv stems of 48 channels per stream, 8 RiR blocks with 48/96/192 channels per
stream (96/192/384 in total, "wide"), downsampling by stride 2 in the second layer of blocks 3
and 6, parameter-free shortcuts (subsample + zero channels).  1 + 16 + 1 = 18 weight layers.
The classifier is global pooling + a linear layer on both streams (the reproduction uses a 1x1
conv + BN + ReLU before pooling, which would put a ReLU on the logits).  Without conv biases
this is 8.2M parameters; the brief's 10.3M could not be confirmed from the paper's text.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from cifarzoo.models._base import ZooModel
from cifarzoo.models.layers import DropPath, drop_path_rates, init_weights
from cifarzoo.models.resnet_cifar import PadShortcut
from cifarzoo.registry import register_model

SOURCE = "Targ et al. 2016, Resnet in Resnet (arXiv:1603.08029), 18-layer + wide RiR for CIFAR-10"

# (per-stream width of layer 1, of layer 2, stride of layer 2) for each RiR block
RIR_LAYOUT = ((48, 48, 1), (48, 48, 1), (48, 96, 2), (96, 96, 1), (96, 96, 1), (96, 192, 2),
              (192, 192, 1), (192, 192, 1))


def _shortcut(in_ch: int, out_ch: int, stride: int) -> nn.Module:
    return PadShortcut(in_ch, out_ch, stride) if stride != 1 or in_ch != out_ch else nn.Identity()


class GeneralizedResidual(nn.Module):
    """One generalized residual block on the concatenation [r, t] of two equal-width streams."""

    def __init__(self, in_ch: int, out_ch: int, stride: int):
        super().__init__()
        self.in_ch, self.out_ch = in_ch, out_ch
        self.conv = nn.Conv2d(2 * in_ch, 2 * out_ch, 3, stride, 1, bias=False)  # W_rr, W_tr, W_rt, W_tt
        self.bn = nn.BatchNorm2d(2 * out_ch)
        self.act = nn.ReLU(inplace=True)
        self.shortcut = _shortcut(in_ch, out_ch, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x)
        r = h[:, : self.out_ch] + self.shortcut(x[:, : self.in_ch])  # only the residual stream
        return self.act(self.bn(torch.cat([r, h[:, self.out_ch:]], dim=1)))


class RiRBlock(nn.Module):
    def __init__(self, in_ch: int, mid_ch: int, out_ch: int, stride: int, drop_path: float):
        super().__init__()
        self.in_ch, self.out_ch = in_ch, out_ch
        self.layer1 = GeneralizedResidual(in_ch, mid_ch, 1)
        self.layer2 = GeneralizedResidual(mid_ch, out_ch, stride)
        self.shortcut = _shortcut(in_ch, out_ch, stride)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.layer2(self.layer1(x))
        r = self.shortcut(x[:, : self.in_ch]) + self.drop_path(h[:, : self.out_ch])
        return torch.cat([r, h[:, self.out_ch:]], dim=1)


class ResNetInResNet(ZooModel):
    def __init__(self, num_classes: int = 10, layout=RIR_LAYOUT, drop_path_rate: float = 0.0,
                 zero_init_residual: bool = False):
        super().__init__()
        stem_ch = layout[0][0]
        # one conv per stream from the image, i.e. a single conv to 2 * stem_ch channels
        self.stem = nn.Sequential(nn.Conv2d(3, 2 * stem_ch, 3, 1, 1, bias=False), nn.BatchNorm2d(2 * stem_ch),
                                  nn.ReLU(inplace=True))
        rates = iter(drop_path_rates(drop_path_rate, len(layout)))
        blocks, in_ch = [], stem_ch
        for mid, out, stride in layout:
            blocks.append(RiRBlock(in_ch, mid, out, stride, next(rates)))
            in_ch = out
        self.blocks = nn.Sequential(*blocks)
        self.num_features, self.num_classes = 2 * in_ch, num_classes
        self.fc = nn.Linear(2 * in_ch, num_classes)
        init_weights(self)
        if zero_init_residual:
            # start each RiR block as the identity on the residual stream: zero the BN gammas of
            # the residual half of its last layer (the transient half keeps learning)
            with torch.no_grad():
                for b in self.blocks:
                    b.layer2.bn.weight[: b.out_ch].zero_()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x))


@register_model(family="rir", source=SOURCE)
def rir(num_classes: int = 10, drop_path_rate: float = 0.0, zero_init_residual: bool = False):
    """ResNet in ResNet, 18-layer + wide (8 RiR blocks, 96/192/384 channels over two streams), 8.2M params."""
    return ResNetInResNet(num_classes, drop_path_rate=drop_path_rate, zero_init_residual=zero_init_residual)
