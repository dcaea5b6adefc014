"""CIFAR-10/100 on disk: the data set table and a reader for the official python-pickle layout.

``load_cifar`` reads the pickles itself (``pickle.load(f, encoding="latin1")``) instead of going
through ``torchvision.datasets``: torchvision checks md5 sums of the CIFAR-100 files, and the
project's shared copy has the official CIFAR-100 format in another image order, so only a reader of
our own accepts both.  ``download=True`` is the one place torchvision is used: it fetches and
md5-checks the official archive, then the pickles are read here as usual.

Layout under ``data_dir`` (what the official archives unpack to)::

    cifar-10-batches-py/data_batch_1 .. data_batch_5, test_batch     keys: data (N, 3072) uint8, labels
    cifar-100-python/train, test                                     keys: data, fine_labels, coarse_labels

Each row of ``data`` is one image: the 1024 red values, then green, then blue, each row-major.

``holdout_split`` carves a fixed validation subset out of a training set (CIFAR has no official
validation split); it is stratified by class and seeded by a constant, so every run, seed and
rank agrees on which images are held out.
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HOLDOUT_SEED = 20_240_601  # constant on purpose: the held-out images must not depend on the run's seed

_GET_IT = ("get it with download=True (CLI: --download), or export this project's shared copy with "
           "`python cifar.py export DIR` (cifar.py sits in the shared data folder) and pass DIR as data_dir")


@dataclass(frozen=True)
class DatasetSpec:
    """What a loader needs to know about a data set: classes, train-set channel statistics, folder."""

    name: str
    num_classes: int
    mean: tuple  # per-channel mean of the training images in [0, 1], RGB order
    std: tuple   # per-channel standard deviation of the training images in [0, 1]
    folder: str  # sub-folder of data_dir holding the pickles


DATASETS: dict[str, DatasetSpec] = {
    # statistics: the values every CIFAR repository uses, re-checked against the real data in the tests
    "cifar10": DatasetSpec("cifar10", 10, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), "cifar-10-batches-py"),
    "cifar100": DatasetSpec("cifar100", 100, (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762), "cifar-100-python"),
}

# file names and label key of each split, per data set
_FILES = {
    "cifar10": {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]},
    "cifar100": {"train": ["train"], "test": ["test"]},
}
_LABEL_KEY = {"cifar10": "labels", "cifar100": "fine_labels"}


def get_spec(dataset: str) -> DatasetSpec:
    """The ``DatasetSpec`` of a CIFAR data set name, with a helpful error for anything else."""
    try:
        return DATASETS[dataset]
    except KeyError:
        raise ValueError(f"dataset {dataset!r} is not known; choose one of {sorted(DATASETS)} "
                         f"(or 'imagefolder:/path' with kind='torch')") from None


def _read_pickle(path: Path, label_key: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="latin1")
        data = np.asarray(batch["data"], dtype=np.uint8)
        labels = np.asarray(batch[label_key], dtype=np.int64)
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
        raise ValueError(f"{path} is not a readable CIFAR pickle ({type(e).__name__}: {e}); delete it and "
                         f"{_GET_IT}") from e
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise ValueError(f"{path} has data of shape {data.shape} and {len(labels)} labels; expected (N, 3072) "
                         f"and N labels. Delete it and {_GET_IT}")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"{path} has labels outside 0..{num_classes - 1}; delete it and {_GET_IT}")
    # rows are R plane, G plane, B plane (each 32x32 row-major) -> NHWC
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images, labels


def _download(dataset: str, root: Path) -> None:
    import torchvision.datasets as tvd

    cls = {"cifar10": tvd.CIFAR10, "cifar100": tvd.CIFAR100}[dataset]
    root.mkdir(parents=True, exist_ok=True)
    cls(str(root), train=True, download=True)  # fetches the official archive once and checks its md5


def load_cifar(dataset: str, split: str, data_dir, download: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 (N, 32, 32, 3) RGB and labels int64 (N,) of ``split`` ("train" or "test").

    CIFAR-100 labels are the 100 fine labels.  A missing folder raises ``FileNotFoundError`` and an
    unreadable file ``ValueError``; both name the file expected and how to get it.
    """
    spec = get_spec(dataset)
    if split not in ("train", "test"):
        raise ValueError(f"split {split!r} is not a CIFAR split; use 'train' or 'test' "
                         f"(a validation set comes from build_loader(..., holdout=N))")
    if data_dir is None:
        raise FileNotFoundError(f"data_dir is None: pass the folder that holds {spec.folder}/ ({_GET_IT})")
    root = Path(data_dir).expanduser()
    folder = root / spec.folder
    files = [folder / name for name in _FILES[dataset][split]]
    if download and not all(p.is_file() for p in files):
        _download(dataset, root)
    missing = [p for p in files if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{dataset} {split} split not found: expected {missing[0]} "
                                f"(the python-pickle layout {spec.folder}/ under data_dir={root}); {_GET_IT}")
    parts = [_read_pickle(p, _LABEL_KEY[dataset], spec.num_classes) for p in files]
    images = np.ascontiguousarray(np.concatenate([p[0] for p in parts]))
    labels = np.concatenate([p[1] for p in parts])
    return images, labels


def holdout_split(labels: np.ndarray, holdout: int, num_classes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train_idx, val_idx)``: ``holdout`` images set aside as a validation set.

    Stratified: each class gives its share of ``holdout`` (largest remainders get the rounding), so
    a 5000-image CIFAR-10 holdout is 500 per class.  Both index arrays are sorted.
    """
    labels = np.asarray(labels)
    n = len(labels)
    if not 0 < holdout < n:
        raise ValueError(f"holdout={holdout} must be between 1 and {n - 1} (the training set has {n} images)")
    num_classes = int(labels.max()) + 1 if num_classes is None else num_classes
    counts = np.bincount(labels, minlength=num_classes)
    exact = counts * holdout / n
    quota = np.floor(exact).astype(np.int64)
    short = holdout - quota.sum()
    quota[np.argsort(-(exact - quota), kind="stable")[:short]] += 1  # largest remainder method
    rng = np.random.default_rng(HOLDOUT_SEED)
    val = []
    for c in range(num_classes):
        members = np.flatnonzero(labels == c)
        val.append(rng.permutation(members)[:quota[c]])
    val_idx = np.sort(np.concatenate(val))
    train_mask = np.ones(n, dtype=bool)
    train_mask[val_idx] = False
    return np.flatnonzero(train_mask), val_idx
