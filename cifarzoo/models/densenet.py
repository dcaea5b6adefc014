"""DenseNet-BC (Huang et al. 2017, arXiv:1608.06993) for 32x32 inputs.

Every dense layer is the "B" bottleneck BN-ReLU-Conv1x1(4k)-BN-ReLU-Conv3x3(k) whose k new maps are
concatenated to all earlier ones; transitions ("C", compression 0.5) are BN-ReLU-Conv1x1-AvgPool2.
The stem is one 3x3 convolution with 2k outputs (no stride, no pooling), and the net ends with
BN-ReLU, global average pooling and a linear classifier.

Two layouts share that code:
* the paper's CIFAR DenseNet-BC: three dense blocks of (depth-4)/6 layers on 32/16/8 maps
  (``densenet_bc100_k12``, ``densenet_bc250_k24``, ``densenet_bc190_k40``, Table 2);
* the ImageNet block lists [6,12,24,16] etc. on the same CIFAR stem, four blocks on 32/16/8/4 maps,
  as in kuangliu/pytorch-cifar, which document 004 trained with k = 12/16/24/32.

``memory_efficient=True`` recomputes the concatenation + first BN-ReLU-Conv of each layer in the
backward pass instead of storing it (Pleiss et al. 2017, arXiv:1707.06990): same outputs and
gradients, activation memory linear instead of quadratic in the block depth, at the cost of
recomputing one BN-ReLU-Conv1x1 per layer (15-20 % more time in Pleiss et al.).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from cifarzoo.models._pooled_head import PooledDropoutModel, check_rate
from cifarzoo.models.layers import init_weights
from cifarzoo.registry import register_model

PAPER = "Huang et al. 2017, Densely Connected Convolutional Networks (arXiv:1608.06993)"
KUANGLIU = PAPER + "; CIFAR layout of kuangliu/pytorch-cifar (document 004)"


@dataclass(frozen=True)
class DenseNetConfig:
    blocks: tuple[int, ...]  # dense layers per block
    growth: int  # k: maps each layer adds
    compression: float = 0.5  # theta: transition keeps floor(theta * m) maps
    bottleneck: int = 4  # the 1x1 conv of a layer outputs bottleneck * k maps

    def __post_init__(self):
        if not self.blocks or any(n < 1 for n in self.blocks):
            raise ValueError(f"DenseNet blocks must be positive layer counts, got {self.blocks}")
        if self.growth < 1:
            raise ValueError(f"DenseNet growth rate must be >= 1, got {self.growth}")
        if not 0.0 < self.compression <= 1.0:
            raise ValueError(f"DenseNet compression must be in (0, 1], got {self.compression}")


def bc_config(depth: int, growth: int) -> DenseNetConfig:
    """The paper's CIFAR DenseNet-BC: 3 blocks, depth = 6n + 4 (each layer holds two convs)."""
    if (depth - 4) % 6:
        raise ValueError(f"CIFAR DenseNet-BC depth must be 6n+4, got {depth}")
    n = (depth - 4) // 6
    return DenseNetConfig(blocks=(n, n, n), growth=growth)


class DenseLayer(nn.Module):
    def __init__(self, in_ch: int, growth: int, bottleneck: int, memory_efficient: bool):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_ch)
        self.conv1 = nn.Conv2d(in_ch, bottleneck * growth, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bottleneck * growth)
        self.conv2 = nn.Conv2d(bottleneck * growth, growth, 3, 1, 1, bias=False)
        self.memory_efficient = memory_efficient

    def _bottleneck(self, feats: list[torch.Tensor]) -> torch.Tensor:
        # in-place ReLU: batch norm's backward does not need its output (saves one allocation)
        return self.conv1(F.relu(self.norm1(torch.cat(feats, 1)), inplace=True))

    def _bottleneck_recomputed(self, feats: list[torch.Tensor]) -> torch.Tensor:
        calls = [0]
        norm = self.norm1

        def run(*fs: torch.Tensor) -> torch.Tensor:
            calls[0] += 1
            x = torch.cat(fs, 1)
            if calls[0] > 1 and norm.training and norm.track_running_stats:
                # The backward pass re-runs this function.  The batch statistics are the same as in
                # the forward pass, but the running averages must not move twice: run the same op
                # (the checkpoint checks that it saves the same tensors) on throw-away copies.
                x = F.batch_norm(x, norm.running_mean.clone(), norm.running_var.clone(), norm.weight, norm.bias,
                                 True, 0.0, norm.eps)
            else:
                x = norm(x)
            return self.conv1(F.relu(x))

        return checkpoint(run, *feats, use_reentrant=False)

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        """Takes all earlier feature maps of the block and returns the ``growth`` new ones."""
        if self.memory_efficient and self.training and any(f.requires_grad for f in feats):
            out = self._bottleneck_recomputed(feats)
        else:
            out = self._bottleneck(feats)
        return self.conv2(F.relu(self.norm2(out), inplace=True))


class DenseBlock(nn.Module):
    def __init__(self, n_layers: int, in_ch: int, growth: int, bottleneck: int, memory_efficient: bool):
        super().__init__()
        self.layers = nn.ModuleList(
            DenseLayer(in_ch + i * growth, growth, bottleneck, memory_efficient) for i in range(n_layers))
        self.out_channels = in_ch + n_layers * growth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # keep the pieces in a list and concatenate once per layer input, never the running result
        feats = [x]
        for layer in self.layers:
            feats.append(layer(feats))
        return torch.cat(feats, 1)


