"""Initialisation helper shared by the pre-activation families (preact_resnet, wrn, senet, rir)."""
from __future__ import annotations

import torch.nn as nn


def zero_init_last_conv(model: nn.Module, attr: str = "zero_init_conv") -> None:
    """Zero the last conv of every residual unit that marks it as ``attr``.

    Pre-activation units end in a conv, not a BN, so zeroing a BN gamma (``zero_init_last_bn``)
    cannot make them start as the identity; zeroing that conv's weights does."""
    for m in model.modules():
        conv = getattr(m, attr, None)
        if isinstance(conv, nn.Conv2d):
            nn.init.zeros_(conv.weight)
            if conv.bias is not None:
                nn.init.zeros_(conv.bias)
