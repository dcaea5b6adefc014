"""Accuracies of the published weights, read from ``weights_manifest.json``.

``cifarzoo.pretrained.load_manifest`` is the reader when it exists (it validates the schema);
until then, or if it fails, the JSON file is read directly, and an absent or empty manifest
simply means "no weights yet".  The result maps architecture -> dataset -> best weight."""
from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchmarks import REPO_ROOT

log = logging.getLogger("benchmarks")
MANIFEST = REPO_ROOT / "weights_manifest.json"
DATASETS = ("cifar10", "cifar100")


def _get(entry: Any, *keys: str, default=None):
    """A field of a manifest entry, which may be a dict or a dataclass-like object."""
    for key in keys:
        value = entry.get(key) if isinstance(entry, Mapping) else getattr(entry, key, None)
        if value is not None:
            return value
    return default


def _number(value) -> float | None:
    """``92.6`` or ``{"mean": 92.6, "std": 0.1}`` -> 92.6."""
    if isinstance(value, Mapping):  # the package's entries hold read-only mappings
        value = value.get("mean", value.get("value"))
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _raw_manifest(path: Path) -> dict:
    if not path.exists():
        return {}
    text = path.read_text().strip()
    if not text:
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON ({e}); fix or empty it") from e
    if isinstance(data, dict) and isinstance(data.get("weights"), dict):
        data = data["weights"]  # a manifest may wrap its entries with a schema version
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected an object of 'arch.tag' entries, got {type(data).__name__}")
    return {k: v for k, v in data.items() if "." in k}


def load_entries(path: Path | None = None) -> dict:
    """``{weight_name: entry}``, through the package's loader when present."""
    if path is None:
        try:
            from cifarzoo.pretrained import load_manifest
        except ImportError:
            pass
        else:
            try:
                return dict(load_manifest())
            except Exception as e:  # a broken manifest must not stop a benchmark run
                log.warning("cifarzoo.pretrained.load_manifest failed (%s); reading %s directly", e, MANIFEST)
    return _raw_manifest(Path(path) if path is not None else MANIFEST)


def _dataset(name: str, entry) -> str | None:
    ds = _get(entry, "dataset")
    if ds:
        return str(ds).lower()
    tag = name.partition(".")[2]
    for d in sorted(DATASETS, key=len, reverse=True):  # 'cifar100' before 'cifar10'
        if tag.startswith(d):
            return d
    return None


def accuracies(path: Path | None = None) -> dict[str, dict[str, dict]]:
    """``{arch: {dataset: {"weight", "top1", "top5"}}}``; per arch and dataset the weight the
    manifest marks ``default`` wins, then the one whose tag is the plain dataset name, else the
    best top-1."""
    out: dict[str, dict[str, dict]] = {}
    for name, entry in load_entries(path).items():
        arch = _get(entry, "arch", "architecture", default=name.partition(".")[0])
        metrics = _get(entry, "metrics", default={}) or {}
        top1, top5 = _number(_get(metrics, "top1")), _number(_get(metrics, "top5"))
        if top1 is None:
            continue
        ds = _dataset(name, entry)
        if ds is None:
            continue
        # rank: marked default > tag == dataset name > higher top-1
        rank = (bool(_get(entry, "default", default=False)), name.partition(".")[2] == ds, top1)
        cur = out.setdefault(arch, {}).get(ds)
        if cur is None or rank > cur["_rank"]:
            out[arch][ds] = {"weight": name, "top1": top1, "top5": top5, "_rank": rank}
    for by_ds in out.values():
        for row in by_ds.values():
            del row["_rank"]
    return out
