"""Maintainer side of the weights: turn a training run into a manifest entry, export a Hub-ready
folder, push it with ``huggingface_hub``.

``add_run`` is the only way an entry gets into ``weights_manifest.json``: it reads the run's
``results.json`` and ``model.safetensors``, measures top-1/top-5 on the full test set here (fp32,
then the half-precision copy that would be stored), picks the storage dtype, writes the file with
its provenance in the safetensors metadata header, and records checksum, size, params and MACs.
Numbers in the manifest are therefore measured on the file users download, never typed in.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import platform
import shlex
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import torch

from cifarzoo.evaluate import evaluate
from cifarzoo.manifest import (DATASET_CLASSES, DEFAULT_PROTOCOL, MAX_COMMITTED_BYTES, WeightEntry,
                               write_manifest)
from cifarzoo.pretrained import (load_checkpoint_file, load_manifest, load_state, locate_weight, manifest_path,
                                 mirror_root, resolve_weight)
from cifarzoo.registry import create_model, model_info, split_name

log = logging.getLogger("cifarzoo")

DEFAULT_HUB_ORG = "cifarzoo"
WEIGHT_FILENAME = "model.safetensors"
MAX_MIRROR_BYTES = 16 * 1024 * 1024  # all of weights/ together (the working tree ships to GPU machines)
FULL_TEST_IMAGES = {"cifar10": 10_000, "cifar100": 10_000}
MAX_HALF_DROP = 0.05  # top-1 points a float16/bfloat16 copy may lose and still be the stored file
TEST_TRANSFORM = ("to_tensor", "normalize")  # CIFAR test images: no resize, no crop
HF_DATASET_IDS = {"cifar10": "uoft-cs/cifar10", "cifar100": "uoft-cs/cifar100"}
DATASET_TITLES = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}

try:  # patched in tests; imported lazily-safe so the module loads without network
    from huggingface_hub import HfApi
except ImportError:  # pragma: no cover - huggingface_hub is a dependency
    HfApi = None


# --- reading a training run -------------------------------------------------------------------


@dataclass(frozen=True)
class RunRecord:
    """What a training run folder says about itself (``None`` where it says nothing)."""

    run_dir: Path
    weights: Path
    top1: float
    top5: float | None
    model: str | None = None
    model_kwargs: Mapping[str, Any] = field(default_factory=dict)
    dataset: str | None = None
    recipe: str | None = None
    seed: int | None = None
    command: str | None = None
    wall_time_s: float | None = None
    hardware: str | None = None
    torch_version: str | None = None
    cifarzoo_version: str | None = None
    git_commit: str | None = None
    date: str | None = None


# Names a results.json may use for each fact, most specific first.  Keys holding "best" are
# never read: a best-epoch accuracy is selected on the test set, which the protocol forbids.
_KEYS = {
    "top1": ("final_top1", "test_top1", "top1", "top1_acc", "acc1", "test_acc1", "test_acc", "accuracy"),
    "top5": ("final_top5", "test_top5", "top5", "top5_acc", "acc5", "test_acc5"),
    "model": ("model", "arch", "model_name", "architecture"),
    "model_kwargs": ("model_kwargs", "arch_kwargs", "model_args"),
    "dataset": ("dataset", "dataset_name"),
    "recipe": ("recipe", "recipe_name"),
    "seed": ("seed",),
    "command": ("command", "cmd", "argv", "command_line"),
    "wall_time_s": ("wall_time_s", "wall_time", "train_time_s", "elapsed_s", "duration_s", "time_s"),
    "hardware": ("device_name", "gpu_name", "gpu", "hardware", "cuda_device"),
    "torch_version": ("torch_version", "torch"),
    "cifarzoo_version": ("cifarzoo_version", "version"),
    "git_commit": ("git_commit", "commit", "git_sha", "git_rev"),
    "date": ("date", "finished_at", "end_time", "finished", "timestamp"),
}
_PREFERRED = ("final", "test", "metrics", "results", "config", "env", "environment", "system", "provenance")


def _find(doc: Mapping, names: Iterable[str]):
    """First value under any of ``names``: the top level first, then preferred sub-objects, then
    any nested object (breadth first).  Lists (e.g. per-epoch history) are not searched."""
    names = tuple(names)
    level = [doc]
    while level:
        for name in names:
            for obj in level:
                for k, v in obj.items():
                    if k.lower() == name and "best" not in k.lower() and v is not None:
                        return v
        nxt = []
        for obj in level:
            subs = [(k, v) for k, v in obj.items() if isinstance(v, Mapping)]
            subs.sort(key=lambda kv: _PREFERRED.index(kv[0]) if kv[0] in _PREFERRED else len(_PREFERRED))
            nxt.extend(v for _, v in subs)
        level = nxt
    return None


def _percent(v: Any, what: str, path: Path) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ValueError(f"{path}: {what} is {v!r}, not a number")
    return float(v)


def read_run(run_dir: str | os.PathLike) -> RunRecord:
    """Read ``RUN_DIR/results.json`` and find ``RUN_DIR/model.safetensors``."""
    run_dir = Path(run_dir).expanduser()
    res_path = run_dir / "results.json"
    if not res_path.is_file():
        raise FileNotFoundError(f"{res_path} not found: RUN_DIR must be a finished training run folder "
                                "(cifarzoo train writes results.json and model.safetensors there)")
    try:
        doc = json.loads(res_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{res_path} is not valid JSON: {e}") from None
    if not isinstance(doc, Mapping):
        raise ValueError(f"{res_path} must hold a JSON object")
    # the trainer names the file whose accuracy "final" reports (the EMA copy when EMA was used)
    listed = doc.get("weights", {}).get("file") if isinstance(doc.get("weights"), Mapping) else None
    weights = run_dir / (listed if isinstance(listed, str) else WEIGHT_FILENAME)
    if listed and not weights.is_file():
        raise FileNotFoundError(f"{res_path} names {listed} as the final weights, but {weights} is missing")
    if not weights.is_file():
        others = sorted(run_dir.glob("*.safetensors"))
        if len(others) != 1:
            raise FileNotFoundError(f"{weights} not found (and {len(others)} other .safetensors files in {run_dir}); "
                                    "the run must have finished and saved its final model")
        weights = others[0]
    found = {k: _find(doc, names) for k, names in _KEYS.items()}
    if found["top1"] is None:
        raise ValueError(f"{res_path} has no final top-1 accuracy (looked for {', '.join(_KEYS['top1'])} at the top "
                         "level and in nested objects); a run without its final test accuracy cannot be published")
    top1 = _percent(found["top1"], "top-1", res_path)
    top5 = _percent(found["top5"], "top-5", res_path) if found["top5"] is not None else None
    if top1 <= 1.0 and (top5 is None or top5 <= 1.0):
        # fractions, not percentages (no trained CIFAR model is at or below 1 % top-1)
        top1, top5 = top1 * 100.0, (top5 * 100.0 if top5 is not None else None)
    cmd = found["command"]
    if isinstance(cmd, (list, tuple)):
        cmd = shlex.join(str(c) for c in cmd)
    kwargs = found["model_kwargs"] or {}
    if not isinstance(kwargs, Mapping):
        raise ValueError(f"{res_path}: model_kwargs is {kwargs!r}, expected an object")
    seed = found["seed"]
    wall = found["wall_time_s"]

    def text(v):
        return None if v is None else (v if isinstance(v, str) else json.dumps(v))

    return RunRecord(
        run_dir=run_dir, weights=weights, top1=top1, top5=top5, model=text(found["model"]),
        model_kwargs=dict(kwargs), dataset=text(found["dataset"]), recipe=text(found["recipe"]),
        seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else None, command=text(cmd),
        wall_time_s=float(wall) if isinstance(wall, (int, float)) and not isinstance(wall, bool) else None,
        hardware=text(found["hardware"]), torch_version=text(found["torch_version"]),
        cifarzoo_version=text(found["cifarzoo_version"]), git_commit=text(found["git_commit"]),
        date=text(found["date"]))


# --- measuring ----------------------------------------------------------------------------------


def count_macs(model: torch.nn.Module, input_size=(3, 32, 32)) -> int:
    """MACs at batch 1 through the project's counter (fvcore: one multiply-add = one flop)."""
    from cifarzoo.flops import count_macs as _count

    return int(_count(model, input_size=tuple(input_size)))


