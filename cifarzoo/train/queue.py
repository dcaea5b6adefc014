"""Train several recipes back to back in one process under one time budget.

    python -m cifarzoo.train.queue --recipes resnet18_cifar10_fast resnet20_cifar10_fast \\
        --data-dir DATA --out runs/queue --time-budget 780

Recipes run in the order given (priority order).  Each run may use the remaining budget minus
``--reserve-s`` for every run after it.  After its first epochs (the first epoch includes
compilation, so the second is timed) the queue projects the run's total time; a run that would
overrun its share is shortened to the epochs that fit (a note goes into its results), or, when
fewer than ``--min-fraction`` of its epochs would fit, stopped and reported as skipped.  The
trainer's own time limit is set to the share too, so a bad projection still stops cleanly with a
checkpoint.  On CUDA the queue trains with bf16 autocast, channels_last and the GPU-resident
loader (``--set`` overrides any of it).

Writes ``OUT/<recipe>/{model.safetensors,results.json,metrics.csv,...}`` and
``OUT/queue_summary.json``.  ``--throughput-only MODELS`` instead times one epoch-equivalent of
training per model (synthetic data) and writes ``OUT/throughput.json`` for planning.
"""
from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from pathlib import Path

import torch

log = logging.getLogger("cifarzoo.train")