class Transition(nn.Sequential):
    def __init__(self, in_ch: int, out_ch: int):
        super().__init__(nn.BatchNorm2d(in_ch), nn.ReLU(inplace=True), nn.Conv2d(in_ch, out_ch, 1, bias=False),
                         nn.AvgPool2d(2))


class DenseNet(PooledDropoutModel):
    def __init__(self, cfg: DenseNetConfig, num_classes: int = 10, drop_rate: float = 0.0,
                 memory_efficient: bool = False):
        super().__init__()
        k = cfg.growth
        ch = 2 * k  # the paper's stem width for DenseNet-BC
        self.stem = nn.Conv2d(3, ch, 3, 1, 1, bias=False)
        stages: list[nn.Module] = []
        for i, n in enumerate(cfg.blocks):
            block = DenseBlock(n, ch, k, cfg.bottleneck, memory_efficient)
            stages.append(block)
            ch = block.out_channels
            if i < len(cfg.blocks) - 1:
                out = int(math.floor(cfg.compression * ch))
                stages.append(Transition(ch, out))
                ch = out
        self.features = nn.Sequential(*stages)
        self.norm = nn.BatchNorm2d(ch)
        self.drop_rate = check_rate("drop_rate", drop_rate)
        self.num_features, self.num_classes = ch, num_classes
        self.fc = nn.Linear(ch, num_classes)
        init_weights(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.norm(self.features(self.stem(x))))


def _densenet(cfg: DenseNetConfig, num_classes: int, drop_rate: float, memory_efficient: bool) -> DenseNet:
    return DenseNet(cfg, num_classes, drop_rate=drop_rate, memory_efficient=memory_efficient)


@register_model(family="densenet", source=KUANGLIU)
def densenet121(num_classes: int = 10, drop_rate: float = 0.0, memory_efficient: bool = False):
    """DenseNet-121 on the CIFAR stem: blocks [6,12,24,16], k=32 (6.96M params)."""
    return _densenet(DenseNetConfig((6, 12, 24, 16), 32), num_classes, drop_rate, memory_efficient)


@register_model(family="densenet", source=KUANGLIU)
def densenet121_k12(num_classes: int = 10, drop_rate: float = 0.0, memory_efficient: bool = False):
    """DenseNet-121 blocks [6,12,24,16] with growth k=12 (document 004, 93.51 %)."""
    return _densenet(DenseNetConfig((6, 12, 24, 16), 12), num_classes, drop_rate, memory_efficient)


@register_model(family="densenet", source=KUANGLIU)
def densenet121_k16(num_classes: int = 10, drop_rate: float = 0.0, memory_efficient: bool = False):
    """DenseNet-121 blocks [6,12,24,16] with growth k=16 (document 004, 94.11 %)."""
    return _densenet(DenseNetConfig((6, 12, 24, 16), 16), num_classes, drop_rate, memory_efficient)


@register_model(family="densenet", source=KUANGLIU)
def densenet121_k24(num_classes: int = 10, drop_rate: float = 0.0, memory_efficient: bool = False):
    """DenseNet-121 blocks [6,12,24,16] with growth k=24 (document 004, 94.34 %)."""
    return _densenet(DenseNetConfig((6, 12, 24, 16), 24), num_classes, drop_rate, memory_efficient)


@register_model(family="densenet", source=KUANGLIU)
def densenet169(num_classes: int = 10, drop_rate: float = 0.0, memory_efficient: bool = False):
    """DenseNet-169 on the CIFAR stem: blocks [6,12,32,32], k=32."""
    return _densenet(DenseNetConfig((6, 12, 32, 32), 32), num_classes, drop_rate, memory_efficient)


@register_model(family="densenet", source=KUANGLIU)
def densenet201(num_classes: int = 10, drop_rate: float = 0.0, memory_efficient: bool = False):
    """DenseNet-201 on the CIFAR stem: blocks [6,12,48,32], k=32."""
    return _densenet(DenseNetConfig((6, 12, 48, 32), 32), num_classes, drop_rate, memory_efficient)


@register_model(family="densenet", source=KUANGLIU)
def densenet161(num_classes: int = 10, drop_rate: float = 0.0, memory_efficient: bool = False):
    """DenseNet-161 on the CIFAR stem: blocks [6,12,36,24], k=48."""
    return _densenet(DenseNetConfig((6, 12, 36, 24), 48), num_classes, drop_rate, memory_efficient)


@register_model(family="densenet", source=PAPER + ", Table 2")
def densenet_bc100_k12(num_classes: int = 10, drop_rate: float = 0.0, memory_efficient: bool = False):
    """CIFAR DenseNet-BC, depth 100, k=12: three blocks of 16 layers (0.8M params)."""
    return _densenet(bc_config(100, 12), num_classes, drop_rate, memory_efficient)


@register_model(family="densenet", source=PAPER + ", Table 2")
def densenet_bc250_k24(num_classes: int = 10, drop_rate: float = 0.0, memory_efficient: bool = False):
    """CIFAR DenseNet-BC, depth 250, k=24: three blocks of 41 layers (15.3M params)."""
    return _densenet(bc_config(250, 24), num_classes, drop_rate, memory_efficient)


@register_model(family="densenet", source=PAPER + ", Table 2")
def densenet_bc190_k40(num_classes: int = 10, drop_rate: float = 0.0, memory_efficient: bool = False):
    """CIFAR DenseNet-BC, depth 190, k=40: three blocks of 31 layers (25.6M params)."""
    return _densenet(bc_config(190, 40), num_classes, drop_rate, memory_efficient)