def _as_dtype(state: Mapping[str, torch.Tensor], dtype: torch.dtype) -> dict[str, torch.Tensor] | None:
    """Floating tensors cast to ``dtype`` (integer buffers kept); None if a finite value overflows."""
    out = {}
    for k, v in state.items():
        if v.is_floating_point():
            c = v.detach().to(dtype)
            if not torch.isfinite(c).all() and torch.isfinite(v).all():
                return None
            out[k] = c.contiguous()
        else:
            out[k] = v.detach().contiguous()
    return out


def _dataset_of_tag(tag: str) -> str:
    for ds in sorted(DATASET_CLASSES, key=len, reverse=True):
        if tag == ds or tag.startswith(ds + "_"):
            return ds
    raise ValueError(f"tag {tag!r} must be a dataset name ({', '.join(sorted(DATASET_CLASSES))}) plus an optional "
                     "'_recipe' word, e.g. cifar100_sd")


def _metadata(entry_data: Mapping[str, Any], name: str) -> dict[str, str]:
    """Provenance written into the safetensors header (strings only, as the format requires)."""
    prov, m = entry_data["provenance"], entry_data["metrics"]
    meta = {
        "format": "pt", "cifarzoo_name": name, "arch": entry_data["arch"],
        "arch_kwargs": json.dumps(entry_data["arch_kwargs"], sort_keys=True),
        "num_classes": str(entry_data["num_classes"]), "dataset": entry_data["dataset"],
        "mean": json.dumps(list(entry_data["mean"])), "std": json.dumps(list(entry_data["std"])),
        "dtype": entry_data["dtype"], "recipe": entry_data["recipe"], "command": entry_data["command"],
        "protocol": entry_data["protocol"], "top1": f"{m['top1']:.2f}", "top5": f"{m['top5']:.2f}",
    }
    for k in ("hardware", "wall_time_s", "cifarzoo_version", "git_commit", "torch_version", "run_top1", "date"):
        if prov.get(k) is not None:
            meta[k] = str(prov[k])
    return meta


