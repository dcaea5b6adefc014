"""Pretrained weights: find the manifest, locate a weight file, check it, load it into a model.

Where a weight file comes from, in this order:

1. a local mirror the caller names: ``create_model(..., weights_dir=DIR)``, else the
   ``CIFARZOO_WEIGHTS_DIR`` environment variable.  An explicit mirror comes first so that a
   cluster without internet never waits on a network timeout;
2. the Hugging Face Hub through ``hf_hub_download(repo_id, filename, revision=<pinned commit>)``,
   so the Hub cache, ``HF_HUB_OFFLINE``, ``HF_ENDPOINT`` and tokens work as users expect;
3. the ``weights/`` folder next to the manifest (the small weights committed to the repository).

A mirror is laid out like the Hub: ``DIR/<repo name>/<filename>`` (repo name = the part of
``hf_hub_id`` after the slash); ``weights_dir`` may also name the file itself.  A file is only
used after its sha256 matches the manifest.  Files are safetensors and nothing else: a
downloaded pickle can run arbitrary code when loaded.

The manifest is found (first hit wins): env ``CIFARZOO_MANIFEST``; ``weights_manifest.json`` at
the root of a source checkout (the source of truth); ``cifarzoo/weights_manifest.json`` inside the
installed package.  In the repository that last one is a symbolic link to the root file, which
setuptools resolves into a real file when it builds a wheel (listed in package-data), so a
non-editable install carries the manifest without a second copy to keep in sync.  No manifest at
all means no weights.
"""
from __future__ import annotations

import difflib
import hashlib
import json
import logging
import os
from importlib import resources
from pathlib import Path
from typing import Mapping

import torch
import torch.nn as nn

from cifarzoo.manifest import WeightEntry, read_manifest

log = logging.getLogger("cifarzoo")

MANIFEST_ENV = "CIFARZOO_MANIFEST"
WEIGHTS_DIR_ENV = "CIFARZOO_WEIGHTS_DIR"
MANIFEST_NAME = "weights_manifest.json"
REPO_ROOT = Path(__file__).resolve().parents[1]
# prefixes that wrappers add to state-dict keys: DDP ('module.') and torch.compile ('_orig_mod.')
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")


class WeightFileError(RuntimeError):
    """A weight file is missing, corrupt, of the wrong kind or does not fit the model."""


class ChecksumError(WeightFileError):
    """The file's sha256 is not the manifest's."""


# --- the manifest ------------------------------------------------------------------------------


def manifest_path() -> Path | None:
    """The manifest in use (see the module docstring for the search order), or None."""
    env = os.environ.get(MANIFEST_ENV)
    if env:
        p = Path(env).expanduser()
        if not p.is_file():
            raise FileNotFoundError(f"{MANIFEST_ENV}={env} does not name a file; unset it or point it at a "
                                    f"{MANIFEST_NAME}")
        return p
    # a source checkout (editable install or running from the repo): the root file is the truth
    if (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / MANIFEST_NAME).is_file():
        return REPO_ROOT / MANIFEST_NAME
    packaged = resources.files("cifarzoo").joinpath(MANIFEST_NAME)
    if packaged.is_file():
        return Path(str(packaged))
    return None


def mirror_root() -> Path | None:
    """The committed ``weights/`` mirror: the folder next to the manifest in use."""
    p = manifest_path()
    return p.parent / "weights" if p is not None else None


_CACHE: dict[tuple, dict[str, WeightEntry]] = {}


def load_manifest(path: str | os.PathLike | None = None) -> dict[str, WeightEntry]:
    """All published weights by ``arch.tag`` name, validated (cached until the file changes)."""
    p = Path(path) if path is not None else manifest_path()
    if p is None:
        return {}
    st = p.stat()
    key = (str(p.resolve()), st.st_mtime_ns, st.st_size)
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = read_manifest(p)
    return dict(_CACHE[key])


