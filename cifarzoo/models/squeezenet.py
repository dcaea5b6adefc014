"""SqueezeNet (Iandola et al. 2016, arXiv:1602.07360) for 32x32 inputs.

Fire modules as in the paper: a 1x1 "squeeze" conv to s maps feeds parallel 1x1 and 3x3 "expand"
convs of e/2 maps each, concatenated.  The module plan is SqueezeNet 1.0's (fire2..fire9 with
s = 16, 16, 32, 32, 48, 48, 64, 64 and e = 128, 128, 256, 256, 384, 384, 512, 512; max-pools after
the stem, fire4 and fire8), with the paper's "simple bypass" (Sec. 6, the best variant: 60.4 %
top-1 vs 57.5 %) around fire3, fire5, fire7 and fire9, where input and output widths agree.
(SqueezeNet 1.1 only moves the pools earlier and shrinks conv1, for speed at 224x224.)

CIFAR changes, as in the CIFAR SqueezeNet of weiaicunzai/pytorch-cifar100 that document 001
trained (89.16 % on half the data): conv1 is 3x3/1 to 96 maps instead of 7x7/2, the maps after
the three pools are 16/8/4 pixels, and every conv is followed by BatchNorm (convs keep their bias).
The classifier is the paper's: dropout, then a 1x1 conv to the classes, then global average
pooling -- no linear layer.  A 1x1 conv commutes with the average pool, so ``pre_logits`` returns
the pooled 512-d fire9 output and the head gives the same logits either way.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from cifarzoo.models._base import ZooModel
from cifarzoo.models._pooled_head import check_rate
from cifarzoo.models.layers import DropPath, drop_path_rates, init_weights
from cifarzoo.registry import register_model

SOURCE = "Iandola et al. 2016, SqueezeNet (arXiv:1602.07360); CIFAR form of weiaicunzai/pytorch-cifar100"


@dataclass(frozen=True)
class FireSpec:
    squeeze: int
    expand: int  # total output maps, split evenly between the 1x1 and 3x3 expand convs
    bypass: bool = False  # identity shortcut around the module (needs equal in/out width)
    pool_after: bool = False


# SqueezeNet 1.0, Table 1, fire2..fire9
FIRES = (
    FireSpec(16, 128), FireSpec(16, 128, bypass=True), FireSpec(32, 256, pool_after=True),
    FireSpec(32, 256, bypass=True), FireSpec(48, 384), FireSpec(48, 384, bypass=True),
    FireSpec(64, 512, pool_after=True), FireSpec(64, 512, bypass=True),
)


def conv_bn_relu(in_ch: int, out_ch: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, kernel, 1, kernel // 2), nn.BatchNorm2d(out_ch),
                         nn.ReLU(inplace=True))


class Fire(nn.Module):
    def __init__(self, in_ch: int, spec: FireSpec, drop_path: float):
        super().__init__()
        if spec.expand % 2:
            raise ValueError(f"Fire expand width must be even (two halves), got {spec.expand}")
        if spec.bypass and in_ch != spec.expand:
            raise ValueError(f"Fire bypass needs equal widths, got {in_ch} -> {spec.expand}")
        self.squeeze = conv_bn_relu(in_ch, spec.squeeze, 1)
        self.expand1x1 = conv_bn_relu(spec.squeeze, spec.expand // 2, 1)
        self.expand3x3 = conv_bn_relu(spec.squeeze, spec.expand // 2, 3)
        self.bypass = spec.bypass
        self.drop_path = DropPath(drop_path) if spec.bypass else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.squeeze(x)
        out = torch.cat([self.expand1x1(s), self.expand3x3(s)], 1)
        return x + self.drop_path(out) if self.bypass else out


class SqueezeNet(ZooModel):
    classifier_attr = "classifier"

    def __init__(self, num_classes: int = 10, drop_rate: float = 0.5, drop_path_rate: float = 0.0):
        super().__init__()
        self.stem = conv_bn_relu(3, 96, 3)
        rates = iter(drop_path_rates(drop_path_rate, sum(f.bypass for f in FIRES)))
        layers: list[nn.Module] = [nn.MaxPool2d(2)]
        ch = 96
        for spec in FIRES:
            layers.append(Fire(ch, spec, next(rates) if spec.bypass else 0.0))
            ch = spec.expand
            if spec.pool_after:
                layers.append(nn.MaxPool2d(2))
        self.fires = nn.Sequential(*layers)
        self.drop_rate = check_rate("drop_rate", drop_rate)
        self.num_features, self.num_classes = ch, num_classes
        self.classifier = nn.Conv2d(ch, num_classes, 1)
        init_weights(self)
        # the paper initialises conv10 from N(0, 0.01): logits start near zero
        nn.init.normal_(self.classifier.weight, 0.0, 0.01)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.fires(self.stem(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if x.ndim == 2:  # an already pooled vector: treat it as a 1x1 map
            x = x[:, :, None, None]
        if pre_logits:
            return x.mean(dim=(2, 3))
        x = F.dropout(x, self.drop_rate, self.training)
        return self.classifier(x).mean(dim=(2, 3))

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the 1x1 conv classifier by a fresh one with ``num_classes`` outputs (0: identity,
        so the head returns the pooled features)."""
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 0:
            raise ValueError(f"num_classes must be an int >= 0, got {num_classes!r}")
        ref = self.classifier.weight if isinstance(self.classifier, nn.Conv2d) else None
        new: nn.Module = nn.Identity()
        if num_classes > 0:
            new = nn.Conv2d(self.num_features, num_classes, 1)
            nn.init.normal_(new.weight, 0.0, 0.01)
            nn.init.zeros_(new.bias)
            if ref is not None:
                new = new.to(device=ref.device, dtype=ref.dtype)
        self.classifier = new
        self.num_classes = num_classes


@register_model(family="squeezenet", source=SOURCE)
def squeezenet(num_classes: int = 10, drop_rate: float = 0.5, drop_path_rate: float = 0.0):
    """SqueezeNet 1.0 Fire plan with simple bypass, 3x3 stem and BN for CIFAR (0.73M params)."""
    return SqueezeNet(num_classes, drop_rate, drop_path_rate)
