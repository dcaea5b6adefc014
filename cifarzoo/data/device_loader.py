"""``kind="device"``: the whole uint8 data set lives as one tensor on the device (GPU or CPU).

CIFAR's 50,000 training images are 150 MB as uint8, so they fit on any GPU; each step gathers one
batch by index and augments it with batched tensor ops (``batch_aug.py``), with no worker
processes, no per-image Python and no host-to-device copy of pixels.

Per global batch, augmentation parameters are drawn on the CPU from a generator seeded by
(seed, epoch, batch) for all ``batch_size * world_size`` images, and each rank applies the rows
of its own slice: a DDP run sees exactly the images and crops of a single-process run with the
global batch size.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

from cifarzoo.data.batch_aug import BatchAugmenter
from cifarzoo.data.config import AugConfig
from cifarzoo.data.loader import Loader
from cifarzoo.data.plan import STREAM_AUG, make_generator


class DeviceLoader(Loader):
    """Batches gathered from a device-resident uint8 tensor, augmented on the device."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, *, num_classes: int, mean, std, batch_size: int,
                 aug: AugConfig | None = None, device="cpu", shuffle: bool = True, drop_last: bool = True,
                 rank: int = 0, world_size: int = 1, seed: int = 0, channels_last: bool = False):
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] != 3:
            raise ValueError(f"images must be uint8 (N, H, W, 3), got {images.dtype} {images.shape}")
        if len(labels) != len(images):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        super().__init__(dataset_size=len(images), num_classes=num_classes, batch_size=batch_size, aug=aug,
                         device=device, shuffle=shuffle, drop_last=drop_last, rank=rank, world_size=world_size,
                         seed=seed, channels_last=channels_last)
        # NCHW once, so every batch is a plain index_select
        self.images = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous().to(self.device)
        self.labels = torch.as_tensor(np.asarray(labels), dtype=torch.int64).to(self.device)
        self.augmenter = BatchAugmenter(aug, mean, std, image_size=images.shape[1])

    def _batches(self, start: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        plan, epoch = self.plan, self.epoch
        order = plan.order(epoch)
        for batch in range(start, len(self)):
            g_start, g_end = plan.global_range(batch)
            lo, hi = plan.rank_rows(batch)
            idx = order[g_start + lo:g_start + hi].to(self.device, non_blocking=True)
            x = self.images.index_select(0, idx)
            y = self.labels.index_select(0, idx)
            params = self.augmenter.sample(g_end - g_start, make_generator(self.seed, epoch, batch, STREAM_AUG))
            if self.world_size > 1:
                params = params.slice(lo, hi)
            yield self._finish(self.augmenter(x, params), y, batch)
