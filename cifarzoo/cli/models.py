"""``cifarzoo list`` and ``cifarzoo info``."""
from __future__ import annotations

import json

from cifarzoo.registry import create_model, list_models, model_info


def _add_list(p):
    p.add_argument("pattern", nargs="*", default=["*"], help="fnmatch patterns, e.g. 'resnet*' (default: all)")
    p.add_argument("--pretrained", action="store_true", help="list published weights (arch.tag) instead")
    p.add_argument("--no-params", action="store_true", help="skip building models to count parameters (faster)")


def _run_list(args) -> int:
    names = list_models(args.pattern, pretrained=args.pretrained)
    if not names:
        print(f"no model matches {' '.join(args.pattern)}")
        return 1
    if args.pretrained:
        from cifarzoo.pretrained import load_manifest
        manifest = load_manifest()
        print(f"{'weight':34s} {'top-1':>7s} {'params':>10s}")
        for n in names:
            e = manifest[n]
            print(f"{n:34s} {e.metrics['top1']:7.2f} {e.params:10,d}")
        return 0
    print(f"{'model':28s} {'family':16s} {'params':>12s}")
    for n in names:
        info = model_info(n)
        params = "" if args.no_params else f"{sum(p.numel() for p in create_model(n).parameters()):,d}"
        print(f"{n:28s} {info.family:16s} {params:>12s}")
    print(f"{len(names)} models")
    return 0


def _add_info(p):
    p.add_argument("name", help="architecture or weight name, e.g. resnet56 or resnet56.cifar10")
    p.add_argument("--json", action="store_true", help="print JSON")


def _run_info(args) -> int:
    info = model_info(args.name)
    d = info.as_dict()
    d["params"] = sum(p.numel() for p in create_model(info.name).parameters())
    if args.json:
        print(json.dumps(d, indent=2, default=str))
    else:
        for k, v in d.items():
            print(f"{k:12s} {v}")
    return 0


COMMANDS = {
    "list": {"help": "list models (or published weights) with family and parameter count",
             "add_arguments": _add_list, "run": _run_list},
    "info": {"help": "show the registry entry of one model", "add_arguments": _add_info, "run": _run_info},
}
