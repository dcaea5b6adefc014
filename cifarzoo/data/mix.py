"""Batch mixing (mixup, CutMix, RICAP) with soft targets, and the loss that takes them.

All three act on a whole normalized batch ``x`` (N, C, H, W) and its labels, and return the mixed
batch with soft targets (N, num_classes) that sum to 1:

* mixup (Zhang et al. 2018): one ``lam ~ Beta(a, a)`` per batch, ``x = lam x + (1-lam) x[perm]``,
  targets mixed with the same ``lam``.
* CutMix (Yun et al. 2019): ``lam ~ Beta(a, a)`` sets a box of side ``sqrt(1-lam)`` of the image
  with a uniform centre (clipped at the border); the box is pasted from ``x[perm]`` and the label
  mass of the pasted image is the *clipped* box's share of the image, so targets match pixels.
* RICAP (Takahashi et al. 2018): a boundary point ``(w, h)`` with ``w = round(W Beta(b, b))``,
  ``h = round(H Beta(b, b))`` splits the image into four patches; patch k is a random crop of
  ``x[perm_k]`` (four permutations), and label k gets the patch's share of the area.

One draw of the mixing parameters serves the whole batch, as in the papers' reference code.
Parameters come from a caller-given ``torch.Generator`` (CPU), so both loaders mix identically
for the same (seed, epoch, batch, rank).  Beta variates come from numpy seeded by that generator
(``torch.distributions`` cannot take a generator).

``soft_cross_entropy`` accepts integer labels or soft targets and applies label smoothing to
either: ``target * (1 - eps) + eps / C``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from cifarzoo.data.config import AugConfig


def one_hot(y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Float32 one-hot targets of integer labels; float input of shape (N, C) is returned as is."""
    if y.is_floating_point():
        if y.ndim != 2 or y.shape[1] != num_classes:
            raise ValueError(f"soft targets must have shape (N, {num_classes}), got {tuple(y.shape)}")
        return y
    return F.one_hot(y.long(), num_classes).float()


def _beta(alpha: float, generator: torch.Generator) -> float:
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    return float(np.random.default_rng(seed).beta(alpha, alpha))


def _randint(high: int, generator: torch.Generator) -> int:
    return int(torch.randint(0, high, (1,), generator=generator))


def mixup(x: torch.Tensor, y_soft: torch.Tensor, lam: float, perm: torch.Tensor):
    """``lam * x + (1 - lam) * x[perm]`` and the same mix of the soft targets."""
    perm = perm.to(x.device)
    x = x.mul(lam).add_(x[perm], alpha=1.0 - lam)
    y = y_soft.mul(lam).add_(y_soft[perm], alpha=1.0 - lam)
    return x, y


def cutmix_box(lam: float, height: int, width: int, cy: int, cx: int) -> tuple[int, int, int, int]:
    """Box ``(y1, y2, x1, x2)`` (end exclusive) of side ``sqrt(1 - lam)`` centred at (cy, cx), clipped."""
    ratio = float(np.sqrt(1.0 - lam))
    ch, cw = int(height * ratio), int(width * ratio)
    y1, x1 = cy - ch // 2, cx - cw // 2
    return max(y1, 0), min(y1 + ch, height), max(x1, 0), min(x1 + cw, width)


def cutmix(x: torch.Tensor, y_soft: torch.Tensor, box: tuple[int, int, int, int], perm: torch.Tensor):
    """Paste ``box`` of ``x[perm]`` into ``x``; returns (x, targets, label share kept by x)."""
    y1, y2, x1, x2 = box
    perm = perm.to(x.device)
    x = x.clone()
    x[:, :, y1:y2, x1:x2] = x[:, :, y1:y2, x1:x2][perm]  # slice first: only the box is gathered
    keep = 1.0 - (y2 - y1) * (x2 - x1) / (x.shape[2] * x.shape[3])  # true area after clipping
    y = y_soft.mul(keep).add_(y_soft[perm], alpha=1.0 - keep)
    return x, y, keep


def ricap_patches(w: int, h: int, height: int, width: int) -> list[tuple[int, int]]:
    """(patch height, patch width) of the top-left, top-right, bottom-left, bottom-right patches."""
    return [(h, w), (h, width - w), (height - h, w), (height - h, width - w)]


