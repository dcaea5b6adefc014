"""The head most CNN families of the `classic` group share: global average pool, optional dropout,
then the linear classifier.  Private helper (not auto-imported as a family)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from cifarzoo.models._base import ZooModel


def check_rate(name: str, value: float) -> float:
    """A probability knob must lie in [0, 1); say which knob is wrong otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be a float in [0, 1), got {value!r}")
    return float(value)


class PooledDropoutModel(ZooModel):
    """ZooModel whose head is mean over H, W -> dropout(``drop_rate``) -> classifier.

    ``pre_logits=True`` returns the pooled vector before dropout, so features extracted for
    fine-tuning or probing are deterministic."""

    drop_rate: float = 0.0

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if x.ndim == 4:
            x = x.mean(dim=(2, 3))
        if pre_logits:
            return x
        # F.dropout is the identity in eval mode, so the exported graph holds no dropout node
        return self.get_classifier()(F.dropout(x, self.drop_rate, self.training))
