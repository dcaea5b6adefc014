"""Small CIFAR data sets written in the real on-disk formats (the python pickles that
torchvision reads), so tests never need a download.

Images are learnable: each class has its own colour pattern plus noise, so a model trained for
a few steps beats chance and tests can check that training actually trains.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def make_images(n: int, num_classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % num_classes
    rng.shuffle(labels)
    proto_rng = np.random.default_rng(1234 + num_classes)  # same prototypes for train and test
    protos = proto_rng.integers(0, 256, size=(num_classes, 4, 4, 3))
    base = protos[labels].repeat(8, axis=1).repeat(8, axis=2)  # (n, 32, 32, 3) blocky pattern
    noise = rng.normal(0, 24, size=base.shape)
    images = np.clip(base + noise, 0, 255).astype(np.uint8)
    return images, labels.astype(np.int64)


def _to_rows(images: np.ndarray) -> np.ndarray:
    # CIFAR stores each image as 3072 bytes: the R plane, then G, then B (row-major 32x32 each)
    return images.transpose(0, 3, 1, 2).reshape(len(images), 3072)


def write_cifar10(root: Path, n_train: int = 500, n_test: int = 200) -> Path:
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    x, y = make_images(n_train, 10, seed=0)
    for i, (xs, ys) in enumerate(zip(np.array_split(x, 5), np.array_split(y, 5)), start=1):
        batch = {"batch_label": f"training batch {i} of 5", "labels": ys.tolist(),
                 "data": _to_rows(xs), "filenames": [f"img_{i}_{j}.png" for j in range(len(ys))]}
        with open(folder / f"data_batch_{i}", "wb") as f:
            pickle.dump(batch, f)
    x, y = make_images(n_test, 10, seed=1)
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({"batch_label": "testing batch 1 of 1", "labels": y.tolist(), "data": _to_rows(x),
                     "filenames": [f"test_{j}.png" for j in range(len(y))]}, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": CIFAR10_CLASSES, "num_cases_per_batch": n_train // 5, "num_vis": 3072}, f)
    return folder


def write_cifar100(root: Path, n_train: int = 1000, n_test: int = 200) -> Path:
    folder = Path(root) / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    for split, n, seed in (("train", n_train, 2), ("test", n_test, 3)):
        x, y = make_images(n, 100, seed=seed)
        with open(folder / split, "wb") as f:
            pickle.dump({"filenames": [f"{split}_{j}.png" for j in range(n)], "batch_label": split,
                         "fine_labels": y.tolist(), "coarse_labels": (y // 5).tolist(), "data": _to_rows(x)}, f)
    with open(folder / "meta", "wb") as f:
        pickle.dump({"fine_label_names": [f"class_{i:03d}" for i in range(100)],
                     "coarse_label_names": [f"super_{i:02d}" for i in range(20)]}, f)
    return folder
