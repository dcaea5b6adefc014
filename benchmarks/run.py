"""Benchmark registered models: params, MACs, activation memory, speed, accuracy.

    python -m benchmarks.run --models 'resnet*' --out benchmarks/results/cpu_resnet
    python -m benchmarks.run --models '*' --out benchmarks/results/cpu_all --quick
    python -m benchmarks.run --models 'resnet*' --out benchmarks/results/gpu_bench --device cuda

Writes ``OUT/benchmark.json`` (machine, command, per-model results) and ``OUT/benchmark.csv``
(one flat row per model); the JSON is rewritten after every model so an interrupted run keeps
what it measured.  MACs are counted by fvcore, which counts one multiply-add as one "flop".
"""
from __future__ import annotations

import argparse
import csv
import gc
import json
import logging
import os
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from benchmarks import BENCH_CSV, BENCH_JSON
from benchmarks.accuracy import DATASETS, accuracies
from benchmarks.machine import command_line, machine_info, matmul_gflops
from benchmarks.timing import TimingConfig, Variant, activation_bytes, inference_speed, prepare, train_speed

log = logging.getLogger("benchmarks")

ACTIVATION_METHOD = ("bytes of the tensors autograd saves for backward in one train-mode fp32 forward "
                     "(torch.autograd.graph.saved_tensors_hooks, each storage once, parameters excluded), "
                     "measured at batch 2 and given per image")
DEFAULT_VARIANTS = {"cpu": ["fp32"], "cuda": ["fp32", "bf16_cl"]}
# CPU: a timed batch may cost at most this many GMACs (full run / --quick), see TimingConfig
CPU_MAX_GMACS = {"full": 32.0, "quick": 8.0}


@dataclass
class RunConfig:
    patterns: list[str]
    out: Path
    device: str = "cpu"
    variants: list[Variant] = field(default_factory=list)
    timing: TimingConfig = field(default_factory=TimingConfig)
    skip_speed: bool = False
    skip_memory: bool = False
    input_size: tuple[int, int, int] = (3, 32, 32)


def _resolve_device(name: str) -> torch.device:
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise ValueError(f"--device must be cpu or cuda (or cuda:N), got {name!r}")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"--device {name}: CUDA is not available on this machine (torch {torch.__version__}); "
                           "use --device cpu")
    return torch.device(name)


def benchmark_model(name: str, cfg: RunConfig, device: torch.device, accuracy: dict) -> dict:
    """All measurements of one registered model.  A failing phase records its error and the
    other phases still run, so one untraceable model does not hide the rest."""
    import cifarzoo
    from cifarzoo.flops import MacCountError, analyze_macs, count_params

    info = cifarzoo.model_info(name)
    row: dict = {"model": name, "family": info.family, "errors": {}}

    def fresh():
        # a new instance per phase (not copy.deepcopy: the registry's model_info does not deepcopy)
        torch.manual_seed(0)
        return cifarzoo.create_model(name)

    try:
        model = fresh()
    except Exception as e:
        row["errors"]["build"] = f"{type(e).__name__}: {e}"
        return row
    row["params"] = count_params(model)
    try:
        mc = analyze_macs(model, cfg.input_size)
        row["macs"] = mc.total
        row["macs_by_operator"] = mc.by_operator
        row["uncounted_ops"] = sorted(mc.unsupported_ops)
    except MacCountError as e:
        row["macs"] = None
        row["errors"]["macs"] = str(e)
    if not cfg.skip_memory:
        try:
            row["activation_bytes_per_image"] = activation_bytes(fresh(), cfg.input_size)
        except Exception as e:
            row["errors"]["activation_memory"] = f"{type(e).__name__}: {e}"
    row["accuracy"] = {ds: accuracy[ds] for ds in DATASETS if ds in accuracy}
    if not cfg.skip_speed:
        row["speed"] = {}
        for variant in cfg.variants:
            m = None
            try:
                m = prepare(fresh(), variant, device)
                speed = inference_speed(m, variant, device, cfg.timing, cfg.input_size, row.get("macs"))
                speed.update(train_speed(m, variant, device, cfg.timing, cfg.input_size, row.get("macs"),
                                         num_classes=model.num_classes))
                row["speed"][variant.name] = speed
            except Exception as e:
                row["errors"][f"speed_{variant.name}"] = f"{type(e).__name__}: {e}"
            finally:
                m = None
                gc.collect()
                if device.type == "cuda":
                    torch.cuda.empty_cache()
    if not row["errors"]:
        del row["errors"]
    return row


