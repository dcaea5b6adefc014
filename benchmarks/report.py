"""Turn the result files under benchmarks/results/ into docs/benchmarks.md and docs/img/*.png.

    python -m benchmarks.report                      # all results -> docs/benchmarks.md
    python -m benchmarks.report --results benchmarks/results --out docs/benchmarks.md --img docs/img

Sections, each present only when its files exist:
- every ``*/benchmark.json`` (written by ``benchmarks.run``): one table per run, headed by its
  hardware, date and command, plus a throughput-vs-MACs plot;
- accuracy vs MACs / params plots from ``weights_manifest.json`` (an empty-state figure before
  any weight is published);
- ``*/compare.json`` (``benchmarks.compare``): our models vs torchvision's;
- ``data_pipeline_*.json`` and ``train_throughput_*.json`` (written by the training engine);
- ``gpu_*/**/results.json``: the GPU training runs.
Nothing in the output is typed by hand: re-run this script after any results change.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchmarks import BENCH_JSON, COMPARE_JSON, DOCS_DIR, REPO_ROOT, RESULTS_DIR
from benchmarks.accuracy import DATASETS, accuracies
from benchmarks.machine import hardware_line

# ------------------------------------------------------------------ formatting helpers


def _fmt(value, digits: int = 2) -> str:
    if value is None or value == "":
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.{digits}f}"
    if isinstance(value, int):
        return f"{value:,d}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def _mega(value, digits: int = 2) -> str:
    return _fmt(value / 1e6, digits) if isinstance(value, (int, float)) else "–"


def table(headers: list[str], rows: list[list[str]], align: list[str] | None = None) -> str:
    align = align or ["l"] + ["r"] * (len(headers) - 1)
    sep = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def run_header(meta: dict, source: Path) -> str:
    """The provenance line every table carries: hardware, date, software, command."""
    machine = meta.get("machine") or {}
    parts = [f"**Hardware:** {hardware_line(machine)}" if machine else None,
             f"**Date:** {machine.get('date') or meta.get('date', '–')}",
             f"**torch** {machine.get('torch', '–')}" if machine else None,
             f"**commit** {machine.get('git_commit')}{' (modified tree)' if machine.get('git_dirty') else ''}"
             if machine.get("git_commit") else None]
    load = (machine.get("load_avg_start"), machine.get("load_avg_end"))
    if all(load):
        parts.append(f"**1-min load average** {load[0][0]:.1f} at start, {load[1][0]:.1f} at end "
                     f"(the CPU is shared; a load above the core count slows every timing)")
    gf = (machine.get("matmul_gflops_start"), machine.get("matmul_gflops_end"))
    if gf[0]:
        parts.append(f"**512x512 matmul yardstick** {gf[0]} GFLOP/s at start"
                     + (f", {gf[1]} at end" if gf[1] else ""))
    lines = [" · ".join(p for p in parts if p)]
    if meta.get("command"):
        lines.append(f"**Command:** `{meta['command']}`")
    lines.append(f"**Source:** `{_rel(source)}`")
    return "  \n".join(lines)


def _rel(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def _load(path: Path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"cannot read results file {path}: {e}") from e

# ------------------------------------------------------------------ benchmark runs


def benchmark_section(data: dict, source: Path, img_dir: Path, doc_dir: Path, acc: dict) -> str:
    name = source.parent.name
    rows = data.get("results") or []
    variants = data.get("variants") or []
    headers = ["Model", "Family", "Params (M)", "MACs (M)", "Act. mem / img (MB)"]
    for v in variants:
        headers += [f"{v} b1 latency (ms)", f"{v} img/s (batch)", f"{v} train img/s (batch)"]
    headers += [f"Top-1 {ds.upper()}" for ds in DATASETS]
    body = []
    for r in rows:
        line = [f"`{r['model']}`", r.get("family", "–"), _mega(r.get("params")), _mega(r.get("macs"), 1),
                _mega(r.get("activation_bytes_per_image"))]
        for v in variants:
            s = (r.get("speed") or {}).get(v) or {}
            line += [_fmt(s.get("latency_b1_ms"), 1),
                     f"{_fmt(s.get('throughput_img_s'), 1)} ({s['throughput_batch']})" if s else "–",
                     f"{_fmt(s.get('train_img_s'), 1)} ({s['train_batch']})" if s else "–"]
        line += [_fmt((acc.get(r["model"], {}).get(ds) or {}).get("top1")) for ds in DATASETS]
        body.append(line)
    out = [f"### Run `{name}`", "", run_header(data, source), "",
           f"MACs per 3x32x32 image by {data.get('mac_counter', 'fvcore')}; activation memory: "
           f"{data.get('activation_memory_method', '–')}.", ""]
    if variants:
        out += [f"Timing: {data.get('timing_method', '')}. Settings: `{json.dumps(data.get('timing', {}))}`.", ""]
    out += [table(headers, body, ["l", "l"] + ["r"] * (len(headers) - 2)), ""]
    errors = [(r["model"], r["errors"]) for r in rows if r.get("errors")]
    if errors:
        out += ["Failures in this run:", ""]
        out += [f"- `{m}`: " + "; ".join(f"{k}: {_fmt(v)[:300]}" for k, v in e.items()) for m, e in errors]
        out.append("")
    if variants:
        from benchmarks.plots import throughput_plot
        png = throughput_plot(rows, variants[0], img_dir / f"bench_{name}_throughput_vs_macs.png",
                              f"Inference throughput vs MACs: {name} ({variants[0]})")
        out += [f"![throughput vs MACs, {name}]({_rel_to(png, doc_dir)})", ""]
    return "\n".join(out)


def _rel_to(path: Path, base: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path(base).resolve()))
    except ValueError:
        return str(path)


def accuracy_section(bench: list[dict], acc: dict, img_dir: Path, doc_dir: Path) -> str:
    """Accuracy plots: MACs and params of each model come from any benchmark run that measured them."""
    from benchmarks.plots import accuracy_plot

    cost: dict[str, dict] = {}
    for data in bench:
        for r in data.get("results") or []:
            cost.setdefault(r["model"], {}).update({k: r[k] for k in ("family", "params", "macs") if r.get(k)})
    points, missing = [], []
    for model, by_ds in sorted(acc.items()):
        if model not in cost:
            missing.append(model)
            continue
        for ds, a in by_ds.items():
            points.append({"model": model, "dataset": ds, "top1": a["top1"], **cost[model]})
    p1 = accuracy_plot(points, "macs", "MACs per 32x32 image (M, fvcore)", img_dir / "bench_acc_vs_macs.png",
                       "Top-1 vs MACs")
    p2 = accuracy_plot(points, "params", "parameters (M)", img_dir / "bench_acc_vs_params.png", "Top-1 vs params")
    out = ["## Accuracy vs cost", ""]
    if not points:
        out += ["No pretrained weights are listed in `weights_manifest.json` yet; these plots fill in as "
                "weights are published.", ""]
    else:
        out += [f"{len(points)} published weights (top-1 on the full test set, from `weights_manifest.json`).", ""]
    if missing:
        out += [f"Weights without a benchmark row (run `benchmarks.run` on them): {', '.join(missing)}.", ""]
    out += [f"![top-1 vs MACs]({_rel_to(p1, doc_dir)})", "", f"![top-1 vs params]({_rel_to(p2, doc_dir)})", ""]
    return "\n".join(out)

# ------------------------------------------------------------------ comparison with torchvision


def compare_section(data: dict, source: Path) -> str:
    headers = ["Ours", "torchvision equivalent", "Params ours / tv", "MACs ours / tv (M)", "Mode", "Batch",
               "Ours img/s", "tv img/s", "Ratio ours/tv"]
    body = []
    for p in data.get("pairs") or []:
        for mode in ("inference", "train"):
            m = (p.get("speed") or {}).get(mode)
            if not m:
                continue
            body.append([f"`{p['ours']}`", f"`{p.get('torchvision', '–')}`",
                         f"{_mega(p.get('params_ours'))} / {_mega(p.get('params_tv'))}",
                         f"{_mega(p.get('macs_ours'), 1)} / {_mega(p.get('macs_tv'), 1)}", mode,
                         _fmt(m.get("batch")), _fmt(m.get("ours_img_s"), 1), _fmt(m.get("tv_img_s"), 1),
                         f"**{m['ratio']:.3f}**" if m.get("ratio") is not None else "–"])
    out = [f"### `{_rel(source)}`", "", run_header(data, source), "", data.get("method", ""), "",
           table(headers, body, ["l", "l", "r", "r", "l", "r", "r", "r", "r"]), ""]
    notes = [f"- `{p['ours']}`: {p['note']}" for p in data.get("pairs") or [] if p.get("note")]
    notes += [f"- `{p['ours']}`: {p['error']}" for p in data.get("pairs") or [] if p.get("error")]
    if notes:
        out += notes + [""]
    return "\n".join(out)

# ------------------------------------------------------------------ files written by others


META_KEYS = ("machine", "hardware", "device", "date", "command", "torch")


def _flatten(d: dict, prefix: str = "") -> dict:
    flat = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            flat.update(_flatten(v, key + "."))
        elif not isinstance(v, list):
            flat[key] = v
    return flat


def _records(data) -> list[dict] | None:
    if isinstance(data, list) and all(isinstance(x, dict) for x in data):
        return data
    if isinstance(data, dict):
        for v in data.values():
            if isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
                return v
    return None


def generic_section(path: Path) -> str:
    """Any results JSON of unknown layout: its provenance, then its records as a table (or its
    scalar fields as key/value rows)."""
    data = _load(path)
    meta = data if isinstance(data, dict) else {}
    out = [f"### `{path.name}`", ""]
    if isinstance(meta.get("machine"), dict):
        out += [run_header(meta, path), ""]
    else:
        bits = [f"**{k}:** `{meta[k]}`" if k == "command" else f"**{k}:** {_fmt(meta[k])}"
                for k in META_KEYS if k in meta and not isinstance(meta[k], (dict, list))]
        out += ["  \n".join(bits + [f"**Source:** `{_rel(path)}`"]), ""]
    recs = _records(data)
    if recs:
        flats = [_flatten(r) for r in recs]
        cols: list[str] = []
        for f in flats:
            cols += [c for c in f if c not in cols]
        out.append(table(cols, [[_fmt(f.get(c)) for c in cols] for f in flats], ["l"] * len(cols)))
    else:
        flat = _flatten({k: v for k, v in meta.items() if k not in META_KEYS})
        out.append(table(["Field", "Value"], [[k, _fmt(v)] for k, v in flat.items()], ["l", "r"]))
    return "\n".join(out + [""])


GPU_FIELDS = {  # column -> keys that name it in a results.json (first found wins; dotted = nested)
    "Model": ("model", "arch", "model_name", "config.model"),
    "Recipe": ("recipe", "recipe_name", "config.recipe"),
    "Dataset": ("dataset", "config.dataset"),
    "Top-1 (%)": ("top1", "test_top1", "metrics.top1", "final.top1", "eval.top1", "acc1"),
    "Weights": ("final.weights", "weights"),  # which weights the top-1 is of (e.g. EMA or raw)
    "Wall time (s)": ("wall_time_s", "wall_s", "train_wall_s", "wall_time", "time_s"),
    "Images/s": ("images_per_s", "img_per_s", "img_s", "train_img_s", "throughput_img_s", "throughput"),
    "Epochs": ("epochs_completed", "epochs_done"),
    "Device": ("environment.device_name", "machine.gpu", "gpu", "device_name", "device", "hardware"),
    "Status": ("status",),
}


def _dig(d: dict, dotted: str):
    for part in dotted.split("."):
        if not isinstance(d, dict) or part not in d:
            return None
        d = d[part]
    return d


def gpu_section(paths: list[Path]) -> str:
    body = []
    for path in paths:
        data = _load(path)
        runs = _records(data) if not (isinstance(data, dict) and any(_dig(data, k) is not None
                                                                      for k in GPU_FIELDS["Model"])) else [data]
        for run in runs or [data]:
            row = []
            for keys in GPU_FIELDS.values():
                value = next((_dig(run, k) for k in keys if _dig(run, k) is not None), None)
                if value is None and isinstance(data, dict) and run is not data:  # file-level field
                    value = next((_dig(data, k) for k in keys if _dig(data, k) is not None), None)
                row.append(_fmt(value if not isinstance(value, dict) else value.get("mean")))
            body.append(row + [f"`{_rel(path)}`"])
    headers = list(GPU_FIELDS) + ["Source"]
    return table(headers, body, ["l", "l", "l", "r", "l", "r", "r", "r", "l", "l", "l"])

# ------------------------------------------------------------------ the document


def build_report(results_dir: Path, out: Path, img_dir: Path, manifest: Path | None = None) -> str:
    results_dir, out, img_dir = Path(results_dir), Path(out), Path(img_dir)
    doc_dir = out.parent
    acc = accuracies(manifest)
    bench_files = sorted(results_dir.glob(f"*/{BENCH_JSON}"))
    bench = [_load(p) for p in bench_files]
    parts = ["# Benchmarks", "",
             "Generated by `python -m benchmarks.report` from the files under `benchmarks/results/` and "
             "`weights_manifest.json`; nothing here is typed by hand. Re-run it after new results.", "",
             "**MACs** are counted by fvcore (`fvcore.nn.FlopCountAnalysis`), which counts one fused "
             "multiply-add as one \"flop\": its totals are multiply-accumulates (`cifarzoo.flops.count_macs`). "
             "Convolutions, linears and matrix products count one per multiply-add, layer/group norm fvcore's "
             "5 per element, and cifarzoo adds a handle for `scaled_dot_product_attention` (QK^T plus AV). "
             "Batch norm (folded into the conv at inference) and pooling are not counted, nor are element-wise "
             "ops (ReLU, additions), as in the published CIFAR zoos: MobileNetV2 x1.0 counts 87.98 M, the "
             "figure chenyaofo/pytorch-cifar-models publishes.", ""]
    parts.append(accuracy_section(bench, acc, img_dir, doc_dir))
    if bench:
        parts += ["## Model benchmarks", ""]
        for data, path in zip(bench, bench_files):
            parts.append(benchmark_section(data, path, img_dir, doc_dir, acc))
    else:
        parts += ["## Model benchmarks", "",
                  "No benchmark run yet: `python -m benchmarks.run --models '*' --out benchmarks/results/cpu_all`.",
                  ""]
    compare_files = sorted(results_dir.glob(f"*/{COMPARE_JSON}"))
    if compare_files:
        parts += ["## Our models vs torchvision, built the same way", "",
                  "Same machine, same process, measurements interleaved; ratio > 1 means ours is faster.", ""]
        parts += [compare_section(_load(p), p) for p in compare_files]
    for title, pattern in (("Data pipeline", "data_pipeline_*.json"),
                           ("Training throughput", "train_throughput_*.json")):
        files = sorted(results_dir.rglob(pattern))
        if files:
            parts += [f"## {title}", ""] + [generic_section(p) for p in files]
    gpu_files = sorted(p for p in results_dir.glob("gpu_*/**/results.json"))
    if gpu_files:
        parts += ["## GPU runs", "", "Training runs on GPU machines, one row per `results.json`.", "",
                  gpu_section(gpu_files), ""]
        # the documents' headline runs against ours: the same text as docs/reproductions.md
        from benchmarks.reproductions import build as build_reproductions
        body = build_reproductions(results_dir).split("\n", 1)[1].replace("\n## ", "\n### ")
        parts += ["## Reproducing the documents", body]
    text = "\n".join(parts).rstrip() + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return text


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", type=Path, default=RESULTS_DIR, help="results folder (default benchmarks/results)")
    p.add_argument("--out", type=Path, default=DOCS_DIR / "benchmarks.md", help="markdown file to write")
    p.add_argument("--img", type=Path, default=DOCS_DIR / "img", help="folder for the PNG plots")
    p.add_argument("--manifest", type=Path, default=None,
                   help="weights manifest (default: the package's, i.e. weights_manifest.json)")
    args = p.parse_args(argv)
    if not args.results.is_dir():
        print(f"benchmarks.report: error: results folder {args.results} does not exist; run "
              "`python -m benchmarks.run ... --out benchmarks/results/NAME` first", file=sys.stderr)
        return 2
    try:
        build_report(args.results, args.out, args.img, args.manifest)
    except ValueError as e:
        print(f"benchmarks.report: error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.out} and plots under {args.img}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