def resolve_weight(arch: str, tag: str | None = None) -> WeightEntry:
    """The manifest entry of ``arch.tag``; ``tag=None`` picks the architecture's default weight."""
    manifest = load_manifest()
    mine = sorted(n for n, e in manifest.items() if e.arch == arch)
    if tag is None:
        for n in mine:
            if manifest[n].default:
                return manifest[n]
        close = difflib.get_close_matches(arch, sorted({e.arch for e in manifest.values()}), n=5, cutoff=0.6)
        hint = f" Architectures with weights close to it: {', '.join(close)}." if close else ""
        raise KeyError(f"no pretrained weight for {arch!r} in {manifest_path() or 'the (missing) manifest'}."
                       f"{hint} cifarzoo.list_models(pretrained=True) lists the {len(manifest)} available; "
                       f"train one with `cifarzoo train` and load it with checkpoint_path=.")
    name = f"{arch}.{tag}"
    if name in manifest:
        return manifest[name]
    close = difflib.get_close_matches(name, sorted(manifest), n=5, cutoff=0.6)
    have = f"{arch} has: {', '.join(mine)}." if mine else f"{arch} has no published weights."
    hint = f" Close names: {', '.join(close)}." if close else ""
    raise KeyError(f"unknown weight {name!r}. {have}{hint} (cifarzoo.list_models(pretrained=True) lists all.)")


