"""A tiny stand-in for ``cifarzoo.data`` used by the training tests only while the real package is
absent (``install()`` does nothing once ``import cifarzoo.data`` works).  It implements just the
interface the trainer uses: DATASETS, AugConfig, build_loader (set_epoch, skip, len, num_classes)
and mix.soft_cross_entropy, over the pickle files that tests/fakes.py writes."""
from __future__ import annotations

import pickle
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F


def install() -> bool:
    """Make ``cifarzoo.data`` importable; True when the stand-in was installed."""
    try:
        import cifarzoo.data as real
        import cifarzoo.data.mix as real_mix
        real.DATASETS, real.AugConfig, real.build_loader, real_mix.soft_cross_entropy  # noqa: B018
        return False
    except (ImportError, AttributeError):
        pass
    for name in [m for m in sys.modules if m == "cifarzoo.data" or m.startswith("cifarzoo.data.")]:
        del sys.modules[name]  # a half-written package (no __init__ yet) must not shadow the stand-in
    data = types.ModuleType("cifarzoo.data")
    mix = types.ModuleType("cifarzoo.data.mix")
    data.DATASETS, data.AugConfig, data.build_loader = DATASETS, AugConfig, build_loader
    data.__path__ = []  # a package, so "cifarzoo.data.mix" resolves
    mix.soft_cross_entropy = soft_cross_entropy
    data.mix = mix
    sys.modules["cifarzoo.data"], sys.modules["cifarzoo.data.mix"] = data, mix
    import cifarzoo
    cifarzoo.data = data
    return True


@dataclass(frozen=True)
class Spec:
    num_classes: int
    mean: tuple
    std: tuple


DATASETS = {"cifar10": Spec(10, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
            "cifar100": Spec(100, (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762))}


@dataclass
class AugConfig:
    crop_padding: int = 4
    flip: bool = True
    cutout: int = 0
    cutout_holes: int = 1
    random_erase: float = 0.0
    auto_augment: Optional[str] = None
    rand_augment: bool = False
    trivial_augment: bool = False
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0
    ricap_beta: float = 0.0
    mix_prob: float = 1.0


def soft_cross_entropy(logits, target, label_smoothing: float = 0.0):
    if target.ndim == 1:
        return F.cross_entropy(logits, target, label_smoothing=label_smoothing)
    c = logits.shape[1]
    target = target * (1 - label_smoothing) + label_smoothing / c
    return -(target * logits.log_softmax(1)).sum(1).mean()


def _read(dataset: str, split: str, root: Path):
    def load(p):
        with open(p, "rb") as f:
            return pickle.load(f, encoding="latin1")
    if dataset == "cifar10":
        folder = root / "cifar-10-batches-py"
        files = [folder / f"data_batch_{i}" for i in range(1, 6)] if split != "test" else [folder / "test_batch"]
        parts = [load(p) for p in files]
        x = np.concatenate([p["data"] for p in parts])
        y = np.concatenate([p["labels"] for p in parts])
    else:
        d = load(root / "cifar-100-python" / ("test" if split == "test" else "train"))
        x, y = d["data"], np.asarray(d["fine_labels"])
    return x.reshape(-1, 3, 32, 32), y.astype(np.int64)


class Loader:
    def __init__(self, x, y, batch_size, aug, shuffle, drop_last, rank, world_size, seed, num_classes, device,
                 channels_last):
        self.x, self.y, self.bs, self.aug = x, y, batch_size, aug
        self.shuffle, self.drop_last, self.rank, self.world = shuffle, drop_last, rank, world_size
        self.seed, self.num_classes, self.device, self.channels_last = seed, num_classes, device, channels_last
        self.epoch, self._skip = 0, 0

    def set_epoch(self, e):
        self.epoch = e

    def skip(self, n):
        self._skip = n

    def _indices(self):
        n = len(self.y)
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 100003 + self.epoch)
            idx = torch.randperm(n, generator=g)
        else:
            idx = torch.arange(n)
        per = n // self.world
        return idx[self.rank::self.world][:per]

    def __len__(self):
        n = len(self._indices())
        return n // self.bs if self.drop_last else -(-n // self.bs)

    def __iter__(self):
        idx = self._indices()
        start, self._skip = self._skip, 0
        for b in range(start, len(self)):
            sel = idx[b * self.bs:(b + 1) * self.bs]
            x, y = self.x[sel].clone(), self.y[sel].clone()
            g = torch.Generator().manual_seed(hash((self.seed, self.epoch, self.rank, b)) & 0x7FFFFFFF)
            if self.aug is not None and self.aug.crop_padding:
                p = self.aug.crop_padding
                padded = F.pad(x, (p, p, p, p))
                off = torch.randint(0, 2 * p + 1, (2,), generator=g).tolist()
                x = padded[:, :, off[0]:off[0] + 32, off[1]:off[1] + 32]
            if self.aug is not None and self.aug.flip:
                flip = torch.rand(len(x), generator=g) < 0.5
                x = torch.where(flip[:, None, None, None], x.flip(3), x)
            if self.aug is not None and self.aug.mixup_alpha > 0:
                lam = float(np.random.default_rng(int(torch.randint(0, 2**31, (1,), generator=g))).beta(
                    self.aug.mixup_alpha, self.aug.mixup_alpha))
                perm = torch.randperm(len(x), generator=g)
                oh = F.one_hot(y, self.num_classes).float()
                x, y = lam * x + (1 - lam) * x[perm], lam * oh + (1 - lam) * oh[perm]
            x = x.to(self.device)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, y.to(self.device)


def build_loader(dataset, split, data_dir, batch_size, aug=None, kind="device", device="cpu", shuffle=None,
                 drop_last=None, num_workers=4, rank=0, world_size=1, seed=0, holdout=0, download=False,
                 channels_last=False):
    root = Path(data_dir)
    if not root.exists():
        raise FileNotFoundError(f"data_dir {root} does not exist")
    x, y = _read(dataset, split, root)
    if holdout and split != "test":
        x, y = (x[:-holdout], y[:-holdout]) if split == "train" else (x[-holdout:], y[-holdout:])
    spec = DATASETS[dataset]
    xt = torch.from_numpy(x).float() / 255
    xt = (xt - torch.tensor(spec.mean)[:, None, None]) / torch.tensor(spec.std)[:, None, None]
    train = split == "train"
    return Loader(xt, torch.from_numpy(y), batch_size, aug if train else None,
                  train if shuffle is None else shuffle, train if drop_last is None else drop_last,
                  rank, world_size, seed, spec.num_classes, torch.device(device), channels_last)