def flat_row(row: dict) -> dict:
    """One CSV row: nested speed/accuracy fields become ``variant_field`` / ``top1_dataset`` columns."""
    flat = {k: row.get(k) for k in ("model", "family", "params", "macs", "activation_bytes_per_image")}
    for ds, acc in (row.get("accuracy") or {}).items():
        flat[f"top1_{ds}"] = acc.get("top1")
        flat[f"weight_{ds}"] = acc.get("weight")
    for variant, speed in (row.get("speed") or {}).items():
        for k, v in speed.items():
            flat[f"{variant}_{k}"] = round(v, 3) if isinstance(v, float) else v
    flat["uncounted_ops"] = " ".join(row.get("uncounted_ops") or [])
    flat["errors"] = "; ".join(f"{k}: {v}" for k, v in (row.get("errors") or {}).items())
    return flat


def write_results(out: Path, header: dict, rows: list[dict]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    payload = {**header, "results": rows}
    tmp = out / (BENCH_JSON + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1, default=str) + "\n")
    tmp.replace(out / BENCH_JSON)  # atomic: a reader never sees half a file
    flats = [flat_row(r) for r in rows]
    columns: list[str] = []
    for f in flats:
        columns += [c for c in f if c not in columns]
    with open(out / BENCH_CSV, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=columns)
        w.writeheader()
        w.writerows(flats)


def run(cfg: RunConfig, command: str) -> dict:
    import cifarzoo
    from cifarzoo.flops import COUNTER
    from tqdm import tqdm

    device = _resolve_device(cfg.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input shapes: let cudnn pick its fastest kernels
    names = cifarzoo.list_models(cfg.patterns)
    if not names:
        raise ValueError(f"--models {' '.join(cfg.patterns)} matches no registered model "
                         f"({len(cifarzoo.list_models())} registered; `cifarzoo list` shows them)")
    acc = accuracies()
    if device.type == "cpu" and hasattr(os, "getloadavg"):
        load, cores = os.getloadavg()[0], os.cpu_count() or 1
        if load > cores and torch.get_num_threads() > 1:
            # several OpenMP threads wait on each other when other jobs hold the cores: on this
            # 2-core machine at load 5, 2 threads ran ResNet-56 3x slower than 1 thread
            log.warning("load average %.1f exceeds the %d cores: timings will be slow and noisy; "
                        "--threads 1 degrades far less under contention", load, cores)
    header = {
        "kind": "cifarzoo-benchmark",
        "command": command,
        "machine": machine_info(str(device)),
        "models_pattern": cfg.patterns,
        "input_size": list(cfg.input_size),
        "mac_counter": COUNTER,
        "activation_memory_method": ACTIVATION_METHOD,
        "variants": [v.name for v in cfg.variants] if not cfg.skip_speed else [],
        "timing": asdict(cfg.timing),
        "timing_method": ("median seconds per timed iteration after warm-up; inference under "
                          "torch.inference_mode in eval mode; training = SGD step with cross-entropy on "
                          "random data; batch halved on CPU until one batch costs at most "
                          "max_gmacs_per_batch GMACs (the batch used is recorded)"),
    }
    rows: list[dict] = []
    t0 = time.perf_counter()
    bar = tqdm(names, desc="benchmark", unit="model", file=sys.stderr, dynamic_ncols=True)
    for name in bar:
        bar.set_postfix_str(name)
        rows.append(benchmark_model(name, cfg, device, acc.get(name, {})))
        header["wall_s"] = round(time.perf_counter() - t0, 1)
        header["machine"]["load_avg_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
        write_results(cfg.out, header, rows)
    header["machine"]["matmul_gflops_end"] = matmul_gflops(str(device))
    write_results(cfg.out, header, rows)
    failed = [r["model"] for r in rows if r.get("errors")]
    if failed:
        log.warning("%d model(s) had errors (see 'errors' in %s): %s", len(failed), cfg.out / BENCH_JSON,
                    ", ".join(failed))
    return {**header, "results": rows}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["*"], help="fnmatch patterns of registered models (default: all)")
    p.add_argument("--out", required=True, type=Path, help="output folder, e.g. benchmarks/results/cpu_all")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--variants", default=None,
                   help="comma-separated PRECISION[_cl][_compile], e.g. fp32,bf16_cl,bf16_cl_compile "
                        "(default: fp32 on CPU; fp32,bf16_cl on CUDA)")
    p.add_argument("--batch", type=int, default=256, help="inference throughput batch (default 256)")
    p.add_argument("--train-batch", type=int, default=128, help="training-step batch (default 128)")
    p.add_argument("--max-gmacs", type=float, default=None,
                   help="largest GMACs one timed batch may cost, the batch is halved to fit "
                        "(default on CPU: 32, with --quick 8; on CUDA: no limit; 0: no limit)")
    p.add_argument("--budget", type=float, default=None,
                   help="seconds after which a measurement stops adding timed iterations (default 1.0, --quick 0.3)")
    p.add_argument("--quick", action="store_true", help="fewer, smaller timed iterations (rough numbers, fast)")
    p.add_argument("--skip-speed", action="store_true", help="only params, MACs, activation memory and accuracy")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: torch's choice); fewer threads suffer less when "
                        "other jobs share the CPU")
    p.add_argument("--skip-memory", action="store_true", help="do not measure activation memory")
    return p


