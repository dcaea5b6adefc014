"""The schema of ``weights_manifest.json``: one :class:`WeightEntry` per published weight.

The manifest is the single source of truth for pretrained weights.  It is plain JSON so that
people can review a change to it in a diff, and every field is checked here so that a typo or
a half-filled entry fails loudly when the file is read, naming the entry and the field, instead
of surfacing later as a wrong accuracy or a dead link.

File layout::

    {"schema_version": 1, "weights": {"resnet56.cifar10": {...entry fields...}, ...}}
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

SCHEMA_VERSION = 1
# dataset name -> number of classes; tags start with the dataset name
DATASET_CLASSES = {"cifar10": 10, "cifar100": 100}
DTYPES = ("float32", "float16", "bfloat16")
# Weights committed to the repository (no Hub revision yet) must stay small: see weights/README.md.
MAX_COMMITTED_BYTES = 4 * 1024 * 1024
DEFAULT_PROTOCOL = "final epoch, no test-set selection; top-1/top-5 on the full test set"

_TAG_RE = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)*$")
_HEX40 = re.compile(r"^[0-9a-f]{40}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")

METRIC_KEYS_REQUIRED = ("top1", "top5", "num_images")
METRIC_KEYS_OPTIONAL = ("nll", "ece", "runs", "top1_mean", "top1_std", "top5_mean", "top5_std", "measured")
RUN_KEYS = ("seed", "top1", "top5", "run")
PROVENANCE_REQUIRED = ("hardware", "wall_time_s", "cifarzoo_version", "git_commit", "torch_version")


class ManifestError(ValueError):
    """The manifest (or one entry of it) breaks the schema."""


def _freeze(value: Any) -> Any:
    # entries are shared between callers through the manifest cache: make them read-only
    if isinstance(value, Mapping):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


@dataclass(frozen=True, eq=False)
class WeightEntry:
    """One published weight.  ``name`` is ``arch.tag`` (the manifest key)."""

    name: str
    arch: str
    arch_kwargs: Mapping[str, Any]  # constructor arguments beyond num_classes
    num_classes: int
    dataset: str
    mean: tuple[float, float, float]  # normalisation the weight was trained with
    std: tuple[float, float, float]
    input_size: tuple[int, int, int]
    test_transform: tuple[str, ...]  # ordered ops applied at test time, e.g. ("to_tensor", "normalize")
    hf_hub_id: str
    filename: str
    revision: str | None  # pinned Hub commit; None: not on the Hub yet, only in the committed weights/ mirror
    sha256: str
    size: int
    dtype: str  # storage dtype of the floating tensors in the file
    params: int
    macs: int  # multiply-accumulates at input_size (fvcore counts one multiply-add as one flop)
    metrics: Mapping[str, Any]
    protocol: str
    recipe: str
    command: str
    provenance: Mapping[str, Any]
    default: bool  # the weight create_model(arch, pretrained=True) picks

    @property
    def tag(self) -> str:
        return self.name.partition(".")[2]

    @property
    def repo_name(self) -> str:
        """Last part of the Hub id: the sub-folder of a local mirror that holds the file."""
        return self.hf_hub_id.rsplit("/", 1)[-1]

    @property
    def url(self) -> str:
        rev = self.revision or "main"
        return f"https://huggingface.co/{self.hf_hub_id}/resolve/{rev}/{self.filename}"

    # Entries hold read-only mappings, which neither pickle nor deepcopy by themselves; models carry
    # their entry (model.pretrained_cfg), and models get deep-copied (EMA) and pickled (torch.save).
    def __reduce__(self):
        return (_parse_entry, (self.name, self.to_dict()))

    def __deepcopy__(self, memo) -> "WeightEntry":
        return self  # immutable

    def to_dict(self) -> dict:
        """The JSON form (without ``name``, which is the manifest key)."""
        return {f.name: _thaw(getattr(self, f.name)) for f in fields(self) if f.name != "name"}

    @classmethod
    def from_dict(cls, name: str, data: Mapping[str, Any]) -> "WeightEntry":
        """Validate one manifest entry and build it; errors name the entry and the field."""
        return _parse_entry(name, data)


# --- validation -------------------------------------------------------------------------------


def _err(name: str, field: str, msg: str) -> ManifestError:
    return ManifestError(f"weights_manifest entry {name!r}, field {field!r}: {msg}")


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_percent(name: str, field: str, v: Any) -> None:
    if not _is_num(v) or not 0.0 <= v <= 100.0:
        raise _err(name, field, f"must be a percentage between 0 and 100, got {v!r}")


def _check_metrics(name: str, m: Any) -> None:
    if not isinstance(m, Mapping):
        raise _err(name, "metrics", f"must be an object, got {type(m).__name__}")
    for k in METRIC_KEYS_REQUIRED:
        if k not in m:
            raise _err(name, f"metrics.{k}", "is missing")
    unknown = sorted(set(m) - set(METRIC_KEYS_REQUIRED) - set(METRIC_KEYS_OPTIONAL))
    if unknown:
        raise _err(name, "metrics", f"unknown key(s) {unknown}; allowed: "
                                    f"{list(METRIC_KEYS_REQUIRED) + list(METRIC_KEYS_OPTIONAL)}")
    for k in ("top1", "top5", "top1_mean", "top5_mean"):
        if k in m:
            _check_percent(name, f"metrics.{k}", m[k])
    if not _is_int(m["num_images"]) or m["num_images"] < 1:
        raise _err(name, "metrics.num_images", f"must be a positive int, got {m['num_images']!r}")
    for k in ("nll", "ece", "top1_std", "top5_std"):
        if k in m and (not _is_num(m[k]) or m[k] < 0):
            raise _err(name, f"metrics.{k}", f"must be a number >= 0, got {m[k]!r}")
    if m["top5"] < m["top1"]:
        raise _err(name, "metrics.top5", f"top-5 ({m['top5']}) cannot be below top-1 ({m['top1']})")
    runs = m.get("runs", [])
    if not isinstance(runs, (list, tuple)):
        raise _err(name, "metrics.runs", "must be a list of {seed, top1, top5}")
    for i, r in enumerate(runs):
        if not isinstance(r, Mapping) or not {"seed", "top1"} <= set(r) or set(r) - set(RUN_KEYS):
            raise _err(name, f"metrics.runs[{i}]", f"must have keys seed, top1 (top5, run optional), got {r!r}")
        if not _is_int(r["seed"]):
            raise _err(name, f"metrics.runs[{i}].seed", f"must be an int, got {r['seed']!r}")
        _check_percent(name, f"metrics.runs[{i}].top1", r["top1"])
    if len(runs) >= 2:
        # the mean/std must be the ones of the listed runs, so nobody can quote a better summary
        vals = [r["top1"] for r in runs]
        mean = sum(vals) / len(vals)
        std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1))
        for key, want in (("top1_mean", mean), ("top1_std", std)):
            if key not in m:
                raise _err(name, f"metrics.{key}", f"is required when several runs are listed ({len(runs)})")
            if abs(m[key] - want) > 0.006:
                raise _err(name, f"metrics.{key}", f"is {m[key]} but the listed runs give {want:.3f}")
        seeds = [r["seed"] for r in runs]
        if len(set(seeds)) != len(seeds):
            raise _err(name, "metrics.runs", f"seeds repeat: {seeds}")


def _check_triple(name: str, field: str, v: Any, positive: bool = False) -> tuple:
    if not isinstance(v, (list, tuple)) or len(v) != 3 or not all(_is_num(x) for x in v):
        raise _err(name, field, f"must be a list of 3 numbers, got {v!r}")
    if positive and not all(x > 0 for x in v):
        raise _err(name, field, f"must be positive, got {v!r}")
    return tuple(float(x) for x in v)


def _parse_entry(name: str, data: Mapping[str, Any]) -> WeightEntry:
    if not isinstance(data, Mapping):
        raise ManifestError(f"weights_manifest entry {name!r} must be an object, got {type(data).__name__}")
    arch, dot, tag = name.partition(".")
    if not dot or not tag or not re.match(r"^[a-z][a-z0-9_]*$", arch) or not _TAG_RE.match(tag):
        raise ManifestError(f"weights_manifest key {name!r} must look like 'arch.tag', e.g. 'resnet56.cifar10'")
    names = [f.name for f in fields(WeightEntry) if f.name != "name"]
    missing = [k for k in names if k not in data]
    if missing:
        raise _err(name, missing[0], f"is missing (all missing: {', '.join(missing)})")
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise _err(name, unknown[0], f"is not a manifest field (unknown: {', '.join(unknown)}; fields: {names})")

    d = dict(data)
    if d["arch"] != arch:
        raise _err(name, "arch", f"{d['arch']!r} does not match the key's architecture {arch!r}")
    if not isinstance(d["arch_kwargs"], Mapping):
        raise _err(name, "arch_kwargs", f"must be an object, got {d['arch_kwargs']!r}")
    if d["dataset"] not in DATASET_CLASSES:
        raise _err(name, "dataset", f"{d['dataset']!r} is not one of {sorted(DATASET_CLASSES)}")
    if not (tag == d["dataset"] or tag.startswith(d["dataset"] + "_")):
        raise _err(name, "dataset", f"tag {tag!r} must be the dataset {d['dataset']!r} plus an optional "
                                    f"'_recipe' word")
    if not _is_int(d["num_classes"]) or d["num_classes"] != DATASET_CLASSES[d["dataset"]]:
        raise _err(name, "num_classes", f"must be {DATASET_CLASSES[d['dataset']]} for {d['dataset']}, "
                                        f"got {d['num_classes']!r}")
    d["mean"] = _check_triple(name, "mean", d["mean"])
    d["std"] = _check_triple(name, "std", d["std"], positive=True)
    if (not isinstance(d["input_size"], (list, tuple)) or len(d["input_size"]) != 3
            or not all(_is_int(x) and x > 0 for x in d["input_size"])):
        raise _err(name, "input_size", f"must be [C, H, W], got {d['input_size']!r}")
    d["input_size"] = tuple(d["input_size"])
    tt = d["test_transform"]
    if not isinstance(tt, (list, tuple)) or not tt or not all(isinstance(s, str) and s for s in tt):
        raise _err(name, "test_transform", f"must be a non-empty list of op names, got {tt!r}")
    d["test_transform"] = tuple(tt)
    if not isinstance(d["hf_hub_id"], str) or not _HUB_ID.match(d["hf_hub_id"]):
        raise _err(name, "hf_hub_id", f"must be 'org/name', got {d['hf_hub_id']!r}")
    fn = d["filename"]
    if not isinstance(fn, str) or not fn.endswith(".safetensors") or "/" in fn or "\\" in fn or fn.startswith("."):
        raise _err(name, "filename", f"must be a plain '*.safetensors' file name, got {fn!r}")
    if d["revision"] is not None and (not isinstance(d["revision"], str) or not _HEX40.match(d["revision"])):
        raise _err(name, "revision", f"must be a pinned 40-hex commit id or null, got {d['revision']!r} "
                                     "(a branch like 'main' can change under the checksum)")
    if not isinstance(d["sha256"], str) or not _HEX64.match(d["sha256"]):
        raise _err(name, "sha256", f"must be 64 lowercase hex digits, got {d['sha256']!r}")
    for k in ("size", "params", "macs"):
        if not _is_int(d[k]) or d[k] < 1:
            raise _err(name, k, f"must be a positive int, got {d[k]!r}")
    if d["revision"] is None and d["size"] > MAX_COMMITTED_BYTES:
        raise _err(name, "revision", f"is null (not published), but the file has {d['size']:,} bytes: only files "
                                     f"<= {MAX_COMMITTED_BYTES:,} bytes may live in weights/ alone; publish it "
                                     "on the Hub first (cifarzoo hub push) and pin the revision")
    if d["dtype"] not in DTYPES:
        raise _err(name, "dtype", f"must be one of {DTYPES}, got {d['dtype']!r}")
    _check_metrics(name, d["metrics"])
    for k in ("protocol", "recipe", "command"):
        if not isinstance(d[k], str) or not d[k].strip():
            raise _err(name, k, f"must be a non-empty string, got {d[k]!r}")
    prov = d["provenance"]
    if not isinstance(prov, Mapping):
        raise _err(name, "provenance", f"must be an object, got {prov!r}")
    for k in PROVENANCE_REQUIRED:
        if k not in prov:
            raise _err(name, f"provenance.{k}", f"is missing (required: {', '.join(PROVENANCE_REQUIRED)})")
    # null where the training run did not record it: provenance says what is known, nothing more
    if prov["wall_time_s"] is not None and (not _is_num(prov["wall_time_s"]) or prov["wall_time_s"] < 0):
        raise _err(name, "provenance.wall_time_s", f"must be seconds >= 0 or null, got {prov['wall_time_s']!r}")
    if not isinstance(d["default"], bool):
        raise _err(name, "default", f"must be true or false, got {d['default']!r}")
    return WeightEntry(name=name, **{k: _freeze(v) for k, v in d.items()})


def _check_registry(entries: Mapping[str, WeightEntry]) -> None:
    from cifarzoo.registry import model_info

    for name, e in entries.items():
        try:
            info = model_info(e.arch)
        except KeyError as err:
            raise _err(name, "arch", f"is not a registered model ({err.args[0]})") from None
        unknown = sorted(set(e.arch_kwargs) - set(info.knobs))
        if unknown:
            raise _err(name, "arch_kwargs", f"{unknown} are not arguments of {e.arch} "
                                            f"(it takes: {sorted(info.knobs)})")
        if tuple(info.input_size) != tuple(e.input_size):
            raise _err(name, "input_size", f"{list(e.input_size)} differs from {e.arch}'s {list(info.input_size)}")


def validate_manifest(data: Mapping[str, Any], check_registry: bool = True) -> dict[str, WeightEntry]:
    """Check a parsed manifest document and return its entries by name.

    Besides each entry's fields this checks the cross-entry rules: exactly one ``default``
    weight per architecture, and (with ``check_registry``) that every architecture and
    constructor argument exists in the model registry.
    """
    if not isinstance(data, Mapping):
        raise ManifestError(f"the manifest must be a JSON object, got {type(data).__name__}")
    unknown = sorted(set(data) - {"schema_version", "weights"})
    if unknown:
        raise ManifestError(f"the manifest has unknown top-level key(s) {unknown}; expected schema_version, weights")
    if data.get("schema_version") != SCHEMA_VERSION:
        raise ManifestError(f"manifest schema_version is {data.get('schema_version')!r}; this cifarzoo reads "
                            f"version {SCHEMA_VERSION} (upgrade cifarzoo?)")
    weights = data.get("weights")
    if not isinstance(weights, Mapping):
        raise ManifestError("the manifest needs a 'weights' object (empty is fine)")
    entries = {name: _parse_entry(name, w) for name, w in weights.items()}

    by_arch: dict[str, list[str]] = {}
    for name, e in entries.items():
        by_arch.setdefault(e.arch, []).append(name)
    for arch, names in sorted(by_arch.items()):
        defaults = [n for n in names if entries[n].default]
        if len(defaults) != 1:
            which = f"{len(defaults)} ({', '.join(defaults)})" if defaults else "none"
            raise ManifestError(f"architecture {arch!r} must have exactly one weight with \"default\": true "
                                f"among {sorted(names)}, found {which}")
    if check_registry:
        _check_registry(entries)
    return entries


def read_manifest(path: str | os.PathLike, check_registry: bool = True) -> dict[str, WeightEntry]:
    """Read and validate a manifest file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"weights manifest not found: {path}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ManifestError(f"{path} is not valid JSON: {e}") from None
    try:
        return validate_manifest(data, check_registry=check_registry)
    except ManifestError as e:
        raise ManifestError(f"{path}: {e}") from None


def manifest_document(entries: Mapping[str, WeightEntry]) -> dict:
    return {"schema_version": SCHEMA_VERSION,
            "weights": {name: entries[name].to_dict() for name in sorted(entries)}}


def dumps_manifest(doc: Mapping) -> str:
    """Indented JSON with lists of scalars (mean, std, input_size) kept on one line: short diffs."""
    inline: dict[str, str] = {}
    token = f"@@inline-{os.getpid()}-{id(inline)}-"

    def mark(v):
        if isinstance(v, Mapping):
            return {k: mark(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            if all(not isinstance(x, (Mapping, list, tuple)) for x in v):
                key = f"{token}{len(inline)}@@"
                inline[key] = json.dumps(list(v))
                return key
            return [mark(x) for x in v]
        return v

    text = json.dumps(mark(doc), indent=2)
    for key, value in inline.items():
        text = text.replace(json.dumps(key), value)
    return text + "\n"


def write_manifest(path: str | os.PathLike, entries: Mapping[str, WeightEntry]) -> None:
    """Validate and write atomically (sorted, indented: reviewable diffs)."""
    doc = manifest_document(entries)
    validate_manifest(doc)
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(dumps_manifest(doc), encoding="utf-8")
    os.replace(tmp, path)