def _mirror_bytes(root: Path, exclude: Path | None = None) -> int:
    if not root.is_dir():
        return 0
    return sum(p.stat().st_size for p in root.rglob("*.safetensors")
               if p.is_file() and (exclude is None or p.resolve() != exclude.resolve()))


# --- add ------------------------------------------------------------------------------------------


def add_run(run_dir: str | os.PathLike, name: str, data_dir: str | os.PathLike, hf_hub_id: str | None = None,
            default: bool = False, also: Iterable[str | os.PathLike] = (), push: bool = False, replace: bool = False,
            device: str = "cpu", batch_size: int = 256, token: str | None = None, api: Any = None,
            progress: bool = True, require_full_test_set: bool = True) -> WeightEntry:
    """Measure a finished run and insert it into the manifest as weight ``name`` (``arch.tag``).

    ``also``: more run folders of the same recipe with other seeds; their own final accuracies
    become ``metrics.runs`` with mean and std.  ``require_full_test_set=False`` lets a smaller test
    set through (tests with generated data only: published numbers are full-test-set numbers).
    Weights over 4 MB cannot be committed to ``weights/``: they need ``push=True`` (the entry is
    written with the pinned Hub revision).
    """
    arch, tag = split_name(name)
    if tag is None:
        raise ValueError(f"--name {name!r} must be 'arch.tag', e.g. resnet56.cifar10")
    mpath = manifest_path()
    if mpath is None:
        raise FileNotFoundError("no weights_manifest.json to add to: run from a source checkout or set "
                                "CIFARZOO_MANIFEST to the manifest file")
    entries = load_manifest()
    if name in entries and not replace:
        raise ValueError(f"{name} is already in {mpath}; pass --replace to measure and write it again")
    dataset = _dataset_of_tag(tag)
    run = read_run(run_dir)
    if run.model is not None and run.model != arch:
        raise ValueError(f"{run.run_dir} trained {run.model!r}, but --name says {arch!r}")
    if run.dataset is not None and run.dataset != dataset:
        raise ValueError(f"{run.run_dir} trained on {run.dataset!r}, but the tag {tag!r} says {dataset!r}")
    info = model_info(arch)
    unknown = sorted(set(run.model_kwargs) - set(info.knobs))
    if unknown:
        raise ValueError(f"{run.run_dir}: model_kwargs {unknown} are not arguments of {arch}")
    num_classes = DATASET_CLASSES[dataset]

    model = create_model(arch, num_classes=num_classes, **run.model_kwargs).eval()
    load_checkpoint_file(model, run.weights)
    params = sum(p.numel() for p in model.parameters())
    if params * 2 > MAX_COMMITTED_BYTES and not push:  # even half precision will not fit in weights/
        raise ValueError(f"{name}: {params:,} parameters make a file over {MAX_COMMITTED_BYTES >> 20} MB, too big "
                         "for weights/; publish it on the Hub in the same step with --push --hf-hub-id ORG/REPO")
    # clone: safetensors refuses tensors that share storage (tied weights in a user's model);
    # every state_dict key is kept so a plain strict load_state_dict works
    state = {k: v.detach().cpu().clone().contiguous() for k, v in model.state_dict().items()}

    def measure(m):
        return evaluate(m, dataset, device=device, amp=False, data_dir=data_dir, batch_size=batch_size,
                        progress=progress)

    res32 = measure(model)
    if require_full_test_set and res32["num_images"] != FULL_TEST_IMAGES[dataset]:
        raise ValueError(f"the {dataset} test set under {data_dir} has {res32['num_images']:,} images, not the full "
                         f"{FULL_TEST_IMAGES[dataset]:,}: published accuracies are full-test-set numbers")
    log.info("%s: float32 top-1 %.2f%% top-5 %.2f%% on %d images (the run reported %.2f%%)", name, res32["top1"],
             res32["top5"], res32["num_images"], run.top1)
    if abs(res32["top1"] - run.top1) > 1.0:
        raise ValueError(f"{run.weights} measures {res32['top1']:.2f}% top-1 here but {run.run_dir}/results.json "
                         f"reports {run.top1:.2f}%: the file is not the run's final model, or the data under "
                         f"{data_dir} is not the {dataset} test set")
    chosen, res, stored = "float32", res32, state
    for dt_name, dt in (("float16", torch.float16), ("bfloat16", torch.bfloat16)):
        half = _as_dtype(state, dt)
        if half is None:
            log.info("%s: %s overflows a value of the weight; not used", name, dt_name)
            continue
        m = create_model(arch, num_classes=num_classes, **run.model_kwargs).eval()
        load_state(m, half, source=f"{dt_name} copy")
        r = measure(m)
        drop = res32["top1"] - r["top1"]
        log.info("%s: %s top-1 %.2f%% (drop %.3f points, limit %.2f)", name, dt_name, r["top1"], drop, MAX_HALF_DROP)
        if drop <= MAX_HALF_DROP + 1e-9:
            chosen, res, stored = dt_name, r, half
            break

    hub_id = hf_hub_id or f"{DEFAULT_HUB_ORG}/{name}"
    runs = _runs(run, also)
    metrics: dict[str, Any] = {
        "top1": round(res["top1"], 4), "top5": round(res["top5"], 4), "num_images": res["num_images"],
        "nll": round(res["nll"], 5), "ece": round(res["ece"], 4),
        "measured": f"cifarzoo.evaluate on {torch.device(device).type.upper()}, float32 arithmetic, {chosen} "
                    f"weights (the published file), {DATASET_TITLES[dataset]} test set of {res['num_images']:,} "
                    "images",
    }
    if runs:
        metrics["runs"] = runs
        for key in ("top1", "top5"):
            vals = [r[key] for r in runs if r.get(key) is not None]
            if len(vals) == len(runs):
                mean = sum(vals) / len(vals)
                metrics[f"{key}_mean"] = round(mean, 4)
                metrics[f"{key}_std"] = round(math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)), 4)
    provenance = {
        "hardware": run.hardware or "unknown", "wall_time_s": run.wall_time_s,
        "cifarzoo_version": run.cifarzoo_version or "unknown", "git_commit": run.git_commit or "unknown",
        "torch_version": run.torch_version or "unknown", "run_top1": run.top1, "run_top5": run.top5,
        "run_seed": run.seed, "date": run.date,
        "measured_with": f"torch {torch.__version__} on {platform.machine()} CPU",
    }
    from cifarzoo.data import DATASETS

    spec = DATASETS[dataset]
    data: dict[str, Any] = {
        "arch": arch, "arch_kwargs": dict(run.model_kwargs), "num_classes": num_classes, "dataset": dataset,
        "mean": list(spec.mean), "std": list(spec.std), "input_size": list(info.input_size),
        "test_transform": list(TEST_TRANSFORM), "hf_hub_id": hub_id, "filename": WEIGHT_FILENAME,
        "revision": None, "sha256": "0" * 64, "size": 1, "dtype": chosen, "params": params,
        "macs": count_macs(model, info.input_size), "metrics": metrics, "protocol": DEFAULT_PROTOCOL,
        "recipe": run.recipe or "unknown", "command": run.command or "unknown",
        "provenance": {k: v for k, v in provenance.items() if v is not None or k == "wall_time_s"},
        "default": bool(default),
    }
    from safetensors.torch import save

    blob = save(stored, metadata=_metadata(data, name))
    data["sha256"], data["size"] = hashlib.sha256(blob).hexdigest(), len(blob)
    others = {n: e for n, e in entries.items() if e.arch == arch and n != name}
    if not any(e.default for e in others.values()):
        data["default"] = True  # the first weight of an architecture (or the replaced default) stays default
    entry = WeightEntry.from_dict(name, data)
    if entry.default:
        others = {n: dataclasses.replace(e, default=False) for n, e in others.items()}
    new_entries = {**entries, **others, name: entry}

    mirror = mirror_root() or mpath.parent / "weights"
    target = mirror / entry.repo_name / entry.filename
    fits = len(blob) <= MAX_COMMITTED_BYTES
    if fits and _mirror_bytes(mirror, exclude=target) + len(blob) > MAX_MIRROR_BYTES:
        fits = False
        if not push:
            raise ValueError(f"weights/ would exceed {MAX_MIRROR_BYTES >> 20} MB with {name} ({len(blob):,} bytes); "
                             "publish it on the Hub instead with --push --hf-hub-id ORG/REPO")
    if not fits and not push:
        raise ValueError(f"{name}: the {chosen} file has {len(blob):,} bytes, over the {MAX_COMMITTED_BYTES:,} that "
                         "may be committed to weights/; rerun with --push --hf-hub-id ORG/REPO")
    if fits:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(blob)
        log.info("wrote %s (%s, %s bytes)", target, chosen, f"{len(blob):,}")
        write_manifest(mpath, new_entries)
        if not push:
            return entry
    with tempfile.TemporaryDirectory() as tmp:
        weight_file = Path(tmp) / "file" / entry.filename
        weight_file.parent.mkdir()
        weight_file.write_bytes(blob)
        folder = export_entry(entry, weight_file, Path(tmp) / "export")
        revision = _upload(folder, entry.hf_hub_id, entry.name, token=token, api=api)
    entry = dataclasses.replace(entry, revision=revision)
    write_manifest(mpath, {**new_entries, name: entry})
    return entry


