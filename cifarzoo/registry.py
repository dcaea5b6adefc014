"""The one model registry.

Every architecture registers its factory here with ``@register_model`` in the file that
defines it.  A factory is a plain function whose keyword arguments *are* the architecture's
knobs: ``model_info`` reads them from the signature, and ``create_model`` rejects any override
that the signature does not name.  Weight tags use ``arch.tag`` names, so a dot is never part
of an architecture name.
"""
from __future__ import annotations

import difflib
import fnmatch
import inspect
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch.nn as nn

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class ModelInfo:
    """What the registry knows about one architecture (attached to every created model)."""

    name: str
    family: str
    source: str  # paper or source document the architecture comes from
    input_size: tuple[int, int, int] = (3, 32, 32)
    num_classes: int = 10
    # constructor keywords and their defaults (a plain dict so models deep-copy and pickle)
    knobs: Mapping[str, Any] = field(default_factory=dict, hash=False)
    description: str = ""

    def as_dict(self) -> dict:
        return {
            "name": self.name, "family": self.family, "source": self.source,
            "input_size": list(self.input_size), "num_classes": self.num_classes,
            "knobs": dict(self.knobs), "description": self.description,
        }


_REGISTRY: dict[str, tuple[Callable[..., nn.Module], ModelInfo]] = {}


def register_model(family: str, source: str, input_size: tuple[int, int, int] = (3, 32, 32)):
    """Decorator: register ``fn`` under its own name.  A duplicate name fails at import time."""

    def decorator(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        name = fn.__name__
        if not _NAME_RE.match(name):
            raise ValueError(f"model name {name!r} must be lowercase letters, digits and '_' (no '.')")
        if name in _REGISTRY:
            raise RuntimeError(
                f"model {name!r} is registered twice ({_REGISTRY[name][0].__module__} and {fn.__module__})")
        sig = inspect.signature(fn)
        for p in sig.parameters.values():
            if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL) or p.default is inspect.Parameter.empty:
                raise TypeError(f"factory {name}: every argument needs a default and an explicit name ({p})")
        if "num_classes" not in sig.parameters:
            raise TypeError(f"factory {name} must accept num_classes")
        knobs = {k: p.default for k, p in sig.parameters.items() if k != "num_classes"}
        doc = inspect.getdoc(fn) or ""
        info = ModelInfo(
            name=name, family=family, source=source, input_size=tuple(input_size),
            num_classes=sig.parameters["num_classes"].default, knobs=knobs,
            description=doc.split("\n\n")[0].replace("\n", " "),
        )
        _REGISTRY[name] = (fn, info)
        return fn

    return decorator


def _ensure_loaded() -> None:
    # Importing the models package runs every @register_model decorator.
    import cifarzoo.models  # noqa: F401


def split_name(name: str) -> tuple[str, str | None]:
    """``'resnet56.cifar10'`` -> ``('resnet56', 'cifar10')``; ``'resnet56'`` -> ``('resnet56', None)``."""
    arch, _, tag = name.partition(".")
    return arch, (tag or None)


def _unknown(name: str, candidates: list[str], what: str = "model") -> KeyError:
    close = difflib.get_close_matches(name, candidates, n=5, cutoff=0.5)
    if not close:  # fall back to a shared prefix, e.g. 'resnet' -> resnet18, resnet20, ...
        close = [c for c in candidates if c.startswith(name[:4])][:5]
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    return KeyError(f"Unknown {what} {name!r}.{hint} (cifarzoo.list_models() lists all {len(candidates)}.)")


def _lookup(arch: str) -> tuple[Callable[..., nn.Module], ModelInfo]:
    _ensure_loaded()
    try:
        return _REGISTRY[arch]
    except KeyError:
        raise _unknown(arch, sorted(_REGISTRY)) from None


def model_info(name: str) -> ModelInfo:
    """The registry entry of an architecture (a ``name.tag`` weight name is accepted too)."""
    return _lookup(split_name(name)[0])[1]


def list_models(pattern: str | list[str] = "*", pretrained: bool = False) -> list[str]:
    """Sorted registered names matching an fnmatch ``pattern`` (or any of a list).

    With ``pretrained=True`` the result is the ``arch.tag`` names of the published weights in
    ``weights_manifest.json`` whose name matches.
    """
    _ensure_loaded()
    patterns = [pattern] if isinstance(pattern, str) else list(pattern)
    if pretrained:
        from cifarzoo.pretrained import load_manifest
        names = sorted(load_manifest())
        # 'resnet56' matches its weights 'resnet56.cifar10', as in timm
        return [n for n in names if any(fnmatch.fnmatchcase(n, p) or fnmatch.fnmatchcase(split_name(n)[0], p)
                                        for p in patterns)]
    return sorted(n for n in _REGISTRY if any(fnmatch.fnmatchcase(n, p) for p in patterns))


def create_model(
    name: str,
    pretrained: bool = False,
    num_classes: int | None = None,
    weights_dir: str | None = None,
    checkpoint_path: str | None = None,
    **overrides: Any,
) -> nn.Module:
    """Build a model by registry name, optionally with weights.

    ``name`` is an architecture (``'resnet56'``) or a weight name (``'resnet56.cifar10'``).
    ``pretrained=True`` loads the weight from the manifest (the architecture's default tag when
    no tag is given) through the Hugging Face Hub, or from ``weights_dir`` / the
    ``CIFARZOO_WEIGHTS_DIR`` mirror.  ``checkpoint_path`` loads a local safetensors file instead.
    ``overrides`` are architecture knobs (see ``model_info(name).knobs``).
    """
    arch, tag = split_name(name)
    fn, info = _lookup(arch)
    unknown = sorted(set(overrides) - set(info.knobs))
    if unknown:
        raise TypeError(
            f"create_model({arch!r}): unknown argument(s) {', '.join(unknown)}. "
            f"{arch} accepts: {', '.join(sorted(info.knobs)) or 'no architecture arguments'}.")
    entry = None
    if pretrained and checkpoint_path is not None:
        raise ValueError(f"create_model({name!r}): pass pretrained=True (a published weight) or checkpoint_path= "
                         "(a local file), not both")
    if pretrained:
        from cifarzoo.pretrained import resolve_weight
        entry = resolve_weight(arch, tag)
        # the weight's constructor arguments come first; explicit overrides win
        overrides = {**entry.arch_kwargs, **overrides}
        weight_classes = entry.num_classes
    elif tag is not None and checkpoint_path is None:
        raise ValueError(f"{name!r} names a weight; pass pretrained=True to load it, or use {arch!r}.")
    if num_classes is None:
        num_classes = entry.num_classes if entry is not None else info.num_classes
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")

    build_classes = weight_classes if entry is not None else num_classes
    model = fn(num_classes=build_classes, **overrides)
    model.model_info = info
    model.pretrained_cfg = None
    if entry is not None:
        from cifarzoo.pretrained import load_pretrained
        load_pretrained(model, entry, weights_dir=weights_dir)
        model.pretrained_cfg = entry
    elif checkpoint_path is not None:
        from cifarzoo.pretrained import load_checkpoint_file
        load_checkpoint_file(model, checkpoint_path)
    if build_classes != num_classes:
        import logging
        logging.getLogger("cifarzoo").info(
            "%s: weight has %d classes, asked for %d: classifier re-initialised for fine-tuning",
            name, build_classes, num_classes)
        model.reset_classifier(num_classes)
    return model


def registry_size() -> int:
    _ensure_loaded()
    return len(_REGISTRY)
