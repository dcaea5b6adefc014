"""``build_loader``: one call from (data set, split) to a ready ``Loader`` of either kind."""
from __future__ import annotations

import numpy as np

from cifarzoo.data import imagefolder
from cifarzoo.data.config import AugConfig
from cifarzoo.data.datasets import get_spec, holdout_split, load_cifar
from cifarzoo.data.device_loader import DeviceLoader
from cifarzoo.data.loader import Loader
from cifarzoo.data.torch_loader import ArrayImages, TorchLoader

KINDS = ("device", "torch")
SPLITS = ("train", "val", "test")


class _Subset:
    """Rows ``indices`` of an indexable (image, label) source."""

    def __init__(self, base, indices):
        self.base, self.indices = base, np.asarray(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        return self.base[int(self.indices[i])]


def _select_split(split: str, holdout: int, labels, num_classes: int):
    """Indices of ``split`` inside the training set, for train/val with a holdout."""
    train_idx, val_idx = holdout_split(labels, holdout, num_classes)
    return train_idx if split == "train" else val_idx


def build_loader(dataset: str, split: str, data_dir, batch_size: int, aug: AugConfig | None = None,
                 kind: str = "device", device="cpu", shuffle: bool | None = None, drop_last: bool | None = None,
                 num_workers: int = 4, rank: int = 0, world_size: int = 1, seed: int = 0,
                 holdout: int = 0, download: bool = False, channels_last: bool = False) -> Loader:
    """A loader of ``split`` ("train", "val" or "test") of ``dataset``.

    * ``dataset``: "cifar10", "cifar100", or "imagefolder:/root" (kind="torch" only; see
      ``cifarzoo.data.imagefolder``).
    * ``holdout=N`` sets N training images aside (stratified, fixed): "train" excludes them and
      "val" is them.  For an image folder with a ``val/`` folder, "val" may use it with holdout=0.
    * ``aug``: None means no augmentation (evaluation).  ``shuffle`` and ``drop_last`` default to
      True for "train" and False otherwise.
    * ``kind``: "device" (data set resident on ``device``, batched augmentation) or "torch"
      (DataLoader with ``num_workers`` workers and torchvision transforms).
    * ``rank``/``world_size``: this process's share of each global batch of
      ``batch_size * world_size`` images (see ``cifarzoo.data.plan``).
    """
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r} must be one of {KINDS}")
    if split not in SPLITS:
        raise ValueError(f"split={split!r} must be one of {SPLITS}")
    if holdout < 0:
        raise ValueError(f"holdout={holdout} must be >= 0")
    if aug is not None and not isinstance(aug, AugConfig):
        raise TypeError(f"aug must be an AugConfig or None, got {type(aug).__name__}")
    train = split == "train"
    shuffle = train if shuffle is None else shuffle
    drop_last = train if drop_last is None else drop_last
    common = dict(batch_size=batch_size, aug=aug, device=device, shuffle=shuffle, drop_last=drop_last, rank=rank,
                  world_size=world_size, seed=seed, channels_last=channels_last)

    root = imagefolder.parse_root(dataset, data_dir)
    if root is not None:
        if kind != "torch":
            raise ValueError(f"dataset={dataset!r}: image folders are read by kind='torch' only")
        return _imagefolder_loader(root, split, holdout, num_workers, common)

    spec = get_spec(dataset)
    if split == "val" and holdout == 0:
        raise ValueError("split='val' needs holdout > 0 (CIFAR has no official validation split), "
                         "e.g. holdout=5000")
    images, labels = load_cifar(dataset, "test" if split == "test" else "train", data_dir, download=download)
    if split != "test" and holdout > 0:
        keep = _select_split(split, holdout, labels, spec.num_classes)
        images, labels = images[keep], labels[keep]
    if kind == "device":
        return DeviceLoader(images, labels, num_classes=spec.num_classes, mean=spec.mean, std=spec.std, **common)
    return TorchLoader(ArrayImages(images, labels), num_classes=spec.num_classes, mean=spec.mean, std=spec.std,
                       num_workers=num_workers, **common)


def _imagefolder_loader(root, split: str, holdout: int, num_workers: int, common: dict) -> Loader:
    train_data = imagefolder.open_split(root, "train")
    mean, std = imagefolder.channel_stats(train_data)
    num_classes = len(train_data.classes)
    if split == "test":
        base = imagefolder.open_split(root, "test")
    elif split == "val" and holdout == 0:
        base = imagefolder.open_split(root, "val")
        if base is None:
            raise ValueError(f"split='val': {root} has no val/ or valid/ folder; pass holdout=N to hold "
                             f"out N training images instead")
    elif holdout > 0:
        base = _Subset(train_data, _select_split(split, holdout, np.asarray(train_data.targets), num_classes))
    else:
        base = train_data
    return TorchLoader(base, num_classes=num_classes, mean=mean, std=std, num_workers=num_workers, resize=True,
                       **common)
