"""``cifarzoo.evaluate``: accuracy, calibration and speed of a classifier on a test set.

All metrics come from one pass over the data, accumulated per batch, so a 10,000-image test set
never has to sit in memory as logits.  Accuracies, per-class accuracies and ECE are in percent
(like every accuracy table of the project); NLL is the mean cross-entropy in nats.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Iterable

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, TensorDataset

log = logging.getLogger("cifarzoo")

ECE_BINS = 15  # Guo et al. 2017, "On Calibration of Modern Neural Networks", use 15 equal-width bins
TTA_MODES = (None, "flip")


def _num_classes_of(data: Any) -> int | None:
    """Class count a loader or dataset declares about itself, if any."""
    for obj in (data, getattr(data, "dataset", None)):
        if obj is None:
            continue
        n = getattr(obj, "num_classes", None)
        if isinstance(n, int) and not isinstance(n, bool):
            return n
        classes = getattr(obj, "classes", None)
        if isinstance(classes, (list, tuple)) and classes:
            return len(classes)
    return None


def _as_batches(data: Any, data_dir, batch_size: int, device: torch.device) -> tuple[Iterable, int | None]:
    """Turn what the caller gave into an iterable of (x, y) batches and its class count."""
    if isinstance(data, str):
        from cifarzoo.data import DATASETS, build_loader

        if data not in DATASETS:
            raise ValueError(f"unknown dataset {data!r}; choose one of {sorted(DATASETS)}")
        if data_dir is None:
            raise ValueError(f"evaluate(model, {data!r}) needs data_dir= (the folder holding the CIFAR pickles)")
        # kind="device": the uint8 test set sits on the device and is normalised per batch, so no
        # DataLoader worker processes are started (evaluation has no augmentation to parallelise)
        loader = build_loader(data, "test", data_dir, batch_size, aug=None, kind="device", device=device)
        return loader, DATASETS[data].num_classes
    if (isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data)
            and data[0].ndim == 4 and data[1].ndim == 1 and len(data[0]) == len(data[1])):
        data = TensorDataset(data[0], data[1])  # (images, labels) tensors
    if isinstance(data, Dataset) and not isinstance(data, torch.utils.data.IterableDataset):
        return DataLoader(data, batch_size=batch_size, shuffle=False, num_workers=0), _num_classes_of(data)
    if isinstance(data, Iterable):
        return data, _num_classes_of(data)
    raise TypeError(f"evaluate: data must be a DataLoader / iterable of (images, labels), a torch Dataset, "
                    f"a dataset name with data_dir=, or an (images, labels) pair; got {type(data).__name__}")


def _check_batch(batch: Any, i: int) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        raise TypeError(f"evaluate: batch {i} is a {type(batch).__name__}; expected (images, labels)")
    x, y = batch[0], batch[1]
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError(f"evaluate: batch {i} holds {type(x).__name__}/{type(y).__name__}, expected tensors "
                        "(give a Dataset a transform such as ToTensor + Normalize)")
    if x.ndim != 4:
        raise ValueError(f"evaluate: images of batch {i} have shape {tuple(x.shape)}; expected N, C, H, W")
    if not x.is_floating_point():
        raise ValueError(f"evaluate: images of batch {i} are {x.dtype}; expected normalised floats "
                         "(cifarzoo.data.build_loader(..., 'test', ...) yields them)")
    if x.shape[1] not in (1, 3) and x.shape[-1] in (1, 3):
        raise ValueError(f"evaluate: images of batch {i} look channels-last {tuple(x.shape)}; permute to NCHW")
    if y.ndim != 1 or y.is_floating_point():
        raise ValueError(f"evaluate: labels of batch {i} must be class indices of shape (N,), got "
                         f"{y.dtype} {tuple(y.shape)}")
    return x, y


def _model_device(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def _output_width(model: nn.Module) -> int | None:
    n = getattr(model, "num_classes", None)
    return n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else None


def _forward(model: nn.Module, x: torch.Tensor, tta: str | None) -> torch.Tensor:
    logits = model(x)
    if tta == "flip":
        logits = (logits + model(x.flip(3))) / 2  # CIFAR is left-right symmetric; average both views
    return logits


def evaluate(model: nn.Module, loader_or_dataset: Any, device: str | torch.device | None = None,
             amp: bool | None = None, tta: str | None = None, *, data_dir=None, batch_size: int = 256,
             num_classes: int | None = None, progress: bool = True) -> dict:
    """Evaluate ``model`` on a test set and return a JSON-ready dict.

    ``loader_or_dataset``: a DataLoader or any iterable of (images NCHW float, labels int64), a torch
    Dataset, an ``(images, labels)`` tensor pair, or a dataset name (``"cifar10"``) with ``data_dir=``.
    ``device``: defaults to the model's device (the model is moved when another is given).
    ``amp``: bfloat16 autocast; default on for CUDA, off elsewhere.  ``tta="flip"`` averages the
    logits of each image and its mirror.  The model runs in eval mode (a model left in train mode
    is switched, with a warning, and switched back afterwards).

    Keys: top1, top5, per_class_acc (None for a class without images), nll, ece (15 bins, %),
    confusion_matrix (rows: true class, columns: predicted), num_images, num_classes,
    images_per_s (model forward passes only), wall_s, device, amp, tta.
    """
    if tta not in TTA_MODES:
        raise ValueError(f"tta={tta!r}: choose None or 'flip'")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    dev = torch.device(device) if device is not None else _model_device(model)
    batches, data_classes = _as_batches(loader_or_dataset, data_dir, batch_size, dev)
    if num_classes is not None:
        data_classes = num_classes
    width = _output_width(model)
    if data_classes is not None and width is not None and width != data_classes:
        raise ValueError(f"the model outputs {width} classes but the data has {data_classes}: load a checkpoint "
                         f"trained on this data set, or build the model with num_classes={data_classes}")
    use_amp = dev.type == "cuda" if amp is None else bool(amp)
    if _model_device(model) != dev:
        log.info("evaluate: moving the model to %s", dev)
        model.to(dev)
    param = next(model.parameters(), None)
    in_dtype = param.dtype if param is not None and param.is_floating_point() and not use_amp else torch.float32

    was_training = model.training
    if was_training:
        log.warning("evaluate: the model was in train mode (batch norm would use batch statistics and dropout "
                    "would be active); evaluating in eval mode and restoring train mode afterwards")
    model.eval()

    from tqdm.auto import tqdm

    total = len(batches) if hasattr(batches, "__len__") else None
    C = None
    n = correct1 = correct5 = 0
    nll_sum = 0.0
    compute_s = 0.0
    start = time.perf_counter()
    try:
        with torch.inference_mode():
            for i, batch in enumerate(tqdm(batches, total=total, desc="eval", unit="batch", leave=False,
                                           disable=not progress)):
                x, y = _check_batch(batch, i)
                x = x.to(dev, dtype=in_dtype, non_blocking=True)
                y = y.to(dev, non_blocking=True)
                t0 = time.perf_counter()
                with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=use_amp):
                    logits = _forward(model, x, tta)
                logits = logits.float()
                if dev.type == "cuda":
                    torch.cuda.synchronize(dev)
                compute_s += time.perf_counter() - t0
                if logits.ndim != 2 or logits.shape[0] != x.shape[0]:
                    raise ValueError(f"evaluate: the model returned shape {tuple(logits.shape)} for "
                                     f"{x.shape[0]} images; expected (N, num_classes) logits")
                if C is None:
                    C = logits.shape[1]
                    if data_classes is not None and C != data_classes:
                        raise ValueError(f"the model outputs {C} classes but the data has {data_classes}: "
                                         f"load a checkpoint trained on this data set, or build the model with "
                                         f"num_classes={data_classes}")
                    confusion = torch.zeros(C * C, dtype=torch.long, device=dev)
                    bin_count = torch.zeros(ECE_BINS, dtype=torch.float64, device=dev)
                    bin_conf = torch.zeros(ECE_BINS, dtype=torch.float64, device=dev)
                    bin_correct = torch.zeros(ECE_BINS, dtype=torch.float64, device=dev)
                if y.numel() and (int(y.min()) < 0 or int(y.max()) >= C):
                    raise ValueError(f"evaluate: batch {i} has label {int(y.max())} but the model outputs only {C} "
                                     f"classes (a checkpoint for another data set?)")
                k = min(5, C)
                top = logits.topk(k, dim=1).indices
                hit = top.eq(y[:, None])
                correct1 += int(hit[:, 0].sum())
                correct5 += int(hit.any(dim=1).sum())
                nll_sum += float(F.cross_entropy(logits, y, reduction="sum"))
                conf, pred = logits.softmax(dim=1).max(dim=1)
                confusion += torch.bincount(y * C + pred, minlength=C * C)
                # bins (0, 1/15], (1/15, 2/15], ...: index = ceil(conf * 15) - 1
                b = (conf.double() * ECE_BINS).ceil().long().clamp_(1, ECE_BINS) - 1
                bin_count += torch.bincount(b, minlength=ECE_BINS).double()
                bin_conf += torch.bincount(b, weights=conf.double(), minlength=ECE_BINS)
                bin_correct += torch.bincount(b, weights=pred.eq(y).double(), minlength=ECE_BINS)
                n += x.shape[0]
    finally:
        model.train(was_training)
    wall = time.perf_counter() - start
    if n == 0:
        raise ValueError("evaluate: the data yielded no images")

    cm = confusion.view(C, C).cpu()
    per_class_n = cm.sum(dim=1)
    per_class = [(100.0 * float(cm[c, c]) / float(per_class_n[c])) if per_class_n[c] > 0 else None
                 for c in range(C)]
    ece = float((bin_conf - bin_correct).abs().sum() / n) * 100.0
    return {
        "top1": 100.0 * correct1 / n,
        "top5": 100.0 * correct5 / n,
        "per_class_acc": per_class,
        "nll": nll_sum / n,
        "ece": ece,
        "confusion_matrix": cm.tolist(),
        "num_images": n,
        "num_classes": C,
        "images_per_s": n / compute_s if compute_s > 0 else float("inf"),
        "wall_s": wall,
        "device": str(dev),
        "amp": "bf16" if use_amp else None,
        "tta": tta,
    }


def save_confusion_png(confusion: list[list[int]], path, class_names: list[str] | None = None,
                       title: str = "") -> None:
    """Row-normalised confusion matrix as a PNG (counts written in the cells up to 20 classes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    cm = np.asarray(confusion, dtype=np.float64)
    C = cm.shape[0]
    rows = cm.sum(axis=1, keepdims=True)
    frac = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    size = 6 if C <= 20 else 12
    fig, ax = plt.subplots(figsize=(size, size))
    im = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true class")
    names = class_names if class_names and len(class_names) == C else [str(i) for i in range(C)]
    if C <= 20:
        ax.set_xticks(range(C), names, rotation=90)
        ax.set_yticks(range(C), names)
        for r in range(C):
            for c in range(C):
                if cm[r, c]:
                    ax.text(c, r, int(cm[r, c]), ha="center", va="center", fontsize=7,
                            color="white" if frac[r, c] > 0.5 else "black")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title or "confusion matrix")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
