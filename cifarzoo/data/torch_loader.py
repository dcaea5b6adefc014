"""``kind="torch"``: a ``torch.utils.data`` Dataset + DataLoader with per-image torchvision transforms.

Batches follow the same ``EpochPlan`` as the device path (``PlanSampler``, a ``DistributedSampler``
whose order and rank split are the plan's), so both kinds visit the same images in the same
batches.  The sampler hands each image its own seed, drawn from (seed, epoch) per epoch position;
the data set seeds torch's generator with it before the transforms run.  Augmentation is therefore
a pure function of (seed, epoch), independent of ``num_workers``, of persistent workers carrying
state between epochs, and of ``skip``.

Workers are persistent, memory is pinned when the target device is CUDA, and each worker runs
single-threaded (32x32 images gain nothing from intra-op threads).  Batch mixing runs on the
collated batch in the main process, with ``mix.py`` like the device path.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, DistributedSampler, get_worker_info

from cifarzoo.data.config import AugConfig
from cifarzoo.data.loader import Loader
from cifarzoo.data.plan import STREAM_SAMPLE, EpochPlan, make_generator
from cifarzoo.data.transforms import build_transform


class ArrayImages:
    """(PIL image, label) pairs from uint8 (N, H, W, 3) arrays."""

    def __init__(self, images: np.ndarray, labels: np.ndarray):
        self.images, self.labels = images, np.asarray(labels, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return Image.fromarray(self.images[i]), int(self.labels[i])


class SeededDataset(Dataset):
    """Applies ``transform`` to ``base[i]`` with torch's RNG seeded by the key's seed.

    Keys are ``(index, seed)`` pairs from ``PlanSampler``.  In the main process (num_workers=0)
    the global RNG state is saved and restored around the transform, so the caller's stream
    (model init, dropout) is untouched.
    """

    def __init__(self, base, transform):
        self.base, self.transform = base, transform

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, key):
        index, seed = key
        img, label = self.base[index]
        # the transforms draw from the CPU default generator only; seeding just that one is ~100x
        # cheaper than torch.manual_seed, which also queues seeds for every accelerator backend
        cpu = torch.default_generator
        saved = cpu.get_state() if get_worker_info() is None else None
        cpu.manual_seed(seed)
        try:
            x = self.transform(img)
        finally:
            if saved is not None:
                cpu.set_state(saved)
        return x, label


class PlanSampler(DistributedSampler):
    """Yields ``(index, seed)`` for this rank's images of the epoch, from batch ``start_batch`` on."""

    def __init__(self, dataset, plan: EpochPlan):
        super().__init__(dataset, num_replicas=plan.world_size, rank=plan.rank, shuffle=plan.shuffle,
                         seed=plan.seed, drop_last=plan.drop_last)
        self.plan = plan
        self.start_batch = 0

    def __iter__(self):
        plan = self.plan
        order = plan.order(self.epoch)
        seeds = torch.randint(0, 2**62, (len(order),), generator=make_generator(plan.seed, self.epoch, STREAM_SAMPLE))
        for batch in range(self.start_batch, plan.num_batches):
            g_start, _ = plan.global_range(batch)
            lo, hi = plan.rank_rows(batch)
            for pos in range(g_start + lo, g_start + hi):
                yield int(order[pos]), int(seeds[pos])

    def __len__(self) -> int:
        return sum(hi - lo for lo, hi in map(self.plan.rank_rows, range(self.start_batch, self.plan.num_batches)))


def _worker_init(_worker_id: int) -> None:
    torch.set_num_threads(1)


class TorchLoader(Loader):
    """A DataLoader over ``base`` (anything yielding (PIL image, label)) behind the Loader interface."""

    def __init__(self, base, *, num_classes: int, mean, std, batch_size: int, aug: AugConfig | None = None,
                 device="cpu", shuffle: bool = True, drop_last: bool = True, rank: int = 0, world_size: int = 1,
                 seed: int = 0, channels_last: bool = False, num_workers: int = 4, resize: bool = False,
                 image_size: int = 32):
        super().__init__(dataset_size=len(base), num_classes=num_classes, batch_size=batch_size, aug=aug,
                         device=device, shuffle=shuffle, drop_last=drop_last, rank=rank, world_size=world_size,
                         seed=seed, channels_last=channels_last)
        if num_workers < 0:
            raise ValueError(f"num_workers={num_workers} must be >= 0")
        self.transform = build_transform(aug, mean, std, image_size=image_size, resize=resize)
        self.dataset = SeededDataset(base, self.transform)
        self.sampler = PlanSampler(self.dataset, self.plan)
        self._generator = torch.Generator()
        self.dataloader = DataLoader(
            self.dataset, batch_size=batch_size, sampler=self.sampler, num_workers=num_workers,
            pin_memory=self.device.type == "cuda", drop_last=False,  # the plan already dropped
            persistent_workers=num_workers > 0, worker_init_fn=_worker_init if num_workers > 0 else None,
            generator=self._generator)

    def _batches(self, start: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        self.sampler.set_epoch(self.epoch)
        self.sampler.start_batch = start
        # only worker base seeds come from here; per-image seeds come from the sampler
        self._generator.manual_seed(make_generator(self.seed, self.epoch, STREAM_SAMPLE).initial_seed())
        non_blocking = self.device.type == "cuda"
        for batch, (x, y) in enumerate(self.dataloader, start):
            x = x.to(self.device, non_blocking=non_blocking)
            y = y.to(self.device, non_blocking=non_blocking)
            yield self._finish(x, y, batch)
