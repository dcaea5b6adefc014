"""The contract every zoo model keeps, so any of them can serve as a backbone or be fine-tuned.

A model subclasses :class:`ZooModel`, defines ``forward_features`` (input -> last feature map or
token features, before pooling) and ``forward_head`` (features -> logits, with
``pre_logits=True`` returning the pooled vector), and stores its final ``nn.Linear`` in the
attribute named by ``classifier_attr``.  ``forward`` and the classifier helpers come from here.
"""
from __future__ import annotations

import torch
import torch.nn as nn


class ZooModel(nn.Module):
    classifier_attr: str = "fc"
    num_classes: int
    num_features: int  # width of the pooled vector that feeds the classifier

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Default head: global average pool over H, W, then the classifier."""
        if x.ndim == 4:
            x = x.mean(dim=(2, 3))
        return x if pre_logits else self.get_classifier()(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        return getattr(self, self.classifier_attr)

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier by a fresh one with ``num_classes`` outputs (0: identity)."""
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 0:
            raise ValueError(f"num_classes must be an int >= 0, got {num_classes!r}")
        old = self.get_classifier()
        ref = next(old.parameters(), None)
        new = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        if ref is not None:
            new = new.to(device=ref.device, dtype=ref.dtype)
        setattr(self, self.classifier_attr, new)
        self.num_classes = num_classes