# --- checking a file --------------------------------------------------------------------------


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _sniff(path: Path) -> str | None:
    """Name what the file really is when it is plainly not a safetensors file."""
    with open(path, "rb") as f:
        head = f.read(1024)
    if head[8:9] == b"{":
        return None  # an 8-byte length then a JSON header: safetensors-shaped, checked in _read_header
    text = head.lstrip().lower()
    if text.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head", b"<body")) or b"<html" in text[:512]:
        return ("an HTML page, not a weight file (a login page, an error page or a proxy's answer saved "
                "under the weight's name)")
    if text.startswith(b"version https://git-lfs"):
        return "a Git LFS pointer, not the weight itself (run `git lfs pull`)"
    if head.startswith(b"PK\x03\x04") or (head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")):
        return ("a PyTorch pickle checkpoint (torch.save), which cifarzoo never loads because unpickling runs "
                "arbitrary code; convert it with safetensors.torch.save_file(torch.load(f, weights_only=True), "
                "'model.safetensors')")
    return None


def _read_header(path: Path) -> dict:
    """The safetensors JSON header; raises naming truncation or a foreign format."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) < 8:
            raise WeightFileError(f"{path} is truncated ({size} bytes): not even a safetensors header; delete it "
                                  "and download it again")
        n = int.from_bytes(raw, "little")
        if n > 100 * 1024 * 1024:
            raise WeightFileError(f"{path} is not a safetensors file (header length field reads {n:,} bytes)")
        if 8 + n > size:
            raise WeightFileError(f"{path} is truncated: {size:,} bytes, but its header alone needs {8 + n:,}; "
                                  "delete it and download it again")
        try:
            header = json.loads(f.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise WeightFileError(f"{path} is not a safetensors file (its header is not JSON)") from None
    if not isinstance(header, dict):
        raise WeightFileError(f"{path} is not a safetensors file (its header is not a JSON object)")
    ends = [t["data_offsets"][1] for k, t in header.items()
            if k != "__metadata__" and isinstance(t, dict) and "data_offsets" in t]
    need = 8 + n + (max(ends) if ends else 0)
    if need > size:
        raise WeightFileError(f"{path} is truncated: {size:,} bytes, its header describes {need:,}; delete it "
                              "and download it again")
    return header


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The ``__metadata__`` strings of a safetensors file (provenance written by ``hub add``)."""
    return dict(_read_header(Path(path)).get("__metadata__", {}) or {})


def check_file(path: str | os.PathLike, sha256: str | None = None, size: int | None = None,
               redownload_hint: str = "") -> Path:
    """Check that ``path`` is a complete safetensors file with the expected checksum.

    The cheap, specific diagnoses (HTML page, LFS pointer, pickle, truncation) come before the
    checksum so that the message says *what* is wrong, not only that the sum differs.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weight file {path} does not exist")
    todo = redownload_hint or "delete it and download it again"
    actual = sha256_file(path) if sha256 is not None else None
    sums = f" (sha256 expected {sha256}, got {actual})" if sha256 is not None and actual != sha256 else ""
    what = _sniff(path)
    if what:
        raise WeightFileError(f"{path} is {what}{sums}. Delete it; then {todo}.")
    actual_size = path.stat().st_size
    if size is not None and actual_size < size:
        raise WeightFileError(f"{path} is truncated: {actual_size:,} of {size:,} bytes (an interrupted download?)"
                              f"{sums}. Delete it; then {todo}.")
    if sha256 is not None and actual != sha256:
        raise ChecksumError(f"checksum mismatch for {path}: expected sha256 {sha256}, got {actual}. The file is "
                            f"corrupt or is another version. Delete it; then {todo}.")
    _read_header(path)
    return path


# --- locating a weight ------------------------------------------------------------------------


def _mirror_candidates(root: Path, entry: WeightEntry) -> list[Path]:
    if root.is_file() or root.suffix == ".safetensors":
        return [root]
    # DIR/<repo name>/<file> is the layout; DIR/<org>/<repo name>/<file> (a copy of the Hub id) works too
    return [root / entry.repo_name / entry.filename, root / entry.hf_hub_id / entry.filename]


def _hub_hint(entry: WeightEntry, cached: Path | None = None) -> str:
    if cached is not None:
        # the Hub cache keeps a snapshot link to a blob: both must go, or the bad blob is linked again
        blob = Path(os.path.realpath(cached))
        extra = f" and its blob {blob}" if blob != cached else ""
        return (f"delete that cache entry{extra} (or run `hf cache delete`), and load again with internet access "
                f"so huggingface_hub downloads it anew")
    if entry.revision is None:
        return f"restore it from git (`git checkout -- weights/{entry.repo_name}/{entry.filename}`)"
    return (f"download it again (cifarzoo loads it through huggingface_hub; or fetch {entry.url} into a mirror "
            f"folder as <dir>/{entry.repo_name}/{entry.filename})")


def _from_hub(entry: WeightEntry) -> tuple[Path | None, str]:
    """Path in the HF cache (downloading if needed), or None and the reason."""
    if entry.revision is None:
        return None, "not published on the Hub yet (revision is null)"
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    try:
        path = Path(hf_hub_download(entry.hf_hub_id, entry.filename, revision=entry.revision))
    except (OSError, EntryNotFoundError, ValueError) as e:
        return None, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    try:
        check_file(path, entry.sha256, entry.size, _hub_hint(entry, path))
    except WeightFileError as first:
        if constants.HF_HUB_OFFLINE:
            raise
        # a corrupt cache entry: fetch it once more before giving up
        log.warning("%s; downloading it again", first)
        path = Path(hf_hub_download(entry.hf_hub_id, entry.filename, revision=entry.revision,
                                    force_download=True))
        check_file(path, entry.sha256, entry.size, _hub_hint(entry, path))
    return path, ""


def locate_weight(entry: WeightEntry, weights_dir: str | os.PathLike | None = None) -> Path:
    """Path of the checked weight file of ``entry`` (see the module docstring for the order)."""
    tried = []
    explicit = [("weights_dir", weights_dir), (WEIGHTS_DIR_ENV, os.environ.get(WEIGHTS_DIR_ENV) or None)]
    for source, root in explicit:
        if root is None:
            continue
        for p in _mirror_candidates(Path(root).expanduser(), entry):
            if p.is_file():
                return check_file(p, entry.sha256, entry.size, f"copy it again from {entry.url}")
        tried.append(f"{source}: no {_mirror_candidates(Path(root), entry)[0]}")
    path, why = _from_hub(entry)
    if path is not None:
        return path
    tried.append(f"Hugging Face Hub {entry.hf_hub_id}@{entry.revision}: {why}")
    repo = mirror_root()
    if repo is not None:
        p = repo / entry.repo_name / entry.filename
        if p.is_file():
            return check_file(p, entry.sha256, entry.size, _hub_hint(entry))
        tried.append(f"repository mirror: no {p}")
    raise FileNotFoundError(
        f"no file for weight {entry.name!r}. Tried: " + "; ".join(tried) + ". What to do: connect to the "
        f"internet (or unset HF_HUB_OFFLINE) to download it, or copy {entry.url} to "
        f"<dir>/{entry.repo_name}/{entry.filename} and pass weights_dir=<dir> or set {WEIGHTS_DIR_ENV}=<dir>.")


# --- loading into a model ---------------------------------------------------------------------


def _strip_wrappers(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    for prefix in _WRAPPER_PREFIXES:
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return state


def _short(keys: list[str], n: int = 8) -> str:
    return ", ".join(keys[:n]) + (f" ... ({len(keys)} in all)" if len(keys) > n else "")


def alias_groups(state: Mapping[str, torch.Tensor]) -> list[list[str]]:
    """State-dict keys grouped by shared storage: a module registered under two names (e.g.
    ``bn2`` and ``zero_init_target``) appears twice in ``state_dict()`` with one tensor."""
    groups: dict[tuple, list[str]] = {}
    for k, v in state.items():
        if v.numel() == 0:
            groups[("empty", k)] = [k]
            continue
        ident = (v.untyped_storage().data_ptr(), v.storage_offset(), tuple(v.shape), tuple(v.stride()), v.dtype)
        groups.setdefault(ident, []).append(k)
    return list(groups.values())


def load_state(model: nn.Module, state: Mapping[str, torch.Tensor], source: str = "the weight file",
               file_meta: Mapping[str, str] | None = None) -> None:
    """Copy ``state`` into ``model``: every key must exist on both sides with the same shape.

    Floating tensors are cast to the model's dtype (files may be stored in float16/bfloat16).
    Of the names of one shared tensor (see :func:`alias_groups`) the file needs only one, so
    files written with ``safetensors.torch.save_model`` (which drops duplicates) load too.
    """
    state = _strip_wrappers(dict(state))
    own = model.state_dict()
    # cifarzoo 0.1.0 registered some blocks' last BN a second time as ``zero_init_target``: files it
    # wrote carry those tensors twice.  The copy is dropped when its twin (same block) is there too.
    for k in [k for k in state if k not in own and ".zero_init_target." in k]:
        block, leaf = k.split(".zero_init_target.", 1)
        if any(o.startswith(block + ".") and o.endswith("." + leaf) and o in state
               and torch.equal(state[o], state[k]) for o in own):
            del state[k]
    for group in alias_groups(own):
        present = [k for k in group if k in state]
        if present:
            for k in group:
                state.setdefault(k, state[present[0]])
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [(k, tuple(own[k].shape), tuple(state[k].shape)) for k in own
             if k in state and own[k].shape != state[k].shape]
    if missing or unexpected or wrong:
        name = getattr(getattr(model, "model_info", None), "name", type(model).__name__)
        parts = [f"{source} does not fit {name}:"]
        if file_meta and file_meta.get("arch") and file_meta["arch"] != name:
            parts.append(f"the file was saved from {file_meta['arch']!r}.")
        if missing:
            parts.append(f"missing tensor(s) {_short(missing)};")
        if unexpected:
            parts.append(f"unexpected tensor(s) {_short(unexpected)};")
        if wrong:
            parts.append("shape mismatch " + "; ".join(f"{k}: model {a}, file {b}" for k, a, b in wrong[:8]) + ";")
        cls_attr = getattr(model, "classifier_attr", None)
        cls_keys = {f"{cls_attr}.weight", f"{cls_attr}.bias"} if cls_attr else set()
        if wrong and not missing and not unexpected and {k for k, _, _ in wrong} <= cls_keys:
            file_classes = state[f"{cls_attr}.weight"].shape[0] if f"{cls_attr}.weight" in state else "?"
            parts.append(f"only the classifier differs: the file has {file_classes} classes, the model "
                         f"{getattr(model, 'num_classes', '?')}; pass num_classes={file_classes}.")
        else:
            parts.append("build the model with the architecture and arguments the file was trained with.")
        raise WeightFileError(" ".join(parts))
    cast = {k: (v.to(own[k].dtype) if v.is_floating_point() and own[k].is_floating_point() else v)
            for k, v in state.items()}
    model.load_state_dict(cast, strict=True)


def _load_file(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except SafetensorError as e:
        raise WeightFileError(f"{path} could not be read as safetensors: {e}; delete it and download it "
                              "again") from None


def load_pretrained(model: nn.Module, entry: WeightEntry, weights_dir: str | os.PathLike | None = None) -> Path:
    """Locate, check and load the weight of ``entry`` into ``model`` (built with the weight's
    ``num_classes``: create_model re-initialises the classifier afterwards for other class counts)."""
    path = locate_weight(entry, weights_dir)
    load_state(model, _load_file(path), source=f"weight {entry.name} ({path})", file_meta=read_metadata(path))
    log.info("loaded %s (top-1 %.2f%% on %s) from %s", entry.name, entry.metrics["top1"], entry.dataset, path)
    return path


def load_checkpoint_file(model: nn.Module, path: str | os.PathLike) -> None:
    """Load a local safetensors file (e.g. a training run's ``model.safetensors``) into ``model``."""
    path = check_file(Path(path).expanduser(), redownload_hint="point checkpoint_path at a complete .safetensors "
                                                                "file")
    load_state(model, _load_file(path), source=f"checkpoint {path}", file_meta=read_metadata(path))
    log.info("loaded checkpoint %s", path)
