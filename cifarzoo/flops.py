"""Parameter and multiply-accumulate (MAC) counts, the numbers every table of the project quotes.

MACs come from fvcore's ``FlopCountAnalysis``, which traces the model with ``torch.jit.trace``
and sums per-operator handles.  fvcore counts **one fused multiply-add as one "flop"**, so its
"flop" total is a MAC count, the unit the CIFAR zoos publish (ResNet-20: 40.8 M).  What is counted:

* convolutions, linears, matmul/bmm/einsum: one per multiply-add (fvcore's handles);
* ``layer_norm``/``group_norm``: fvcore's estimate of 5 per element (they cannot be folded away);
* ``scaled_dot_product_attention``: the two matrix products QK^T and (softmax)V, a handle added
  here because fvcore does not know the op and would count attention as zero.

Two fvcore defaults are switched off, so the totals are the MACs the published CIFAR zoos quote
(chenyaofo/pytorch-cifar-models: MobileNetV2 x1.0 87.98 M, which our count reproduces exactly):

* eval-mode ``batch_norm`` (fvcore: 2 per element): a per-channel scale and shift that folds into
  the preceding convolution at inference;
* ``adaptive_avg_pool2d`` (fvcore: 1 per element): pooling is additions, not multiply-adds, and
  counting it would make ``x.mean((2, 3))`` and ``AdaptiveAvgPool2d`` differ for the same network.

Element-wise ops (ReLU, additions, softmax, other pooling) are not counted; fvcore reports them
as "unsupported" and :func:`analyze_macs` returns their names.
"""
from __future__ import annotations

import logging
import math
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
import torch.nn as nn

# Named in every output that quotes a MAC count, so readers know which counter made it.
COUNTER = ("fvcore.nn.FlopCountAnalysis (1 multiply-add = 1 flop; batch norm and pooling not counted; "
           "cifarzoo handle for scaled_dot_product_attention)")


def _shape(value: Any) -> list[int] | None:
    """Static shape of a traced graph value (``None`` when the tracer did not record one)."""
    return value.type().sizes() if value.isCompleteTensor() else None


def sdpa_mac_jit(inputs: list, outputs: list) -> int:
    """fvcore handle for ``aten::scaled_dot_product_attention(q, k, v, ...)``.

    q: (*B, L, E), k: (*B', S, E), v: (*B', S, Ev) with B' = B or fewer heads (grouped-query
    attention, broadcast to q's heads).  MACs = prod(B) * L * S * E  (QK^T)
                                             + prod(B) * L * S * Ev (attention weights times V).
    The softmax and scaling are element-wise and, as everywhere in fvcore, not counted.
    """
    q, k, v = (_shape(x) for x in inputs[:3])
    if q is None or k is None or v is None:
        raise RuntimeError("scaled_dot_product_attention: the tracer recorded no static shapes for q/k/v")
    batch = math.prod(q[:-2])
    length, embed = q[-2], q[-1]
    source, value_dim = k[-2], v[-1]
    return batch * length * source * (embed + value_dim)


EXTRA_HANDLES = {"aten::scaled_dot_product_attention": sdpa_mac_jit}


def _not_counted(inputs: list, outputs: list) -> int:
    return 0


# fvcore defaults switched off.  A zero handle rather than fvcore's ``None``: fvcore 0.1.5 adds a
# ``None`` op to its ignore list but keeps consulting its default handle first.
NOT_COUNTED = {"aten::batch_norm": _not_counted, "aten::adaptive_avg_pool2d": _not_counted}


@dataclass
class MacCount:
    """Result of :func:`analyze_macs`: the total and where it comes from."""

    total: int
    by_operator: dict[str, int]
    # ops seen in the trace without a counting handle (element-wise ops mostly), with call counts
    unsupported_ops: dict[str, int] = field(default_factory=dict)
    input_size: tuple[int, ...] = (3, 32, 32)
    counter: str = COUNTER


class MacCountError(RuntimeError):
    """The model could not be traced by fvcore, so its MACs are unknown."""


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (each shared tensor once); ``trainable_only`` skips frozen ones."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"count_params expects an nn.Module, got {type(model).__name__}")
    # nn.Module.parameters() already yields a shared parameter only once
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _check_input_size(input_size: Sequence[int]) -> tuple[int, ...]:
    size = tuple(input_size)
    if not size or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in size):
        raise ValueError(f"input_size must be positive ints without the batch dimension, e.g. (3, 32, 32); "
                         f"got {input_size!r}")
    return size


def analyze_macs(model: nn.Module, input_size: Sequence[int] = (3, 32, 32)) -> MacCount:
    """MACs of one forward pass of one image of ``input_size`` (C, H, W), model in eval mode.

    fvcore counts one multiply-add as one "flop", so the total is a MAC count; batch norm and
    pooling are not counted (see the module docstring).  The model is switched to eval mode for
    the count (dropout and drop-path vanish) and restored to its previous mode afterwards.
    Unsupported-op warnings are silenced; their names are returned in ``unsupported_ops``.
    """
    with warnings.catch_warnings():  # fvcore's import triggers a torch.jit deprecation notice
        warnings.simplefilter("ignore")
        from fvcore.nn import FlopCountAnalysis

    if not isinstance(model, nn.Module):
        raise TypeError(f"analyze_macs expects an nn.Module, got {type(model).__name__}")
    size = _check_input_size(input_size)
    ref = next(model.parameters(), None)
    x = torch.zeros(1, *size, device=ref.device if ref is not None else "cpu",
                    dtype=ref.dtype if ref is not None and ref.is_floating_point() else torch.float32)
    was_training = model.training
    model.eval()
    analysis = (FlopCountAnalysis(model, x).set_op_handle(**EXTRA_HANDLES, **NOT_COUNTED)
                .unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none"))
    fv_logger = logging.getLogger("fvcore")
    old_level = fv_logger.level
    try:
        fv_logger.setLevel(logging.ERROR)
        with warnings.catch_warnings(), torch.no_grad():
            # torch.jit deprecation notices and tracer warnings say nothing about the count
            warnings.simplefilter("ignore")
            total = int(analysis.total())
            by_op = {k: int(v) for k, v in analysis.by_operator().items() if v}
            unsupported = dict(Counter(analysis.unsupported_ops()))
    except Exception as e:  # the tracer raises many types; all mean the same thing to a caller
        name = getattr(getattr(model, "model_info", None), "name", type(model).__name__)
        raise MacCountError(
            f"fvcore could not trace {name} at input {size} to count MACs: {type(e).__name__}: {e}. "
            "The model must run under torch.jit.trace (no Python control flow on tensor values, "
            "tensor inputs/outputs only).") from e
    finally:
        fv_logger.setLevel(old_level)
        model.train(was_training)
    return MacCount(total=total, by_operator=by_op, unsupported_ops=unsupported, input_size=size)


def count_macs(model: nn.Module, input_size: Sequence[int] = (3, 32, 32)) -> int:
    """Multiply-accumulates of one forward pass at batch 1, counted by fvcore (which names one
    multiply-add one "flop"); see :func:`analyze_macs` for what is counted.  Raises
    :class:`MacCountError` when the model cannot be traced."""
    return analyze_macs(model, input_size).total
