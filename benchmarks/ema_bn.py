"""Why the EMA averages BatchNorm statistics: one training run, three ways to evaluate its EMA.

    cifarzoo train --recipe resnet20_cifar10_fast --data-dir DATA --out-dir RUN \\
        --set epochs=4 ema_decay=0.995 device=cpu amp=none channels_last=false compile=false
    python -m benchmarks.ema_bn --run RUN --data-dir DATA --out benchmarks/results/ema_bn_cpu/ema_bn.json

Evaluates, on the full test set: the raw weights (``model.safetensors``), the EMA as the trainer
keeps it (weights and BN running statistics averaged, ``model_ema.safetensors``), and the EMA as it
was kept before (averaged weights, BN statistics copied from the live model: the raw file's
running_mean/var with the EMA file's parameters).  The last pairs weights with statistics of
other weights.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from safetensors.torch import load_file

import cifarzoo
from benchmarks.machine import command_line, machine_info
from cifarzoo.evaluate import evaluate
from cifarzoo.manifest import DATASET_CLASSES


def _is_bn_buffer(key: str) -> bool:
    return key.endswith((".running_mean", ".running_var", ".num_batches_tracked"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.ema_bn", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", type=Path, required=True, help="run folder with model.safetensors, model_ema.safetensors")
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/ema_bn_cpu/ema_bn.json"))
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)

    res = json.loads((args.run / "results.json").read_text())
    cfg = res["config"]
    raw = load_file(str(args.run / "model.safetensors"))
    ema = load_file(str(args.run / "model_ema.safetensors"))
    live_bn = {k: raw[k] if _is_bn_buffer(k) else v for k, v in ema.items()}
    top1 = {}
    for name, state in (("raw", raw), ("ema_averaged_bn", ema), ("ema_live_bn", live_bn)):
        model = cifarzoo.create_model(cfg["model"], num_classes=DATASET_CLASSES[cfg["dataset"]], **cfg["model_kwargs"])
        model.load_state_dict(state)
        r = evaluate(model.eval(), cfg["dataset"], device=args.device, data_dir=args.data_dir, progress=False)
        top1[name] = round(r["top1"], 2)
        print(f"{name:16s} top-1 {top1[name]:.2f} % on {r['num_images']:,} images")
    out = {"top1": top1, "run": {"model": cfg["model"], "recipe": cfg["recipe"], "epochs": cfg["epochs"],
                                 "ema_decay": cfg["ema_decay"], "command": res["environment"]["command"],
                                 "device": res["environment"]["device_name"], "git_commit":
                                 res["environment"]["git_commit"], "wall_time_s": res["wall_time_s"]},
           "command": command_line("benchmarks.ema_bn"), "machine": machine_info(args.device)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