def config_from_args(args: argparse.Namespace) -> RunConfig:
    for flag in ("batch", "train_batch"):
        if getattr(args, flag) < 2:
            raise ValueError(f"--{flag.replace('_', '-')} must be >= 2, got {getattr(args, flag)}")
    kind = "cuda" if args.device.startswith("cuda") else "cpu"
    names = args.variants.split(",") if args.variants else DEFAULT_VARIANTS[kind]
    variants = [Variant.parse(n) for n in names if n.strip()]
    if not variants:
        raise ValueError("--variants names no variant")
    timing = TimingConfig(batch=args.batch, train_batch=args.train_batch)
    if kind == "cuda":
        # GPU iterations take milliseconds: more of them, and warm-up enough for cudnn autotuning
        timing = replace(timing, warmup=3, min_iters=5, max_iters=50, latency_warmup=5, latency_min_iters=10)
    if args.quick:
        timing = replace(timing, min_iters=1, max_iters=5, budget_s=0.3, latency_warmup=2, latency_min_iters=3)
    if args.budget is not None:
        if args.budget <= 0:
            raise ValueError(f"--budget must be > 0 seconds, got {args.budget}")
        timing = replace(timing, budget_s=args.budget)
    max_gmacs = args.max_gmacs
    if max_gmacs is None:
        max_gmacs = CPU_MAX_GMACS["quick" if args.quick else "full"] if kind == "cpu" else 0
    if max_gmacs < 0:
        raise ValueError(f"--max-gmacs must be >= 0, got {max_gmacs}")
    timing = replace(timing, max_gmacs_per_batch=max_gmacs or None)
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)  # before machine_info records it
    return RunConfig(patterns=args.models, out=args.out, device=args.device, variants=variants, timing=timing,
                     skip_speed=args.skip_speed, skip_memory=args.skip_memory)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        cfg = config_from_args(args)
        result = run(cfg, command_line("benchmarks.run") if argv is None else
                     " ".join(["python", "-m", "benchmarks.run", *argv]))
    except (ValueError, RuntimeError) as e:
        print(f"benchmarks.run: error: {e}", file=sys.stderr)
        return 2
    print(f"{len(result['results'])} models in {result['wall_s']} s -> {cfg.out / BENCH_JSON}, "
          f"{cfg.out / BENCH_CSV} (MACs: {result['mac_counter']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
