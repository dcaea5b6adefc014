"""Checkpoints: atomic writes and the RNG states needed for a bit-for-bit resume.

A checkpoint is one ``torch.save`` file holding model, optimizer, lr controller (with the
plateau state), GradScaler, EMA, RNG states (python, numpy, torch CPU, every CUDA device),
the epoch and the step inside it, the partial-epoch metric sums and the config.  It is written
to a temporary file in the same folder, flushed and fsync'ed, then moved over the old one with
``os.replace`` (atomic on POSIX), so a crash at any moment leaves either the old or the new file.
"""
from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

CHECKPOINT_NAME = "checkpoint.pt"


def atomic_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` to ``path`` so that readers never see a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        # the old checkpoint (if any) is untouched; drop the partial temp file
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename itself durable
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
    return path


def rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def load(path: str | os.PathLike, map_location="cpu") -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    # our own files: they hold numpy RNG state and python objects, so weights_only=False
    return torch.load(path, map_location=map_location, weights_only=False)


def resolve_resume(resume: str | None, out_dir: str | os.PathLike) -> Path | None:
    """``None`` -> no resume; ``'auto'`` -> ``out_dir/checkpoint.pt`` when it exists (else start
    fresh); anything else is a checkpoint file or a run folder holding one."""
    if not resume:
        return None
    if resume == "auto":
        p = Path(out_dir) / CHECKPOINT_NAME
        return p if p.is_file() else None
    p = Path(resume)
    if p.is_dir():
        p = p / CHECKPOINT_NAME
    if not p.is_file():
        raise FileNotFoundError(f"--resume {resume}: no checkpoint at {p} (use 'auto' to resume the run "
                                f"in --out-dir when one exists)")
    return p