def _runs(main: RunRecord, also: Iterable[str | os.PathLike]) -> list[dict]:
    """``metrics.runs``: each seed's own final accuracy (the main run first); [] for a single run."""
    records = [main] + [read_run(d) for d in also]
    if len(records) == 1:
        return []
    out = []
    for r in records:
        if r.seed is None:
            raise ValueError(f"{r.run_dir}/results.json records no seed; runs listed together need their seeds")
        if (r.model, r.dataset, r.recipe) != (main.model, main.dataset, main.recipe):
            raise ValueError(f"{r.run_dir} is not the same model/dataset/recipe as {main.run_dir}")
        d = {"seed": r.seed, "top1": round(r.top1, 4), "run": r.run_dir.name}
        if r.top5 is not None:
            d["top5"] = round(r.top5, 4)
        out.append(d)
    return out


# --- export and push ---------------------------------------------------------------------------


def model_card(entry: WeightEntry) -> str:
    """README.md of the Hub repository: metadata header, usage, metrics table, recipe, provenance."""
    info = model_info(entry.arch)
    m, p = entry.metrics, entry.provenance
    title = DATASET_TITLES[entry.dataset]
    header = {
        "library_name": "cifarzoo", "license": "mit", "pipeline_tag": "image-classification",
        "tags": ["image-classification", "cifarzoo", entry.dataset, entry.arch],
        "datasets": [HF_DATASET_IDS[entry.dataset]], "metrics": ["accuracy"],
        "model-index": [{"name": entry.name, "results": [{
            "task": {"type": "image-classification"},
            "dataset": {"name": title, "type": HF_DATASET_IDS[entry.dataset], "split": "test"},
            "metrics": [{"type": "accuracy", "name": "Top-1 accuracy", "value": m["top1"]},
                        {"type": "accuracy", "name": "Top-5 accuracy", "value": m["top5"]}]}]}],
    }
    lines = ["---", *_yaml(header), "---", "", f"# {entry.name}", "",
             f"{info.description} Trained on {title} with the cifarzoo recipe `{entry.recipe}`.", "",
             f"Architecture source: {info.source}.", "",
             "## Usage", "", "```python", "import cifarzoo", "",
             f'model = cifarzoo.create_model("{entry.name}", pretrained=True).eval()', "```", "",
             f"Inputs: {entry.input_size[1]}x{entry.input_size[2]} RGB, ToTensor then Normalize(mean="
             f"{list(entry.mean)}, std={list(entry.std)}); no resize, no crop.", "",
             f"## Results on the {title} test set", "",
             "| metric | value |", "|---|---|",
             f"| top-1 accuracy (%) | {m['top1']:.2f} |", f"| top-5 accuracy (%) | {m['top5']:.2f} |"]
    if "nll" in m:
        lines.append(f"| NLL | {m['nll']:.4f} |")
    if "ece" in m:
        lines.append(f"| ECE, 15 bins (%) | {m['ece']:.2f} |")
    lines += [f"| test images | {m['num_images']:,} |", f"| parameters | {entry.params:,} |",
              f"| MACs at {entry.input_size[1]}x{entry.input_size[2]} (fvcore, 1 multiply-add = 1 flop) | "
              f"{entry.macs:,} |", ""]
    if m.get("measured"):
        lines += [f"Measured: {m['measured']}. Protocol: {entry.protocol}.", ""]
    runs = m.get("runs") or ()
    if runs:
        lines += ["| seed | top-1 (%) | top-5 (%) |", "|---|---|---|"]
        lines += [f"| {r['seed']} | {r['top1']:.2f} | {r['top5']:.2f} |" if r.get("top5") is not None
                  else f"| {r['seed']} | {r['top1']:.2f} | |" for r in runs]
        lines += ["", f"Mean over {len(runs)} seeds: top-1 {m['top1_mean']:.2f} +/- {m['top1_std']:.2f} "
                      "(each run's own final-epoch number).", ""]
    lines += ["## Recipe", "", f"Recipe `{entry.recipe}`; the exact command:", "", "```", entry.command, "```", "",
              "## Provenance", "", "| | |", "|---|---|"]
    for k, v in p.items():
        if v is None:
            continue
        if k == "wall_time_s":
            k, v = "wall time", f"{v:,.0f} s ({v / 3600:.2f} h)"
        lines.append(f"| {k.replace('_', ' ')} | {v} |")
    lines += ["", "## File", "", f"`{entry.filename}`: safetensors, {entry.dtype}, {entry.size:,} bytes, sha256 "
              f"`{entry.sha256}`. Its metadata header repeats the provenance above.", ""]
    return "\n".join(lines)


