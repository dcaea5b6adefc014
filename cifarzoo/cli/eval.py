"""``cifarzoo eval`` (measure a model on a test set) and ``cifarzoo verify`` (check a published weight)."""
from __future__ import annotations

import json
import sys

DATASETS = ("cifar10", "cifar100")


def _add_eval(p):
    p.add_argument("model", help="architecture (resnet56), or a published weight (resnet56.cifar10) to load it")
    p.add_argument("--dataset", choices=DATASETS, help="test set (default: the weight's data set)")
    p.add_argument("--data-dir", required=True, help="folder holding cifar-10-batches-py / cifar-100-python")
    p.add_argument("--checkpoint", metavar="FILE", help="a .safetensors file to load (e.g. RUN_DIR/model.safetensors)")
    p.add_argument("--weights-dir", metavar="DIR", help="local mirror of the weight files (see weights/README.md)")
    p.add_argument("--tta", choices=["flip"], help="test-time augmentation: average with the mirrored image")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    p.add_argument("--no-amp", action="store_true", help="no bfloat16 autocast on GPU")
    p.add_argument("--json", action="store_true", help="print every metric as JSON")
    p.add_argument("--confusion-png", metavar="PATH", help="save the confusion matrix as a PNG")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _default_device(device):
    if device:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _build(args):
    """The model to evaluate and the data set to evaluate it on."""
    import logging

    from cifarzoo.data import DATASETS as SPECS
    from cifarzoo.pretrained import read_metadata, resolve_weight
    from cifarzoo.registry import create_model, split_name

    arch, tag = split_name(args.model)
    if tag is not None and args.checkpoint:
        raise ValueError(f"{args.model!r} names a published weight and --checkpoint names a file: give one of them "
                         f"(use {arch!r} with --checkpoint)")
    if tag is not None:
        entry = resolve_weight(arch, tag)
        if args.dataset and args.dataset != entry.dataset:
            raise ValueError(f"{entry.name} was trained on {entry.dataset}; evaluate it with --dataset {entry.dataset} "
                             f"(or fine-tune it for {args.dataset} first)")
        return create_model(args.model, pretrained=True, weights_dir=args.weights_dir), entry.dataset
    if not args.dataset:
        raise ValueError("--dataset is required unless MODEL names a published weight (arch.tag)")
    num_classes = SPECS[args.dataset].num_classes
    if args.checkpoint:
        meta = read_metadata(args.checkpoint)
        # constructor arguments saved by `hub add` (arch_kwargs) or by the trainer (model_kwargs)
        raw = meta.get("arch_kwargs") or meta.get("model_kwargs")
        kwargs = json.loads(raw) if raw else {}
        if meta.get("num_classes") and int(meta["num_classes"]) != num_classes:
            raise ValueError(f"{args.checkpoint} was trained for {meta['num_classes']} classes "
                             f"({meta.get('dataset')}), but --dataset {args.dataset} has {num_classes}")
        return create_model(arch, checkpoint_path=args.checkpoint, num_classes=num_classes, **kwargs), args.dataset
    logging.getLogger("cifarzoo").warning("no --checkpoint and no weight tag: evaluating %s with random weights "
                                          "(speed only; accuracy will be chance)", arch)
    return create_model(arch, num_classes=num_classes), args.dataset


def _run_eval(args) -> int:
    from cifarzoo.evaluate import evaluate, save_confusion_png

    model, dataset = _build(args)
    model.eval()
    device = _default_device(args.device)
    res = evaluate(model, dataset, device=device, amp=False if args.no_amp else None, tta=args.tta,
                   data_dir=args.data_dir, batch_size=args.batch_size, progress=not args.no_progress)
    res = {"model": args.model, "dataset": dataset, "checkpoint": args.checkpoint, **res}
    if args.confusion_png:
        save_confusion_png(res["confusion_matrix"], args.confusion_png, _class_names(dataset, args.data_dir),
                           title=f"{args.model} on {dataset} (top-1 {res['top1']:.2f}%)")
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(f"{args.model} on {dataset} test ({res['num_images']:,} images, {res['device']}"
          f"{', bf16 autocast' if res['amp'] else ''}{', flip TTA' if res['tta'] else ''})")
    print(f"  top-1        {res['top1']:7.2f} %")
    print(f"  top-5        {res['top5']:7.2f} %")
    print(f"  NLL          {res['nll']:7.4f}")
    print(f"  ECE (15 bins){res['ece']:7.2f} %")
    print(f"  throughput   {res['images_per_s']:9,.0f} images/s (forward passes only)")
    accs = [(a, c) for c, a in enumerate(res["per_class_acc"]) if a is not None]
    if len(accs) <= 10:
        print("  per class    " + " ".join(f"{a:.1f}" for a, _ in accs))
    else:
        worst = sorted(accs)[:5]
        print("  worst classes " + ", ".join(f"{c}: {a:.1f}%" for a, c in worst))
    if args.confusion_png:
        print(f"  confusion matrix: {args.confusion_png}")
    return 0


def _class_names(dataset: str, data_dir) -> list[str] | None:
    """Class names from the data set's meta file, when it is there (only used to label the plot)."""
    import pickle
    from pathlib import Path

    meta = {"cifar10": ("cifar-10-batches-py/batches.meta", "label_names"),
            "cifar100": ("cifar-100-python/meta", "fine_label_names")}[dataset]
    path = Path(data_dir).expanduser() / meta[0]
    try:
        with open(path, "rb") as f:
            return list(pickle.load(f, encoding="latin1")[meta[1]])
    except (OSError, KeyError, pickle.UnpicklingError, EOFError):
        return None


def _add_verify(p):
    from cifarzoo.verify import DEFAULT_TOLERANCE

    p.add_argument("name", help="published weight, e.g. resnet56.cifar10 (an architecture means its default weight)")
    p.add_argument("--data-dir", required=True, help="folder holding the full CIFAR test set (pickle layout)")
    p.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                   help=f"allowed top-1 difference in percentage points (default {DEFAULT_TOLERANCE})")
    p.add_argument("--weights-dir", metavar="DIR", help="local mirror of the weight files")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--device", help="cpu, cuda ... (default: cuda when available)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _run_verify(args) -> int:
    from cifarzoo.pretrained import WeightFileError
    from cifarzoo.verify import verify

    try:
        res = verify(args.name, args.data_dir, tolerance=args.tolerance, weights_dir=args.weights_dir,
                     device=_default_device(args.device), batch_size=args.batch_size, progress=not args.no_progress)
    except WeightFileError as e:  # the checksum (or the file) failed: that is a verification failure
        if args.json:
            print(json.dumps({"name": args.name, "passed": False, "reason": str(e)}, indent=2))
        print(f"FAIL {args.name}: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(res.as_dict(), indent=2))
    else:
        print(res.summary())
    return 0 if res.passed else 1


COMMANDS = {
    "eval": {"help": "evaluate a model or weight on a CIFAR test set (accuracy, NLL, ECE, confusion, speed)",
             "add_arguments": _add_eval, "run": _run_eval},
    "verify": {"help": "check a published weight: checksum, full test-set accuracy vs the manifest",
               "add_arguments": _add_verify, "run": _run_verify},
}