class BudgetPlanner:
    """Epoch callback: project the run's time once, then shorten or stop it to fit ``allowed_s``."""

    def __init__(self, allowed_s: float, min_fraction: float, final_overhead_s: float = 10.0):
        self.allowed_s, self.min_fraction, self.overhead = allowed_s, min_fraction, final_overhead_s
        self.decided = False
        self.projection: dict | None = None

    def __call__(self, trainer, row: dict) -> None:
        cfg = trainer.cfg
        decide_at = 2 if cfg.epochs >= 4 else 1
        if self.decided or trainer.epoch < decide_at:
            return
        self.decided = True
        per_epoch = row["epoch_time_s"] + row.get("eval_time_s", 0.0)
        elapsed = trainer._elapsed()
        projected = elapsed + (cfg.epochs - trainer.epoch) * per_epoch + self.overhead
        self.projection = {"after_epoch": trainer.epoch, "epoch_s": per_epoch, "projected_s": projected,
                           "allowed_s": self.allowed_s}
        if projected <= self.allowed_s:
            return
        fit = trainer.epoch + int((self.allowed_s - elapsed - self.overhead) // per_epoch)
        need = max(trainer.epoch + 1, math.ceil(self.min_fraction * cfg.epochs))
        if fit < need:
            trainer.notes.append(f"skipped: projected {projected:.0f}s for {cfg.epochs} epochs, {self.allowed_s:.0f}s "
                                 f"left for this run; {max(fit, trainer.epoch)} epochs would fit, fewer than {need}")
            trainer.request_stop("budget")
            return
        trainer.shorten(fit, note=f"shortened from {cfg.epochs} to {fit} epochs to fit the queue budget "
                                  f"(projected {projected:.0f}s at {per_epoch:.1f}s/epoch, "
                                  f"allowed {self.allowed_s:.0f}s)")


def _gpu_defaults(cfg) -> None:
    cfg.amp = "bf16" if cfg.amp == "none" else cfg.amp
    cfg.channels_last, cfg.loader = True, "device"


def run_queue(recipes: list[str], data_dir: str, out: str | Path, time_budget_s: float, overrides=(),
              reserve_s: float = 60.0, min_fraction: float = 0.5, compile: str = "recipe",
              progress: bool = False) -> dict:
    from cifarzoo.train.config import apply_overrides
    from cifarzoo.train.recipes import get_recipe
    from cifarzoo.train.records import environment, write_json
    from cifarzoo.train.trainer import train

    t0 = time.time()
    deadline = t0 + time_budget_s
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    configs = []
    for name in recipes:  # fail on a bad name or --set before spending any budget
        cfg = get_recipe(name)
        cfg.data_dir = data_dir
        apply_overrides(cfg, overrides)
        configs.append(cfg.validate())
    cuda = torch.cuda.is_available()
    runs = []
    for i, cfg in enumerate(configs):
        name = cfg.recipe
        remaining = deadline - time.time()
        allowed = remaining - reserve_s * (len(configs) - i - 1)
        entry = {"recipe": name, "model": cfg.model, "dataset": cfg.dataset, "planned_epochs": cfg.epochs,
                 "allowed_s": round(allowed, 1)}
        if allowed < reserve_s:
            entry.update(status="skipped", note=f"only {max(allowed, 0):.0f}s of the budget left for it "
                                                f"(minimum {reserve_s:.0f}s)")
            runs.append(entry)
            log.warning("queue: %s skipped (%s)", name, entry["note"])
            continue
        if cuda:
            _gpu_defaults(cfg)
            apply_overrides(cfg, overrides)  # explicit --set wins over the GPU defaults
        if compile != "recipe":
            cfg.compile = compile == "on" and cuda
        elif not cuda:
            cfg.compile = False  # compilation on CPU costs more than it saves for these short runs
        cfg.out_dir = str(out / name)
        cfg.time_limit_s = allowed
        cfg.progress = progress
        planner = BudgetPlanner(allowed, min_fraction)
        log.info("queue: %s (%s on %s, %d epochs), up to %.0fs", name, cfg.model, cfg.dataset, cfg.epochs, allowed)
        started = time.time()
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        try:
            result = train(cfg, epoch_callbacks=[planner])
        except Exception as e:  # one broken recipe must not sink the queue
            log.exception("queue: %s failed", name)
            entry.update(status="failed", error=f"{type(e).__name__}: {e}", wall_s=round(time.time() - started, 1))
            runs.append(entry)
            continue
        status = result["status"]
        if status == "interrupted" and planner.decided and planner.projection and any(
                n.startswith("skipped") for n in result.get("notes", [])):
            status = "skipped"
        entry.update(status=status, epochs=result.get("epochs_completed"), notes=result.get("notes", []),
                     wall_s=round(time.time() - started, 1), projection=planner.projection)
        if result.get("final"):
            entry.update(top1=result["final"]["top1"], top5=result["final"]["top5"],
                         weights=result["final"]["weights"], images_per_s=result.get("images_per_s"),
                         peak_memory_bytes=result.get("peak_memory_bytes"), results=str(out / name / "results.json"))
        if result.get("checkpoint"):
            entry["checkpoint"] = result["checkpoint"]
        runs.append(entry)
        if cuda:
            torch.cuda.empty_cache()
    summary = {"time_budget_s": time_budget_s, "wall_s": round(time.time() - t0, 1), "runs": runs,
               "overrides": list(overrides), "environment": environment(
                   torch.device("cuda") if cuda else torch.device("cpu"))}
    write_json(summary, out / "queue_summary.json")
    return summary


def run_throughput(models: list[str], out: str | Path, batch_size: int, steps: int, amp: str,
                   channels_last: bool, compile: bool, num_classes: int) -> dict:
    from cifarzoo.train.records import write_json
    from cifarzoo.train.throughput import measure
    rows = []
    for m in models:
        try:
            r = measure(m, batch_size=batch_size, steps=steps, amp=amp, channels_last=channels_last,
                        compile=compile, num_classes=num_classes)
            log.info("%-24s %9.0f img/s  %6.1f s/epoch  peak %.2f GiB", m, r["images_per_s"], r["epoch_s_cifar"],
                     r["peak_memory_bytes"] / 2**30)
        except Exception as e:
            r = {"model": m, "error": f"{type(e).__name__}: {e}"}
            log.error("%s: %s", m, r["error"])
        rows.append(r)
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = {"batch_size": batch_size, "steps": steps, "amp": amp, "channels_last": channels_last,
               "compile": compile, "models": rows}
    write_json(summary, out / "throughput.json")
    return summary


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m cifarzoo.train.queue", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recipes", nargs="+", metavar="RECIPE", help="recipes to train, in priority order")
    p.add_argument("--throughput-only", nargs="+", metavar="MODEL",
                   help="instead of training, time one epoch-equivalent per model (synthetic data)")
    p.add_argument("--data-dir", default="data", help="folder with cifar-10-batches-py / cifar-100-python")
    p.add_argument("--out", default="runs/queue", help="output folder (one sub-folder per recipe)")
    p.add_argument("--time-budget", type=float, default=900.0, metavar="SECONDS",
                   help="wall-clock budget for the whole queue (default 900)")
    p.add_argument("--reserve-s", type=float, default=60.0,
                   help="seconds kept back for every later run when sizing a run (default 60)")
    p.add_argument("--min-fraction", type=float, default=0.5,
                   help="skip a run when fewer than this fraction of its epochs fit (default 0.5)")
    p.add_argument("--compile", choices=("recipe", "on", "off"), default="recipe",
                   help="torch.compile: as the recipe says (default), always (CUDA only) or never")
    p.add_argument("--set", dest="overrides", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                   help="override config keys in every recipe (repeatable), e.g. --set epochs=10 aug.cutout=0")
    p.add_argument("--progress", action="store_true", help="tqdm bars per epoch")
    g = p.add_argument_group("--throughput-only options")
    g.add_argument("--batch-size", type=int, default=128)
    g.add_argument("--steps", type=int, default=30, help="timed steps per model (after 5 warm-up steps)")
    g.add_argument("--amp", choices=("none", "bf16", "fp16"), default=None,
                   help="default: bf16 on CUDA, none on CPU")
    g.add_argument("--channels-last", action="store_true")
    g.add_argument("--num-classes", type=int, default=10)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    if bool(args.recipes) == bool(args.throughput_only):
        print("error: give either --recipes or --throughput-only", file=sys.stderr)
        return 2
    try:
        if args.throughput_only:
            amp = args.amp or ("bf16" if torch.cuda.is_available() else "none")
            s = run_throughput(args.throughput_only, args.out, args.batch_size, args.steps, amp,
                               args.channels_last, args.compile == "on", args.num_classes)
            return 0 if all("error" not in r for r in s["models"]) else 1
        s = run_queue(args.recipes, args.data_dir, args.out, args.time_budget, args.overrides, args.reserve_s,
                      args.min_fraction, args.compile, args.progress)
    except (KeyError, ValueError, FileNotFoundError) as e:
        print(f"error: {e.args[0] if isinstance(e, KeyError) else e}", file=sys.stderr)
        return 2
    for r in s["runs"]:
        top1 = f"{r['top1']:.2f}%" if r.get("top1") is not None else "-"
        print(f"{r['recipe']:36s} {r['status']:11s} {top1:>8s} {r.get('wall_s', 0):7.1f}s "
              f"{'; '.join(r.get('notes') or [r.get('note', '')])}")
    print(f"total {s['wall_s']:.1f}s of {s['time_budget_s']:.0f}s; summary in {Path(args.out) / 'queue_summary.json'}")
    return 0 if all(r["status"] in ("completed", "skipped") for r in s["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
