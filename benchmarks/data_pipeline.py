"""Images per second of the two CIFAR loaders with the same augmentation.

    python -m benchmarks.data_pipeline                          # CPU, ~1 minute
    python -m benchmarks.data_pipeline --device cuda            # -> data_pipeline_cuda.json
    python -m benchmarks.data_pipeline --data-dir DIR           # real CIFAR-10 instead of random images

Compares ``kind="device"`` (data set resident on the device, batched tensor augmentation) with
``kind="torch"`` (DataLoader, per-image torchvision transforms, ``--num-workers`` workers), both
delivering normalized batches on ``--device``.  Augmentations: "basic" = random crop (pad 4) +
flip + Cutout 16; "autoaugment" adds the CIFAR-10 AutoAugment policy.

Each measurement builds the loader, takes one batch as warm-up (its time, which includes starting
workers, is reported as ``first_batch_s``), then iterates until ``--budget`` seconds or the end of
the epoch; throughput is images after warm-up / seconds after warm-up.  Without ``--data-dir`` the
images are uniform random uint8 (crop/flip/cutout cost does not depend on content).  Writes
``benchmarks/results/data_pipeline_<device>.json`` with the machine block of
``benchmarks.machine``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks import RESULTS_DIR
from benchmarks.machine import command_line, machine_info
from cifarzoo.data import DATASETS, AugConfig, load_cifar
from cifarzoo.data.device_loader import DeviceLoader
from cifarzoo.data.torch_loader import ArrayImages, TorchLoader

AUGS = {
    "basic": AugConfig(crop_padding=4, flip=True, cutout=16),
    "autoaugment": AugConfig(crop_padding=4, flip=True, cutout=16, auto_augment="cifar10"),
    "trivialaugment": AugConfig(crop_padding=4, flip=True, cutout=16, trivial_augment=True),
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(loader, device: torch.device, budget_s: float) -> dict:
    """Warm-up batch, then images/s until the budget or the epoch runs out."""
    loader.set_epoch(0)
    t0 = time.perf_counter()
    it = iter(loader)
    x, _ = next(it)
    _sync(device)
    first = time.perf_counter() - t0
    images, batches = 0, 0
    start = time.perf_counter()
    for x, _ in it:
        images += x.shape[0]
        batches += 1
        if time.perf_counter() - start > budget_s:
            break
    _sync(device)
    seconds = time.perf_counter() - start
    del it  # stop the workers' prefetching before the next measurement
    return {"images_per_s": round(images / seconds, 1), "images": images, "batches": batches,
            "seconds": round(seconds, 3), "first_batch_s": round(first, 3)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--data-dir", default=None, help="real CIFAR-10 (pickle layout) instead of random images")
    p.add_argument("--images", type=int, default=20000, help="random images when no --data-dir")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--num-workers", type=int, default=min(4, os.cpu_count() or 1))
    p.add_argument("--threads", type=int, default=1,
                   help="torch intra-op threads of the main process (0: torch's default). 1 by default: "
                        "on a shared CPU, threads of 32x32 ops mostly wait on each other")
    p.add_argument("--budget", type=float, default=8.0, help="seconds per measurement after warm-up")
    p.add_argument("--augs", default="basic,autoaugment", help=f"comma list of {sorted(AUGS)}")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    spec = DATASETS["cifar10"]
    if args.data_dir:
        images, labels = load_cifar("cifar10", "train", args.data_dir)
        source = f"CIFAR-10 train from {args.data_dir}"
    else:
        rng = np.random.default_rng(0)
        images = rng.integers(0, 256, (args.images, 32, 32, 3), dtype=np.uint8)
        labels = rng.integers(0, 10, args.images)
        source = f"{args.images} random uint8 images"
    machine = machine_info(str(device))
    results = []
    for name in args.augs.split(","):
        aug = AUGS[name]
        common = dict(num_classes=10, mean=spec.mean, std=spec.std, batch_size=args.batch_size, aug=aug,
                      device=device, seed=0)
        for kind in ("device", "torch"):
            if kind == "device":
                loader = DeviceLoader(images, labels, **common)
            else:
                loader = TorchLoader(ArrayImages(images, labels), num_workers=args.num_workers, **common)
            r = {"aug": name, "kind": kind, **measure(loader, device, args.budget)}
            del loader
            print(json.dumps(r), flush=True)
            results.append(r)
    speedup = {}
    for name in args.augs.split(","):
        by_kind = {r["kind"]: r["images_per_s"] for r in results if r["aug"] == name}
        speedup[name] = round(by_kind["device"] / by_kind["torch"], 2)
    out = Path(args.out) if args.out else RESULTS_DIR / f"data_pipeline_{device.type}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    machine["load_avg_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    report = {"machine": machine, "command": command_line("benchmarks.data_pipeline"),
              "config": {"source": source, "batch_size": args.batch_size, "num_workers": args.num_workers,
                         "main_process_threads": torch.get_num_threads(), "budget_s": args.budget,
                         "augs": {n: AUGS[n].to_dict() for n in args.augs.split(",")}},
              "results": results, "speedup_device_over_torch": speedup}
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"speedup device/torch: {speedup}; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
