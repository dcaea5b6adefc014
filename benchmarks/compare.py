"""Our models against torchvision's, built the same way, timed on the same machine in one run.

    python -m benchmarks.compare --out benchmarks/results/compare_cpu
    python -m benchmarks.compare --out benchmarks/results/compare_gpu --device cuda --variants bf16_cl

torchvision's ImageNet networks are given our CIFAR changes (3x3 stride-1 stem, no max-pool,
MobileNetV2's stride-1 second stage, DenseNet's bare 3x3 stem), so both sides compute the same
function shape for shape; equal parameter counts and MACs are checked and recorded.  The timings
of the two are interleaved round by round (ours, theirs, ours, ...) so a burst of load from other
jobs hits both alike, and each side's median is taken.  ratio = ours img/s / torchvision img/s:
above 1 ours is faster.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from benchmarks import COMPARE_JSON
from benchmarks.machine import command_line, machine_info
from benchmarks.timing import TimingConfig, Variant, fit_batch, prepare, time_iterations

# ratio below this counts as "ours is slower" (timing noise on a shared CPU is a few per cent)
SLOWER_THAN = 0.95


def tv_resnet(arch: str) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        import torchvision
        m = getattr(torchvision.models, arch)(num_classes=10)
        m.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)  # our CIFAR stem
        m.maxpool = nn.Identity()
        return m
    return build


def tv_mobilenetv2() -> nn.Module:
    import torchvision
    # (t, c, n, s) of the paper with the second stage at stride 1, as in our mobilenetv2
    setting = [[1, 16, 1, 1], [6, 24, 2, 1], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2],
               [6, 320, 1, 1]]
    m = torchvision.models.mobilenet_v2(num_classes=10, inverted_residual_setting=setting)
    m.features[0][0].stride = (1, 1)  # stride-1 stem
    return m


def tv_densenet121() -> nn.Module:
    import torchvision
    m = torchvision.models.densenet121(num_classes=10)
    # our stem: one 3x3 conv with 2k = 64 maps, no BN/ReLU/pool before the first dense block
    m.features.conv0 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    m.features.norm0 = nn.Identity()
    m.features.relu0 = nn.Identity()
    m.features.pool0 = nn.Identity()
    return m


@dataclass(frozen=True)
class Pair:
    ours: str
    torchvision: str
    build_tv: Callable[[], nn.Module]
    construction: str


PAIRS = [
    Pair("resnet18", "resnet18", tv_resnet("resnet18"), "conv1 -> 3x3 stride 1, maxpool -> Identity"),
    Pair("resnet50", "resnet50", tv_resnet("resnet50"), "conv1 -> 3x3 stride 1, maxpool -> Identity"),
    Pair("mobilenetv2", "mobilenet_v2", tv_mobilenetv2,
         "stem conv stride 1, inverted_residual_setting with stage 2 (24 ch) at stride 1"),
    Pair("densenet121", "densenet121", tv_densenet121,
         "conv0 -> 3x3 stride 1 (64 maps), norm0/relu0/pool0 -> Identity"),
]


def _interleaved(steps: dict[str, Callable[[], None]], device: torch.device, cfg: TimingConfig,
                 rounds: int) -> dict[str, list[float]]:
    """Per-iteration seconds of each step, measured in alternating rounds after one warm-up each."""
    times: dict[str, list[float]] = {k: [] for k in steps}
    for step in steps.values():
        time_iterations(step, device, cfg.warmup, 0, 0, 0.0)  # warm-up only
    for _ in range(rounds):
        for k, step in steps.items():
            times[k] += time_iterations(step, device, 0, cfg.min_iters, cfg.min_iters, 0.0)
    return times


def _input(batch: int, variant: Variant, device: torch.device) -> torch.Tensor:
    x = torch.randn(batch, 3, 32, 32, device=device)
    return x.contiguous(memory_format=torch.channels_last) if variant.channels_last else x


def compare_pair(pair: Pair, variant: Variant, device: torch.device, cfg: TimingConfig, rounds: int) -> dict:
    import cifarzoo
    from cifarzoo.flops import count_macs, count_params

    torch.manual_seed(0)
    models = {"ours": cifarzoo.create_model(pair.ours), "tv": pair.build_tv()}
    row: dict = {"ours": pair.ours, "torchvision": f"torchvision.models.{pair.torchvision}",
                 "construction": pair.construction, "variant": variant.name}
    for k, m in models.items():
        row[f"params_{k}"] = count_params(m)
        row[f"macs_{k}"] = count_macs(m)
    notes = []
    if row["params_ours"] != row["params_tv"] or row["macs_ours"] != row["macs_tv"]:
        notes.append(f"not the same network: params {row['params_ours']:,} vs {row['params_tv']:,}, "
                     f"MACs {row['macs_ours']:,} vs {row['macs_tv']:,}")
    models = {k: prepare(m, variant, device) for k, m in models.items()}
    row["speed"] = {}

    batch = fit_batch(cfg.batch, row["macs_ours"], cfg.max_gmacs_per_batch)
    x = _input(batch, variant, device)
    for m in models.values():
        m.eval()

    def infer(m):
        def step():
            with torch.inference_mode(), variant.autocast(device):
                m(x)
        return step

    t = _interleaved({k: infer(m) for k, m in models.items()}, device, cfg, rounds)
    row["speed"]["inference"] = _summary(batch, t)

    batch = fit_batch(cfg.train_batch, row["macs_ours"], cfg.max_gmacs_per_batch, factor=3.0)
    xt = _input(batch, variant, device)
    y = torch.randint(0, 10, (batch,), device=device)

    def train(m):
        m.train()
        opt = torch.optim.SGD(m.parameters(), lr=1e-3, momentum=0.9)

        def step():
            opt.zero_grad(set_to_none=True)
            with variant.autocast(device):
                loss = F.cross_entropy(m(xt), y)
            loss.backward()
            opt.step()
        return step

    t = _interleaved({k: train(m) for k, m in models.items()}, device, cfg, rounds)
    row["speed"]["train"] = _summary(batch, t)
    for mode, s in row["speed"].items():
        if s["ratio"] < SLOWER_THAN:
            notes.append(f"ours is slower in {mode} ({s['ratio']:.3f}x torchvision)")
    if notes:
        row["note"] = "; ".join(notes)
    return row


def _summary(batch: int, times: dict[str, list[float]]) -> dict:
    ours, tv = batch / statistics.median(times["ours"]), batch / statistics.median(times["tv"])
    return {"batch": batch, "ours_img_s": ours, "tv_img_s": tv, "ratio": ours / tv,
            "ours_s": times["ours"], "tv_s": times["tv"]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.compare", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, type=Path, help="output folder (compare.json is written there)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--variants", default="fp32", help="one variant, PRECISION[_cl][_compile] (default fp32)")
    p.add_argument("--models", nargs="+", default=[q.ours for q in PAIRS],
                   help=f"which of our models to compare (default all: {', '.join(q.ours for q in PAIRS)})")
    p.add_argument("--batch", type=int, default=256, help="inference batch (default 256, capped by --max-gmacs)")
    p.add_argument("--train-batch", type=int, default=128, help="training batch (default 128, capped)")
    p.add_argument("--max-gmacs", type=float, default=None,
                   help="largest GMACs one timed batch may cost (default 32 on CPU, none on CUDA)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    p.add_argument("--iters", type=int, default=2, help="timed iterations per model per round (default 2)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: torch's choice; 1 suffers least on a shared CPU)")
    args = p.parse_args(argv)
    try:
        if args.threads is not None:
            if args.threads < 1:
                raise ValueError(f"--threads must be >= 1, got {args.threads}")
            torch.set_num_threads(args.threads)
        from benchmarks.run import _resolve_device
        device = _resolve_device(args.device)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed shapes, as in benchmarks.run
        variant = Variant.parse(args.variants)
        pairs = {q.ours: q for q in PAIRS}
        unknown = [m for m in args.models if m not in pairs]
        if unknown:
            raise ValueError(f"--models: no torchvision equivalent defined for {', '.join(unknown)}; "
                             f"choose from {', '.join(pairs)}")
        if args.rounds < 1 or args.iters < 1:
            raise ValueError("--rounds and --iters must be >= 1")
        max_gmacs = args.max_gmacs if args.max_gmacs is not None else (32.0 if device.type == "cpu" else 0)
        cfg = replace(TimingConfig(batch=args.batch, train_batch=args.train_batch), min_iters=args.iters,
                      max_gmacs_per_batch=max_gmacs or None)
    except (ValueError, RuntimeError) as e:
        print(f"benchmarks.compare: error: {e}", file=sys.stderr)
        return 2
    from cifarzoo.flops import COUNTER
    result = {"kind": "cifarzoo-compare", "command": command_line("benchmarks.compare") if argv is None
              else " ".join(["python", "-m", "benchmarks.compare", *argv]),
              "machine": machine_info(str(device)), "mac_counter": COUNTER,
              "method": (f"Interleaved timing: after one warm-up each, {args.rounds} rounds of {args.iters} "
                         f"iterations per model alternating ours/torchvision; median seconds per iteration; "
                         f"variant {variant.name}; inference under torch.inference_mode in eval mode, training = "
                         "SGD step with cross-entropy. ratio = ours img/s / torchvision img/s."),
              "pairs": []}
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.models:
        try:
            row = compare_pair(pairs[name], variant, device, cfg, args.rounds)
        except Exception as e:  # record and go on: one missing model must not hide the others
            row = {"ours": name, "torchvision": pairs[name].torchvision, "error": f"{type(e).__name__}: {e}"}
        result["pairs"].append(row)
        (args.out / COMPARE_JSON).write_text(json.dumps(result, indent=1) + "\n")
        for mode, s in (row.get("speed") or {}).items():
            print(f"{name:12s} {mode:9s} batch {s['batch']:4d}  ours {s['ours_img_s']:9.1f} img/s  "
                  f"torchvision {s['tv_img_s']:9.1f} img/s  ratio {s['ratio']:.3f}")
        if row.get("note") or row.get("error"):
            print(f"{name:12s} NOTE: {row.get('note') or row.get('error')}")
    print(f"-> {args.out / COMPARE_JSON}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
