"""LeNet-5 (LeCun et al. 1998) on 32x32 RGB, in the CIFAR form of kuangliu/pytorch-cifar that
document 004 trained (74.74 %, 62,006 parameters).

Two 5x5 valid convolutions (6 and 16 maps), each followed by ReLU and 2x2 max-pooling, turn a
3x32x32 image into a 16x5x5 map; three fully connected layers 400-120-84-classes classify it.
Modern substitutions, as in the document: ReLU for the scaled tanh, max- for trainable average
pooling, and a full C3 connection table instead of the paper's sparse one.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from cifarzoo.models._base import ZooModel
from cifarzoo.models.layers import init_weights
from cifarzoo.registry import register_model

SOURCE = "LeCun et al. 1998, Gradient-Based Learning Applied to Document Recognition; kuangliu/pytorch-cifar"


class LeNet(ZooModel):
    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.num_features, self.num_classes = 84, num_classes
        self.fc = nn.Linear(84, num_classes)
        init_weights(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The 16x5x5 map after the second pooling layer."""
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        return F.max_pool2d(F.relu(self.conv2(x)), 2)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        # The hidden FC layers belong to the head: their input is the flattened map, not a pooled one.
        x = F.relu(self.fc1(x.flatten(1)))
        x = F.relu(self.fc2(x))
        return x if pre_logits else self.fc(x)


@register_model(family="lenet", source=SOURCE)
def lenet(num_classes: int = 10):
    """LeNet-5 for 32x32 RGB: convs 6/16 (5x5), FC 120/84 (62,006 params)."""
    return LeNet(num_classes)
