"""AutoAugment, RandAugment and TrivialAugment on uint8 *batches*, for the device-resident loader.

Each image draws its own operations and magnitudes (exactly the sampling of torchvision's
``AutoAugment(CIFAR10)``, ``RandAugment(2, 9)`` and ``TrivialAugmentWide()``); the work is done
per operation: all images of a batch that drew the same op go through one batched call with
their own magnitudes (``policy_ops.batched_op``), so a step costs at most 15 calls, never a
Python loop over images.  ``apply_op`` is the per-image reference built on
``torchvision.transforms.v2.functional``, which the batched kernels are tested against
(``exact=True`` in ``BatchPolicy.apply`` uses it, one call per distinct (op, magnitude)).

Sampling (per image, from a caller-given CPU ``torch.Generator``):

* AutoAugment, CIFAR-10 policy (Cubuk et al. 2019, 25 sub-policies of two operations, each applied
  with its probability at its magnitude bin of 10);
* RandAugment (Cubuk et al. 2020): N=2 operations drawn uniformly from 14, magnitude 9 of 31 bins;
* TrivialAugment Wide (Mueller & Hutter 2021): one operation of 14, magnitude uniform over 31 bins.

Signed operations (shear, translate, rotate, colour factors) flip sign with probability 0.5.
Geometric operations use nearest interpolation and fill with 0, as torchvision does by default.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from cifarzoo.data.policy_ops import batched_op

OPS = ("Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color",
       "Contrast", "Sharpness", "Posterize", "Solarize", "AutoContrast", "Equalize", "Invert")
OP_ID = {name: i for i, name in enumerate(OPS)}
SIGNED = {"ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color", "Contrast",
          "Sharpness"}
_NO_MAGNITUDE = {"Identity", "AutoContrast", "Equalize", "Invert"}

# AutoAugment's CIFAR-10 policy (Cubuk et al. 2019, appendix table): (op, probability, magnitude bin 0..9)
CIFAR10_POLICY = (
    (("Invert", 0.1, None), ("Contrast", 0.2, 6)),
    (("Rotate", 0.7, 2), ("TranslateX", 0.3, 9)),
    (("Sharpness", 0.8, 1), ("Sharpness", 0.9, 3)),
    (("ShearY", 0.5, 8), ("TranslateY", 0.7, 9)),
    (("AutoContrast", 0.5, None), ("Equalize", 0.9, None)),
    (("ShearY", 0.2, 7), ("Posterize", 0.3, 7)),
    (("Color", 0.4, 3), ("Brightness", 0.6, 7)),
    (("Sharpness", 0.3, 9), ("Brightness", 0.7, 9)),
    (("Equalize", 0.6, None), ("Equalize", 0.5, None)),
    (("Contrast", 0.6, 7), ("Sharpness", 0.6, 5)),
    (("Color", 0.7, 7), ("TranslateX", 0.5, 8)),
    (("Equalize", 0.3, None), ("AutoContrast", 0.4, None)),
    (("TranslateY", 0.4, 3), ("Sharpness", 0.2, 6)),
    (("Brightness", 0.9, 6), ("Color", 0.2, 8)),
    (("Solarize", 0.5, 2), ("Invert", 0.0, None)),
    (("Equalize", 0.2, None), ("AutoContrast", 0.6, None)),
    (("Equalize", 0.2, None), ("Equalize", 0.6, None)),
    (("Color", 0.9, 9), ("Equalize", 0.6, None)),
    (("AutoContrast", 0.8, None), ("Solarize", 0.2, 8)),
    (("Brightness", 0.1, 3), ("Color", 0.7, 0)),
    (("Solarize", 0.4, 5), ("AutoContrast", 0.9, None)),
    (("TranslateY", 0.9, 9), ("TranslateY", 0.7, 9)),
    (("AutoContrast", 0.9, None), ("Solarize", 0.8, 3)),
    (("Equalize", 0.8, None), ("Invert", 0.1, None)),
    (("TranslateY", 0.7, 9), ("AutoContrast", 0.9, None)),
)


def magnitude_table(policy: str, num_bins: int, size: int = 32) -> dict[str, torch.Tensor]:
    """Magnitude of each bin, per operation, for "autoaugment"/"randaugment" (the standard space)
    or "trivialaugment" (the wide space).  Solarize is a fraction of 255."""
    lin = lambda hi: torch.linspace(0.0, hi, num_bins)  # noqa: E731
    if policy == "trivialaugment":
        geo = {"ShearX": lin(0.99), "ShearY": lin(0.99), "TranslateX": lin(32.0), "TranslateY": lin(32.0),
               "Rotate": lin(135.0)}
        colour, posterize_span = 0.99, 6
    else:
        geo = {"ShearX": lin(0.3), "ShearY": lin(0.3), "TranslateX": lin(150.0 / 331.0 * size),
               "TranslateY": lin(150.0 / 331.0 * size), "Rotate": lin(30.0)}
        colour, posterize_span = 0.9, 4
    table = dict(geo)
    for name in ("Brightness", "Color", "Contrast", "Sharpness"):
        table[name] = lin(colour)
    table["Posterize"] = (8 - torch.arange(num_bins) / ((num_bins - 1) / posterize_span)).round()
    table["Solarize"] = torch.linspace(1.0, 0.0, num_bins)
    return table


def apply_op(img: torch.Tensor, name: str, magnitude: float) -> torch.Tensor:
    """One operation on uint8 images (..., C, H, W) with torchvision v2 functional ops."""
    nearest = InterpolationMode.NEAREST
    if name == "Identity":
        return img
    if name == "ShearX":  # shear angle atan(m): the affine matrix of AutoAugment's (1, m, 0, 0, 1, 0)
        return TF.affine(img, angle=0.0, translate=[0, 0], scale=1.0, shear=[math.degrees(math.atan(magnitude)), 0.0],
                         interpolation=nearest, center=[0, 0])
    if name == "ShearY":
        return TF.affine(img, angle=0.0, translate=[0, 0], scale=1.0, shear=[0.0, math.degrees(math.atan(magnitude))],
                         interpolation=nearest, center=[0, 0])
    if name == "TranslateX":
        return TF.affine(img, angle=0.0, translate=[int(magnitude), 0], scale=1.0, shear=[0.0, 0.0],
                         interpolation=nearest)
    if name == "TranslateY":
        return TF.affine(img, angle=0.0, translate=[0, int(magnitude)], scale=1.0, shear=[0.0, 0.0],
                         interpolation=nearest)
    if name == "Rotate":
        return TF.rotate(img, angle=magnitude, interpolation=nearest)
    if name == "Brightness":
        return TF.adjust_brightness(img, brightness_factor=1.0 + magnitude)
    if name == "Color":
        return TF.adjust_saturation(img, saturation_factor=1.0 + magnitude)
    if name == "Contrast":
        return TF.adjust_contrast(img, contrast_factor=1.0 + magnitude)
    if name == "Sharpness":
        return TF.adjust_sharpness(img, sharpness_factor=1.0 + magnitude)
    if name == "Posterize":
        return TF.posterize(img, bits=int(magnitude))
    if name == "Solarize":
        return TF.solarize(img, threshold=255.0 * magnitude)
    if name == "AutoContrast":
        return TF.autocontrast(img)
    if name == "Equalize":
        return TF.equalize(img)
    if name == "Invert":
        return TF.invert(img)
    raise ValueError(f"unknown augmentation op {name!r}; known: {OPS}")


@dataclass
class PolicyDraw:
    """Per-image draws of one batch: ``ops[:, j]`` is the op id of step j (-1: skipped) and
    ``magnitudes[:, j]`` its signed magnitude; CPU tensors of shape (N, steps)."""

    ops: torch.Tensor
    magnitudes: torch.Tensor

    def slice(self, lo: int, hi: int) -> "PolicyDraw":
        return PolicyDraw(self.ops[lo:hi], self.magnitudes[lo:hi])


class BatchPolicy:
    """Samples and applies one of the policy augmentations to uint8 batches (N, C, H, W)."""

    def __init__(self, policy: str, image_size: int = 32):
        if policy not in ("autoaugment", "randaugment", "trivialaugment"):
            raise ValueError(f"policy {policy!r} must be 'autoaugment', 'randaugment' or 'trivialaugment'")
        self.policy = policy
        bins = 10 if policy == "autoaugment" else 31
        table = magnitude_table(policy, bins, image_size)
        # magnitude lookup [op id, bin]; ops without a magnitude stay 0
        self._mag = torch.zeros(len(OPS), bins)
        for name, values in table.items():
            self._mag[OP_ID[name]] = values.float()
        self._signed = torch.tensor([name in SIGNED for name in OPS])
        # RandAugment and TrivialAugment choose among the 14 ops of torchvision's spaces (no Invert)
        self._choices = torch.tensor([OP_ID[n] for n in OPS if n != "Invert"])
        if policy == "autoaugment":
            self._sub_ops = torch.tensor([[OP_ID[op] for op, _, _ in sub] for sub in CIFAR10_POLICY])
            self._sub_prob = torch.tensor([[p for _, p, _ in sub] for sub in CIFAR10_POLICY])
            self._sub_bin = torch.tensor([[b or 0 for _, _, b in sub] for sub in CIFAR10_POLICY])

    def sample(self, n: int, generator: torch.Generator) -> PolicyDraw:
        g = generator
        if self.policy == "autoaugment":
            sub = torch.randint(len(CIFAR10_POLICY), (n,), generator=g)
            ops, bins = self._sub_ops[sub], self._sub_bin[sub]
            # torchvision applies a step when rand <= probability
            ops = torch.where(torch.rand(n, 2, generator=g) <= self._sub_prob[sub], ops, -1)
        elif self.policy == "randaugment":
            ops = self._choices[torch.randint(len(self._choices), (n, 2), generator=g)]
            bins = torch.full((n, 2), 9)
        else:
            ops = self._choices[torch.randint(len(self._choices), (n, 1), generator=g)]
            bins = torch.randint(self._mag.shape[1], (n, 1), generator=g)
        negative = torch.rand(ops.shape, generator=g) <= 0.5
        safe = ops.clamp(min=0)
        mags = self._mag[safe, bins]
        mags = torch.where(self._signed[safe] & negative, -mags, mags)
        ops = torch.where(ops == OP_ID["Identity"], -1, ops)  # nothing to do: skip like a failed coin toss
        return PolicyDraw(ops, torch.where(ops >= 0, mags, 0.0))

    def apply(self, x: torch.Tensor, draw: PolicyDraw, exact: bool = False) -> torch.Tensor:
        """Apply the draws to uint8 ``x`` (N, C, H, W) on any device; steps in order.

        ``exact=True`` calls torchvision's op once per distinct (op, magnitude) instead of the
        batched kernels: bit-identical to torchvision, and slower (hundreds of calls per batch
        under TrivialAugment).
        """
        if x.dtype != torch.uint8:
            raise TypeError(f"policy augmentation expects uint8 images, got {x.dtype}")
        x = x.clone()
        for step in range(draw.ops.shape[1]):
            ops, mags = draw.ops[:, step], draw.magnitudes[:, step]
            if exact:
                keys = torch.stack([ops.double(), mags.double()], dim=1)
                groups, inverse = torch.unique(keys, dim=0, return_inverse=True)
                for gi, (op, mag) in enumerate(groups.tolist()):
                    if op >= 0:
                        idx = torch.nonzero(inverse == gi).squeeze(1).to(x.device, non_blocking=True)
                        x[idx] = apply_op(x[idx], OPS[int(op)], mag)
                continue
            for op in torch.unique(ops).tolist():
                if op >= 0:
                    rows = torch.nonzero(ops == op).squeeze(1)
                    idx = rows.to(x.device, non_blocking=True)
                    x[idx] = batched_op(x[idx], OPS[op], mags[rows])
        return x