def ricap(x: torch.Tensor, y_soft: torch.Tensor, w: int, h: int, perms: list[torch.Tensor],
          offsets: list[tuple[int, int]]):
    """Tile four crops: patch k is ``x[perms[k]]`` cropped at ``offsets[k]`` = (top, left).

    Returns (x, targets, weights) where weights[k] is patch k's share of the image area.
    """
    height, width = x.shape[2], x.shape[3]
    sizes = ricap_patches(w, h, height, width)
    crops, weights = [], []
    y = torch.zeros_like(y_soft)
    for (ph, pw), perm, (top, left) in zip(sizes, perms, offsets):
        perm = perm.to(x.device)
        crops.append(x[:, :, top:top + ph, left:left + pw][perm])
        wk = ph * pw / (height * width)
        weights.append(wk)
        y.add_(y_soft[perm], alpha=wk)
    top_row = torch.cat(crops[:2], dim=3)
    bottom_row = torch.cat(crops[2:], dim=3)
    return torch.cat([top_row, bottom_row], dim=2), y, weights


@dataclass
class MixParams:
    """One batch's mixing draw (``method`` None: the batch is left unmixed, targets one-hot)."""

    method: str | None
    perm: torch.Tensor | None = None
    lam: float = 1.0
    box: tuple[int, int, int, int] | None = None          # cutmix
    wh: tuple[int, int] | None = None                      # ricap boundary (w, h)
    perms: list | None = None                              # ricap
    offsets: list | None = None                            # ricap


class BatchMixer:
    """Applies the batch mixing of an ``AugConfig``; ``enabled`` is False when none is on."""

    def __init__(self, aug: AugConfig | None, num_classes: int):
        self.aug = aug
        self.num_classes = num_classes
        self.enabled = aug is not None and aug.mixes

    def sample(self, n: int, height: int, width: int, generator: torch.Generator) -> MixParams:
        """Draw the mixing of one batch of ``n`` images from ``generator`` (CPU)."""
        aug = self.aug
        if not self.enabled or float(torch.rand(1, generator=generator)) >= aug.mix_prob:
            return MixParams(None)
        if aug.ricap_beta > 0:
            w = int(round(width * _beta(aug.ricap_beta, generator)))
            h = int(round(height * _beta(aug.ricap_beta, generator)))
            perms, offsets = [], []
            for ph, pw in ricap_patches(w, h, height, width):
                perms.append(torch.randperm(n, generator=generator))
                offsets.append((_randint(height - ph + 1, generator), _randint(width - pw + 1, generator)))
            return MixParams("ricap", wh=(w, h), perms=perms, offsets=offsets)
        if aug.mixup_alpha > 0 and aug.cutmix_alpha > 0:
            method = "mixup" if float(torch.rand(1, generator=generator)) < 0.5 else "cutmix"
        else:
            method = "mixup" if aug.mixup_alpha > 0 else "cutmix"
        perm = torch.randperm(n, generator=generator)
        if method == "mixup":
            return MixParams("mixup", perm=perm, lam=_beta(aug.mixup_alpha, generator))
        lam = _beta(aug.cutmix_alpha, generator)
        box = cutmix_box(lam, height, width, _randint(height, generator), _randint(width, generator))
        return MixParams("cutmix", perm=perm, lam=lam, box=box)

    def apply(self, x: torch.Tensor, y: torch.Tensor, params: MixParams):
        """Mixed batch and soft targets (N, num_classes) for ``params``."""
        y_soft = one_hot(y, self.num_classes).to(x.device)
        if params.method == "mixup":
            return mixup(x, y_soft, params.lam, params.perm)
        if params.method == "cutmix":
            return cutmix(x, y_soft, params.box, params.perm)[:2]
        if params.method == "ricap":
            w, h = params.wh
            return ricap(x, y_soft, w, h, params.perms, params.offsets)[:2]
        return x, y_soft

    def __call__(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator):
        """Mix one batch; without mixing configured, ``(x, y)`` come back unchanged (integer labels)."""
        if not self.enabled:
            return x, y
        return self.apply(x, y, self.sample(x.shape[0], x.shape[2], x.shape[3], generator))


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor, label_smoothing: float = 0.0,
                       reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy for integer labels (N,) or soft targets (N, C), with optional label smoothing.

    Computed in float32 whatever the logits' dtype (mixed precision), so the loss is stable.
    """
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing={label_smoothing} must be in [0, 1)")
    if logits.ndim != 2:
        raise ValueError(f"logits must have shape (N, C), got {tuple(logits.shape)}")
    logits = logits.float()
    if not target.is_floating_point():
        return F.cross_entropy(logits, target.long(), label_smoothing=label_smoothing, reduction=reduction)
    if target.shape != logits.shape:
        raise ValueError(f"soft targets of shape {tuple(target.shape)} do not match logits {tuple(logits.shape)}")
    target = target.float()
    if label_smoothing > 0:
        target = target * (1.0 - label_smoothing) + label_smoothing / logits.shape[1]
    loss = -(target * F.log_softmax(logits, dim=1)).sum(dim=1)
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"reduction={reduction!r} must be 'mean', 'sum' or 'none'")
