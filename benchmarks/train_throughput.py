"""Training throughput per model: images/s of forward + backward + SGD step on synthetic 32x32
batches (cifarzoo.train.throughput.measure), on CPU or GPU, with bf16 / channels_last / compile.

    python -m benchmarks.train_throughput --models resnet20 resnet56 resnet18 --batch-size 128
    python -m benchmarks.train_throughput --models resnet18 --device cuda --amp bf16 --channels-last --compile

Writes ``benchmarks/results/train_throughput_<device>.json`` (or ``--out``) with the machine block.
Planning numbers for the GPU queue: epoch seconds = 50,000 / images_per_s (no data loading, no eval).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import torch

from benchmarks import RESULTS_DIR
from benchmarks.machine import command_line, machine_info

log = logging.getLogger("benchmarks")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.train_throughput", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["resnet20", "resnet56", "resnet18"])
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=10, help="timed steps per model")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (compilation happens here)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--amp", choices=("none", "bf16", "fp16"), default="none")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--out", help="JSON path (default benchmarks/results/train_throughput_<device>.json)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)

    from cifarzoo.train.distributed import pick_device
    from cifarzoo.train.throughput import measure
    dev = pick_device(args.device, 0)
    rows = []
    for name in args.models:
        try:
            r = measure(name, batch_size=args.batch_size, steps=args.steps, warmup=args.warmup, device=str(dev),
                        amp=args.amp, channels_last=args.channels_last, compile=args.compile)
        except Exception as e:  # report and go on: one model must not hide the others
            r = {"model": name, "error": f"{type(e).__name__}: {e}"}
            log.error("%s: %s", name, r["error"])
        else:
            log.info("%-22s %10.1f img/s %8.1f ms/step  peak %.0f MiB", name, r["images_per_s"], r["ms_per_step"],
                     r["peak_memory_bytes"] / 2**20)
        rows.append(r)
    out = Path(args.out) if args.out else RESULTS_DIR / f"train_throughput_{dev.type}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {"benchmark": "train_throughput", "command": command_line("benchmarks.train_throughput"),
           "machine": machine_info(str(dev)), "threads": torch.get_num_threads(),
           "settings": {"batch_size": args.batch_size, "steps": args.steps, "warmup": args.warmup, "amp": args.amp,
                        "channels_last": args.channels_last, "compile": args.compile},
           "results": rows}
    out.write_text(json.dumps(doc, indent=2) + "\n")
    log.info("wrote %s", out)
    return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