def _yaml(obj: Any, indent: int = 0) -> list[str]:
    """Tiny YAML writer for the model-card header (JSON scalars are valid YAML)."""
    pad = " " * indent
    out = []
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            if isinstance(v, (Mapping, list)) and v:
                out.append(f"{pad}{k}:")
                out += _yaml(v, indent + 2)
            else:
                out.append(f"{pad}{k}: {json.dumps(v)}")
    else:
        for v in obj:
            if isinstance(v, Mapping):
                sub = _yaml(v, indent + 2)
                out.append(f"{pad}- {sub[0].lstrip()}")
                out += sub[1:]
            else:
                out.append(f"{pad}- {json.dumps(v)}")
    return out


def hub_config(entry: WeightEntry) -> dict:
    """config.json of the Hub repository: everything needed to rebuild and feed the model."""
    d = entry.to_dict()
    keep = ("arch", "arch_kwargs", "num_classes", "dataset", "mean", "std", "input_size", "test_transform",
            "filename", "dtype", "sha256", "size", "params", "macs", "metrics", "protocol", "recipe", "command")
    return {"library": "cifarzoo", "name": entry.name, **{k: d[k] for k in keep}}


def export_entry(entry: WeightEntry, weight_path: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """Write the Hub-ready folder of ``entry``: weight file, config.json, README.md."""
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(weight_path, out / entry.filename)
    (out / "config.json").write_text(json.dumps(hub_config(entry), indent=2) + "\n", encoding="utf-8")
    (out / "README.md").write_text(model_card(entry), encoding="utf-8")
    return out


def export(name: str, out_dir: str | os.PathLike, weights_dir: str | os.PathLike | None = None) -> Path:
    """Export a manifest weight (its file checked against the manifest) as a Hub-ready folder."""
    arch, tag = split_name(name)
    entry = resolve_weight(arch, tag)
    return export_entry(entry, locate_weight(entry, weights_dir), out_dir)


def _upload(folder: Path, repo_id: str, name: str, token: str | None = None, private: bool = False,
            api: Any = None) -> str:
    api = api if api is not None else HfApi(token=token)
    try:
        api.create_repo(repo_id, repo_type="model", exist_ok=True, private=private)
        info = api.upload_folder(repo_id=repo_id, folder_path=str(folder), repo_type="model",
                                 commit_message=f"cifarzoo: publish {name}")
    except OSError as e:  # HfHubHTTPError and network errors
        raise RuntimeError(f"upload of {name} to {repo_id} failed: {e}. The manifest was not changed; check the "
                           "network and your token (`hf auth login`, HF_TOKEN or --token)") from e
    revision = getattr(info, "oid", None)
    if not isinstance(revision, str) or len(revision) != 40:
        raise RuntimeError(f"upload of {name} to {repo_id} returned no commit id ({info!r}); the manifest was not "
                           "changed")
    log.info("pushed %s to %s at revision %s", name, repo_id, revision)
    return revision


def push(name: str, repo_id: str | None = None, token: str | None = None, private: bool = False,
         weights_dir: str | os.PathLike | None = None, api: Any = None) -> WeightEntry:
    """Upload the exported folder of ``name`` and pin the new commit as its manifest revision.

    ``repo_id`` defaults to the entry's ``hf_hub_id``; another id updates the entry (and moves
    its committed mirror file to the matching ``weights/<repo name>/`` folder).
    """
    arch, tag = split_name(name)
    entry = resolve_weight(arch, tag)
    path = locate_weight(entry, weights_dir)
    repo = repo_id or entry.hf_hub_id
    with tempfile.TemporaryDirectory() as tmp:
        folder = export_entry(dataclasses.replace(entry, hf_hub_id=repo), path, tmp)
        revision = _upload(folder, repo, entry.name, token=token, private=private, api=api)
    new = dataclasses.replace(entry, hf_hub_id=repo, revision=revision)
    mirror = mirror_root()
    if mirror is not None and new.repo_name != entry.repo_name:
        old_file = mirror / entry.repo_name / entry.filename
        if old_file.is_file():
            (mirror / new.repo_name).mkdir(parents=True, exist_ok=True)
            os.replace(old_file, mirror / new.repo_name / new.filename)
            try:
                old_file.parent.rmdir()
            except OSError:
                pass
    entries = load_manifest()
    entries[entry.name] = new
    write_manifest(manifest_path(), entries)
    return new


def _recipe_shown(e: WeightEntry) -> str:
    """The recipe's name, plus ``model=ARCH`` when the weight trained a recipe meant for another model
    (e.g. doc 004's shared baseline200_cifar10 with ``--set model=lenet``)."""
    from cifarzoo.train.recipes import get_recipe, list_recipes
    if e.recipe in list_recipes() and get_recipe(e.recipe).model != e.arch:
        return f"{e.recipe} (model={e.arch})"
    return e.recipe


def markdown_table(entries: Mapping[str, WeightEntry] | None = None) -> str:
    """The README's table of available weights, generated from the manifest."""
    entries = load_manifest() if entries is None else entries
    lines = ["| weight | dataset | top-1 (%) | top-5 (%) | params | MACs | recipe | file |",
             "|---|---|---|---|---|---|---|---|"]
    for name in sorted(entries):
        e = entries[name]
        m = e.metrics
        top1 = f"{m['top1']:.2f}"
        if m.get("runs"):
            top1 += f" ({m['top1_mean']:.2f} +/- {m['top1_std']:.2f}, {len(m['runs'])} seeds)"
        where = f"[Hub](https://huggingface.co/{e.hf_hub_id})" if e.revision else "weights/ (not on the Hub yet)"
        lines.append(f"| `{name}`{' (default)' if e.default else ''} | {DATASET_TITLES[e.dataset]} | {top1} | "
                     f"{m['top5']:.2f} | {e.params / 1e6:.2f} M | {e.macs / 1e6:.1f} M | {_recipe_shown(e)} | "
                     f"{e.dtype}, {e.size / 1e6:.2f} MB, {where} |")
    if not entries:
        lines.append("| (no published weights yet) | | | | | | | |")
    return "\n".join(lines) + "\n"

