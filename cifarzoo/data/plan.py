"""Which samples each rank gets in each batch, and the seeds of everything random.

Both loader kinds share this plan, so for the same arguments they visit the same images in the
same batches on the same ranks (only the per-image augmentation code differs).

* Epoch order: ``randperm(N)`` from a CPU generator seeded by (seed, epoch) (``arange`` when not
  shuffling).
* Global batches: consecutive runs of ``G = batch_size * world_size`` positions of that order.
  Rank r takes the contiguous rows ``[r * batch_size, (r + 1) * batch_size)`` of each, so the ranks
  of a 2-process run together see exactly the batches of a 1-process run with batch 2b.
* ``drop_last`` drops the final partial global batch.  Otherwise a final partial batch of ``m``
  images is padded to a multiple of ``world_size`` by repeating the first images of the epoch
  order (as ``DistributedSampler`` does) and split evenly, so every rank runs the same number of
  steps (``num_padded`` says how many repeats; 0 with one process).
* Seeds: every random draw comes from a generator seeded by a hash of (seed, epoch, batch, ...,
  stream), so any batch can be reproduced on its own: resuming mid-epoch needs no replay.
"""
from __future__ import annotations

import math

import numpy as np
import torch

STREAM_ORDER, STREAM_AUG, STREAM_MIX, STREAM_SAMPLE = 0, 1, 2, 3


def derive_seed(*parts: int) -> int:
    """A 63-bit seed that depends on every part (numpy's SeedSequence hash)."""
    state = np.random.SeedSequence([int(p) & 0xFFFFFFFFFFFFFFFF for p in parts]).generate_state(2, np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


def make_generator(*parts: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded by ``derive_seed(*parts)``."""
    return torch.Generator().manual_seed(derive_seed(*parts))


class EpochPlan:
    """Batch layout of one rank; see the module docstring."""

    def __init__(self, n: int, batch_size: int, world_size: int = 1, rank: int = 0, shuffle: bool = True,
                 drop_last: bool = True, seed: int = 0):
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size} must be >= 1")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank={rank} must be in 0..world_size-1 (world_size={world_size})")
        self.n, self.batch_size, self.world_size, self.rank = n, batch_size, world_size, rank
        self.shuffle, self.drop_last, self.seed = shuffle, drop_last, seed
        self.global_batch = batch_size * world_size
        if drop_last:
            self.num_batches = n // self.global_batch
            self.num_padded = 0
            if self.num_batches == 0:
                raise ValueError(f"no full batch: batch_size={batch_size} x world_size={world_size} = "
                                 f"{self.global_batch} is more than the {n} images (use a smaller batch_size "
                                 f"or drop_last=False)")
        else:
            self.num_batches = math.ceil(n / self.global_batch)
            tail = n - (self.num_batches - 1) * self.global_batch
            self.num_padded = math.ceil(tail / world_size) * world_size - tail

    def order(self, epoch: int) -> torch.Tensor:
        """Data-set index of every position of the epoch (padding positions included), int64 CPU."""
        if self.shuffle:
            order = torch.randperm(self.n, generator=make_generator(self.seed, epoch, STREAM_ORDER))
        else:
            order = torch.arange(self.n)
        if self.num_padded:
            order = torch.cat([order, order[:self.num_padded].repeat(math.ceil(self.num_padded / self.n))[
                :self.num_padded]])
        return order

    def global_range(self, batch: int) -> tuple[int, int]:
        """Positions [start, end) of global batch ``batch`` (padding included)."""
        start = batch * self.global_batch
        return start, min(start + self.global_batch, self.n + self.num_padded)

    def rank_rows(self, batch: int) -> tuple[int, int]:
        """Rows [lo, hi) of this rank inside global batch ``batch``."""
        start, end = self.global_range(batch)
        per_rank = (end - start) // self.world_size  # batch_size except for a padded final batch
        return self.rank * per_rank, (self.rank + 1) * per_rank
