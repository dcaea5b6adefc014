"""The ``Loader`` interface both loader kinds implement.

A loader yields ``(x, y)`` per step: ``x`` float32 normalized (N, 3, 32, 32) on the loader's device
(channels-last memory format if asked), ``y`` int64 labels (N,), or float soft targets
(N, num_classes) summing to 1 when a batch-mixing augmentation is configured.

Everything random is a pure function of (seed, epoch): call ``set_epoch(e)`` before each epoch
(like ``DistributedSampler``; the epoch does not advance by itself), and ``skip(k)`` before
``iter()`` to resume after k batches of that epoch.  ``skip`` affects only the next iteration.
"""
from __future__ import annotations

from typing import Iterator

import torch

from cifarzoo.data.config import AugConfig
from cifarzoo.data.mix import BatchMixer
from cifarzoo.data.plan import STREAM_MIX, EpochPlan, make_generator


class Loader:
    """Base class: batch layout (``EpochPlan``), epoch/skip state, mixing and output format."""

    def __init__(self, *, dataset_size: int, num_classes: int, batch_size: int, aug: AugConfig | None,
                 device, shuffle: bool, drop_last: bool, rank: int, world_size: int, seed: int,
                 channels_last: bool):
        self.num_classes = num_classes
        self.batch_size = batch_size
        self.dataset_size = dataset_size
        self.aug = aug
        self.device = torch.device(device)
        self.seed = seed
        self.rank, self.world_size = rank, world_size
        self.channels_last = channels_last
        self.plan = EpochPlan(dataset_size, batch_size, world_size, rank, shuffle, drop_last, seed)
        self.mixer = BatchMixer(aug, num_classes)
        self.epoch = 0
        self._skip = 0

    @property
    def num_padded(self) -> int:
        """Repeated images in the last batch of an epoch (multi-process, drop_last=False only)."""
        return self.plan.num_padded

    def __len__(self) -> int:
        """Batches per epoch on this rank."""
        return self.plan.num_batches

    def set_epoch(self, epoch: int) -> None:
        if epoch < 0:
            raise ValueError(f"epoch={epoch} must be >= 0")
        self.epoch = int(epoch)

    def skip(self, n_batches: int) -> None:
        """The next ``__iter__`` starts after ``n_batches`` batches of the current epoch."""
        if not 0 <= n_batches <= len(self):
            raise ValueError(f"skip({n_batches}): must be between 0 and the {len(self)} batches of an epoch")
        self._skip = int(n_batches)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        start, self._skip = self._skip, 0
        return self._batches(start)

    def _batches(self, start: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        raise NotImplementedError

    def _finish(self, x: torch.Tensor, y: torch.Tensor, batch: int):
        """Batch mixing (on this rank's batch) and memory format: the last step of both kinds."""
        if self.mixer.enabled:
            x, y = self.mixer(x, y, make_generator(self.seed, self.epoch, batch, self.rank, STREAM_MIX))
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, y

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(size={self.dataset_size}, batch_size={self.batch_size}, "
                f"batches={len(self)}, rank={self.rank}/{self.world_size}, device={self.device}, aug={self.aug})")
