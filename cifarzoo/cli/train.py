"""``cifarzoo recipes``, ``cifarzoo train`` and ``cifarzoo lr-find``."""
from __future__ import annotations

import json
from pathlib import Path

TRAIN_EPILOG = """examples:
  cifarzoo train --recipe resnet56_cifar10 --data-dir ~/data
  cifarzoo train --recipe baseline200_cifar10 --set model=mobilenetv2 --set epochs=100 lr=0.05
  cifarzoo train --recipe resnet18_cifar10_fast --set aug.cutout=8 --out-dir runs/r18
  cifarzoo train --resume auto --out-dir runs/r18        continue an interrupted run
  cifarzoo train --list-keys                             every --set key with its default

Keys: any TrainConfig field, aug.<field> for augmentation, model_kwargs.<knob> for the model
(e.g. model_kwargs.drop_path_rate=0.1).  Lists: milestones=60,120,160.  lr is for the global batch.
A run writes OUT_DIR/{checkpoint.pt, metrics.csv, train.log, curves.png, model.safetensors,
results.json}.  SIGTERM/Ctrl-C finish the step and write a checkpoint; --resume continues it.
The reported accuracy is the final epoch's test accuracy (no best-epoch selection).
"""


def _flat(sets) -> list[str]:
    return [kv for group in (sets or []) for kv in group]


def _add_set(p) -> None:
    p.add_argument("--set", dest="overrides", nargs="+", action="append", metavar="KEY=VALUE",
                   help="override config keys (repeatable): --set epochs=10 aug.cutout=16")


# ---------------------------------------------------------------------------- recipes
def _add_recipes(p):
    p.add_argument("name", nargs="?", help="show one recipe in full (description and config)")
    p.add_argument("--json", action="store_true", help="print JSON")


def _run_recipes(args) -> int:
    from cifarzoo.train.recipes import RECIPES, get_recipe, list_recipes
    if args.name:
        cfg = get_recipe(args.name)
        if args.json:
            print(json.dumps({"name": args.name, "description": RECIPES[args.name].details,
                              "config": cfg.to_dict()}, indent=2, default=str))
            return 0
        print(RECIPES[args.name].details)
        print()
        for k, v in cfg.to_dict().items():
            print(f"  {k:22s} {v}")
        return 0
    names = list_recipes()
    if args.json:
        print(json.dumps({n: RECIPES[n].description for n in names}, indent=2))
        return 0
    for n in names:
        cfg = get_recipe(n)
        print(f"{n:38s} {cfg.model:22s} {cfg.epochs:5d} ep  {RECIPES[n].description}")
    print(f"{len(names)} recipes (cifarzoo recipes NAME shows one in full)")
    return 0


# ---------------------------------------------------------------------------- train
def _add_train(p):
    p.add_argument("--recipe", help="recipe name (cifarzoo recipes lists them)")
    _add_set(p)
    p.add_argument("--data-dir", help="folder with cifar-10-batches-py / cifar-100-python (default: data)")
    p.add_argument("--out-dir", help="run folder (default: runs/<recipe>)")
    p.add_argument("--resume", metavar="PATH|auto",
                   help="continue from a checkpoint file or run folder; 'auto': OUT_DIR/checkpoint.pt if present")
    p.add_argument("--list-keys", action="store_true", help="list every --set key with its default and exit")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    p.epilog = TRAIN_EPILOG


def _resolve_config(args):
    from cifarzoo.train import checkpoint as ckpt
    from cifarzoo.train.config import TrainConfig, apply_overrides
    from cifarzoo.train.recipes import get_recipe
    overrides = _flat(args.overrides)
    if args.recipe:
        cfg = get_recipe(args.recipe)
    elif args.resume:
        if args.resume == "auto" and not args.out_dir:
            raise ValueError("--resume auto needs --out-dir (or --recipe, whose run folder is runs/<recipe>)")
        path = ckpt.resolve_resume(args.resume, args.out_dir or ".")
        if path is None:
            raise FileNotFoundError(f"--resume auto: no checkpoint in {args.out_dir} and no --recipe to start from")
        cfg = TrainConfig.from_dict(ckpt.load(path)["config"])
    else:
        raise ValueError("give --recipe NAME (cifarzoo recipes lists them) or --resume PATH")
    if args.data_dir:
        cfg.data_dir = args.data_dir
    if args.out_dir:
        cfg.out_dir = args.out_dir
    apply_overrides(cfg, overrides)
    return cfg.validate()


def _run_train(args) -> int:
    if args.list_keys:
        from cifarzoo.train.config import describe_keys
        print("\n".join(describe_keys()))
        return 0
    cfg = _resolve_config(args)
    if args.print_config:
        print(json.dumps(cfg.to_dict(), indent=2, default=str))
        return 0
    from cifarzoo.train.trainer import train
    result = train(cfg, resume=args.resume)
    status = result["status"]
    if status == "completed":
        f = result.get("final")
        if f:
            print(f"final-epoch test top-1 {f['top1']:.2f}% top-5 {f['top5']:.2f}% ({f['weights']} weights); "
                  f"{Path(cfg.out_dir) / 'results.json'}")
        return 0
    if status == "diverged":
        return 1
    print(f"stopped ({result.get('stop_reason')}); resume with: cifarzoo train --resume {result.get('checkpoint')}")
    return {"SIGTERM": 143, "SIGINT": 130}.get(result.get("stop_reason"), 0)


# ---------------------------------------------------------------------------- lr-find
def _add_lr_find(p):
    p.add_argument("--recipe", required=True, help="recipe whose model, data, optimizer and AMP are probed")
    _add_set(p)
    p.add_argument("--data-dir", help="folder with the CIFAR data (default: the recipe's)")
    p.add_argument("--out", help="PNG path (default: runs/<recipe>/lr_find.png)")
    p.add_argument("--start-lr", type=float, default=1e-7)
    p.add_argument("--end-lr", type=float, default=10.0)
    p.add_argument("--num-iters", type=int, default=100, help="steps of the range test (default 100)")


def _run_lr_find(args) -> int:
    from cifarzoo.train.config import apply_overrides
    from cifarzoo.train.lr_finder import lr_find
    from cifarzoo.train.recipes import get_recipe
    cfg = get_recipe(args.recipe)
    if args.data_dir:
        cfg.data_dir = args.data_dir
    apply_overrides(cfg, _flat(args.overrides))
    r = lr_find(cfg, start_lr=args.start_lr, end_lr=args.end_lr, num_iters=args.num_iters, out=args.out)
    sugg = f"{r.suggested_lr:.3g}" if r.suggested_lr else "none (the loss never fell: widen the range)"
    print(f"suggested lr: {sugg} (steepest descent of the smoothed loss, {len(r.lrs)} steps; recipe lr {cfg.lr:g})")
    if r.plot:
        print(f"plot: {r.plot}")
    return 0


COMMANDS = {
    "recipes": {"help": "list the training recipes (or show one in full)", "add_arguments": _add_recipes,
                "run": _run_recipes},
    "train": {"help": "train a recipe (with --set overrides); resumable",
              "description": "Train a model from a named recipe, with key=value overrides. Works single-process "
                             "or under torchrun (DDP).", "add_arguments": _add_train, "run": _run_train},
    "lr-find": {"help": "Smith's learning-rate range test for a recipe (PNG + suggested lr)",
                "add_arguments": _add_lr_find, "run": _run_lr_find},
}
