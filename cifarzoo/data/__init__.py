"""CIFAR data: reading the pickles, augmentation, and two interchangeable loaders.

    from cifarzoo.data import AugConfig, build_loader
    loader = build_loader("cifar10", "train", "~/data", batch_size=128, aug=AugConfig(cutout=16),
                          kind="device", device="cuda")
    for epoch in range(epochs):
        loader.set_epoch(epoch)
        for x, y in loader:     # x float32 (N, 3, 32, 32) normalized on the device, y int64 (N,)
            ...

* ``kind="device"`` keeps the uint8 data set on the device and augments whole batches with tensor
  ops (fast, no workers); ``kind="torch"`` is a classic DataLoader with torchvision transforms
  (and reads any ImageFolder).  Both follow the same batch plan (``plan.py``).
* Augmentation knobs: ``AugConfig`` (``config.py``); batch mixing and the soft-target loss:
  ``mix.py``.
"""
from cifarzoo.data.build import build_loader
from cifarzoo.data.config import AugConfig
from cifarzoo.data.datasets import DATASETS, DatasetSpec, holdout_split, load_cifar
from cifarzoo.data.device_loader import DeviceLoader
from cifarzoo.data.loader import Loader
from cifarzoo.data.mix import BatchMixer, soft_cross_entropy
from cifarzoo.data.torch_loader import TorchLoader

__all__ = ["AugConfig", "BatchMixer", "DATASETS", "DatasetSpec", "DeviceLoader", "Loader", "TorchLoader",
           "build_loader", "holdout_split", "load_cifar", "soft_cross_entropy"]
