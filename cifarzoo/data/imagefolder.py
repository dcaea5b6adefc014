"""Any image-classification folder as a data set for the ``kind="torch"`` loader.

Name it ``dataset="imagefolder:/path/to/root"`` (or ``dataset="imagefolder"`` with
``data_dir=/path/to/root``).  The root holds one folder per split in the
``torchvision.datasets.ImageFolder`` layout (``<split>/<class name>/<image file>``)::

    root/train/<class>/*.png      required
    root/test/<class>/*.png       for split="test"
    root/val/ or root/valid/      for split="val" when holdout=0 (CINIC-10 calls it "valid")

Classes are the sorted sub-folder names of ``train/``; the other splits must have the same ones.
Images of another size are resized (shorter side) and centre-cropped to 32x32 before augmentation.
Normalization uses the per-channel mean/std of up to ``STATS_IMAGES`` training images spread
evenly over the folder, computed when the loader is built.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

STATS_IMAGES = 2000
PREFIX = "imagefolder"


def parse_root(dataset: str, data_dir) -> Path | None:
    """The root of an ``imagefolder`` data set name, or None if ``dataset`` is not one."""
    if dataset == PREFIX:
        if data_dir is None:
            raise ValueError("dataset='imagefolder' needs data_dir (the folder holding train/ and test/)")
        return Path(data_dir).expanduser()
    if dataset.startswith(PREFIX + ":"):
        return Path(dataset[len(PREFIX) + 1:]).expanduser()
    return None


def split_folder(root: Path, split: str) -> Path | None:
    """The folder of ``split`` under ``root`` (None for a missing val folder)."""
    names = {"train": ["train"], "test": ["test"], "val": ["val", "valid"]}[split]
    for name in names:
        if (root / name).is_dir():
            return root / name
    if split == "val":
        return None
    raise FileNotFoundError(f"image folder data set: expected the folder {root / names[0]} "
                            f"(layout root/{names[0]}/<class>/<images>, see cifarzoo.data.imagefolder)")


def open_split(root: Path, split: str):
    """``torchvision.datasets.ImageFolder`` of a split (yields (PIL RGB image, class index))."""
    from torchvision.datasets import ImageFolder

    folder = split_folder(root, split)
    if folder is None:
        return None
    data = ImageFolder(str(folder))
    if split != "train":
        train_classes = sorted(p.name for p in split_folder(root, "train").iterdir() if p.is_dir())
        if data.classes != train_classes:
            raise ValueError(f"{folder} has classes {data.classes[:5]}... but train/ has {train_classes[:5]}...; "
                             f"every split needs the same class folders")
    return data


def channel_stats(data, image_size: int = 32) -> tuple[tuple, tuple]:
    """Per-channel mean and std in [0, 1] of up to STATS_IMAGES images of ``data``."""
    import torchvision.transforms as T

    to_tensor = T.Compose([T.Resize(image_size), T.CenterCrop(image_size), T.ToTensor()])
    picks = np.linspace(0, len(data) - 1, num=min(STATS_IMAGES, len(data))).round().astype(int)
    pixels = torch.stack([to_tensor(data[int(i)][0]) for i in np.unique(picks)])
    flat = pixels.transpose(0, 1).reshape(3, -1).double()
    return tuple(flat.mean(1).tolist()), tuple(flat.std(1).tolist())
