"""AlexNet (Krizhevsky et al. 2012) adapted to 32x32 inputs.

The five convolutions keep the single-tower widths 64-192-384-256-256 of Krizhevsky's "One weird
trick" version (arXiv:1404.5997, the torchvision AlexNet) and the three FC layers 4096-4096-classes
with dropout 0.5 before the first two.  For 32x32 images the 11x11/4 first conv becomes 3x3/2 and
the 3x3/2 overlapping pools become 2x2/2, so conv1..conv5 see 16, 8, 4, 4, 4 pixels and the
flattened map is 256x2x2 = 1024 (the layout of icpm/pytorch-cifar10; parameter count 23,272,266 is
this project's own, computed from that layer table).  Local response normalisation is left out,
as in torchvision.  Document 004 reports 90.39 % for its CIFAR AlexNet without a parameter count.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from cifarzoo.models._base import ZooModel
from cifarzoo.models._pooled_head import check_rate
from cifarzoo.models.layers import init_weights
from cifarzoo.registry import register_model

SOURCE = ("Krizhevsky et al. 2012 / arXiv:1404.5997 (single-tower widths); 32x32 layout of "
          "icpm/pytorch-cifar10; document 004")


class AlexNet(ZooModel):
    def __init__(self, num_classes: int = 10, drop_rate: float = 0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 3, 2, 1), nn.ReLU(inplace=True), nn.MaxPool2d(2),  # 32 -> 16 -> 8
            nn.Conv2d(64, 192, 3, 1, 1), nn.ReLU(inplace=True), nn.MaxPool2d(2),  # 8 -> 4
            nn.Conv2d(192, 384, 3, 1, 1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, 3, 1, 1), nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, 3, 1, 1), nn.ReLU(inplace=True), nn.MaxPool2d(2),  # 4 -> 2
        )
        self.drop_rate = check_rate("drop_rate", drop_rate)
        self.fc1 = nn.Linear(256 * 2 * 2, 4096)
        self.fc2 = nn.Linear(4096, 4096)
        self.num_features, self.num_classes = 4096, num_classes
        self.fc = nn.Linear(4096, num_classes)
        init_weights(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The 256x2x2 map after the last pooling layer."""
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        # The paper's dropout sits before each of the two hidden FC layers.
        x = F.relu(self.fc1(F.dropout(x.flatten(1), self.drop_rate, self.training)))
        x = F.relu(self.fc2(F.dropout(x, self.drop_rate, self.training)))
        return x if pre_logits else self.fc(x)


@register_model(family="alexnet", source=SOURCE)
def alexnet(num_classes: int = 10, drop_rate: float = 0.5):
    """AlexNet for 32x32: five 3x3 convs 64-192-384-256-256, FC 4096-4096 (23.3M params)."""
    return AlexNet(num_classes, drop_rate)
