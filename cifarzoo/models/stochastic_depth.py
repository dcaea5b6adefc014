"""ResNets trained with stochastic depth as in Huang et al. 2016, "Deep Networks with
Stochastic Depth" (arXiv:1603.09382).

Unlike the per-sample ``DropPath`` the other families use, this is the paper's rule: in training
each residual block is kept or dropped for the whole mini-batch (one Bernoulli draw b_l with
survival probability p_l per block and step, H_l = ReLU(b_l f_l(H_{l-1}) + id(H_{l-1}))), and at
test time the branch is scaled by p_l instead of rescaling survivors during training.  The
survival probability decays linearly, p_l = 1 - (l/L)(1 - p_L), l = 1..L, with p_L = 0.5
(``drop_path_rate`` = 1 - p_L = 0.5 by default, the paper's setting).

The dropped branch is still computed (multiplied by zero): every parameter stays in the graph,
which DDP and gradient checks need; the paper's training-time saving is not reproduced.

* ``stochastic_depth_resnet110``: the paper's CIFAR ResNet-110 (option A shortcuts), built from
  ``resnet_cifar``;
* ``stochastic_depth_resnet18``: the CIFAR ResNet-18 of ``resnet`` (3x3 stem, no max-pool), the
  model the CIFAR-tricks document (001) lists under this name.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from cifarzoo.models.resnet import BasicBlock, ResNet, ResNetConfig
from cifarzoo.models.resnet_cifar import CifarResNet
from cifarzoo.registry import register_model

SOURCE = "Huang et al. 2016, Deep Networks with Stochastic Depth (arXiv:1603.09382)"


def survival_decay_rates(drop_rate_last: float, n_blocks: int) -> list[float]:
    """Drop probabilities (l/L)(1 - p_L) for l = 1..L: the paper's linear rule, which (unlike
    ``layers.drop_path_rates``) already gives the first block a small drop probability."""
    if not 0.0 <= drop_rate_last < 1.0:
        raise ValueError(f"drop_path_rate (1 - survival probability of the last block) must be in [0, 1), "
                         f"got {drop_rate_last}")
    return [drop_rate_last * (i + 1) / n_blocks for i in range(n_blocks)]


class BatchStochasticDepth(nn.Module):
    """Keep or drop the branch for the whole batch in training; scale by the survival
    probability at test time (deterministic, no Python branching on tensor values)."""

    def __init__(self, drop_prob: float):
        super().__init__()
        if not 0.0 <= drop_prob < 1.0:
            raise ValueError(f"stochastic depth drop probability must be in [0, 1), got {drop_prob}")
        self.survival = 1.0 - drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x * self.survival if self.survival < 1.0 else x
        gate = (torch.rand((), device=x.device) < self.survival).to(x.dtype)
        return x * gate

    def extra_repr(self) -> str:
        return f"survival={self.survival:.3f}"


@register_model(family="stochastic_depth", source=SOURCE)
def stochastic_depth_resnet18(num_classes: int = 10, drop_path_rate: float = 0.5, zero_init_residual: bool = False):
    """CIFAR ResNet-18 (3x3 stem, no max-pool) with per-batch stochastic depth, p_L = 0.5."""
    rates = survival_decay_rates(drop_path_rate, 8)
    return ResNet(ResNetConfig(BasicBlock, (2, 2, 2, 2)), num_classes, zero_init_residual=zero_init_residual,
                  drop_layer=BatchStochasticDepth, block_rates=rates)


@register_model(family="stochastic_depth", source=SOURCE)
def stochastic_depth_resnet110(num_classes: int = 10, drop_path_rate: float = 0.5, zero_init_residual: bool = False):
    """CIFAR ResNet-110 of Huang et al. 2016 with linear decay to p_L = 0.5 (1.7M params)."""
    model = CifarResNet(110, num_classes, zero_init_residual=zero_init_residual)
    blocks = [b for stage in model.stages for b in stage]
    # resnet_cifar blocks hold their branch dropper as ``drop_path``; swap in the paper's gate
    for block, rate in zip(blocks, survival_decay_rates(drop_path_rate, len(blocks))):
        block.drop_path = BatchStochasticDepth(rate)
    return model
