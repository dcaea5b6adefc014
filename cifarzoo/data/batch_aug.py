"""Batched augmentation for the device-resident loader: every step is a tensor op on the batch.

``BatchAugmenter.sample(n, generator)`` draws all per-image parameters of a batch on the CPU from
one ``torch.Generator``; ``BatchAugmenter.__call__(x_uint8, params)`` applies them on whatever
device ``x`` lives on.  Drawing for a whole *global* batch and slicing the rows of one rank
(``AugParams.slice``) is what makes a DDP rank see exactly the crops a single process would.

Semantics (matching the torchvision transforms of the ``kind="torch"`` path):

* crop: pad ``p`` zero pixels on every side, take the 32x32 window at offsets (dy, dx), each
  uniform in 0..2p (``RandomCrop(32, padding=p)``); done as one ``gather`` per batch.
* flip: horizontal, probability 0.5 (``RandomHorizontalFlip``), via ``torch.where``.
* policy: AutoAugment / RandAugment / TrivialAugment on uint8 (see ``policy.py``).
* normalize: ``(x / 255 - mean) / std`` per channel, float32.
* Cutout (DeVries & Taylor 2017): per hole a centre uniform over the image, a ``side`` square
  centred there (top-left ``c - side // 2``), clipped at the border, set to 0 after normalization.
* Random Erasing (Zhong et al. 2017, torchvision's sampling): with probability ``p``, up to 10
  attempts of area ``U(0.02, 0.4) * HW`` and log-uniform aspect in [0.3, 3.3]; the first rectangle
  that fits is filled with standard-normal noise.  The noise comes from a generator on the batch's
  device seeded from the CPU draw, so it is reproducible per device type (CPU and CUDA streams
  differ) and identical on every rank.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch

from cifarzoo.data.config import AugConfig
from cifarzoo.data.policy import BatchPolicy, PolicyDraw

ERASE_SCALE = (0.02, 0.4)
ERASE_RATIO = (0.3, 3.3)
ERASE_ATTEMPTS = 10


def random_crop(x: torch.Tensor, offsets: torch.Tensor, padding: int) -> torch.Tensor:
    """32x32 (input-size) crops of the zero-padded batch; ``offsets`` (N, 2) = (dy, dx) in 0..2*padding."""
    n, c, h, w = x.shape
    if padding == 0:
        return x
    padded = torch.nn.functional.pad(x, (padding, padding, padding, padding))
    pw = w + 2 * padding
    offsets = offsets.to(x.device)
    rows = offsets[:, 0:1] + torch.arange(h, device=x.device)            # (N, H)
    cols = offsets[:, 1:2] + torch.arange(w, device=x.device)            # (N, W)
    flat = (rows[:, :, None] * pw + cols[:, None, :]).reshape(n, 1, h * w)
    out = padded.reshape(n, c, -1).gather(2, flat.expand(n, c, h * w))
    return out.reshape(n, c, h, w)


def hflip(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mirror the images where ``mask`` (N,) is True."""
    return torch.where(mask.to(x.device)[:, None, None, None], x.flip(3), x)


def normalize(x: torch.Tensor, mean, std) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float32 ``(x / 255 - mean) / std``."""
    mean = torch.as_tensor(mean, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
    std = torch.as_tensor(std, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
    return x.float().div_(255.0).sub_(mean).div_(std)


def box_mask(top: torch.Tensor, left: torch.Tensor, height, width, size: tuple[int, int]) -> torch.Tensor:
    """Boolean (N, H, W) masks of the boxes [top, top+height) x [left, left+width), clipped."""
    h, w = size
    device = top.device
    ys = torch.arange(h, device=device)
    xs = torch.arange(w, device=device)
    in_y = (ys >= top[:, None]) & (ys < (top + height)[:, None])
    in_x = (xs >= left[:, None]) & (xs < (left + width)[:, None])
    return in_y[:, :, None] & in_x[:, None, :]


def cutout(x: torch.Tensor, centres: torch.Tensor, side: int) -> torch.Tensor:
    """Zero a ``side`` square around each centre; ``centres`` (N, holes, 2) = (cy, cx)."""
    centres = centres.to(x.device)
    mask = torch.zeros(x.shape[0], x.shape[2], x.shape[3], dtype=torch.bool, device=x.device)
    for k in range(centres.shape[1]):
        top, left = centres[:, k, 0] - side // 2, centres[:, k, 1] - side // 2
        mask |= box_mask(top, left, side, side, (x.shape[2], x.shape[3]))
    return x.masked_fill(mask[:, None], 0.0)


def sample_erase_boxes(n: int, p: float, height: int, width: int, generator: torch.Generator) -> torch.Tensor:
    """(N, 4) boxes (top, left, h, w) of Random Erasing; h = w = 0 where nothing is erased."""
    g = generator
    area = height * width * (ERASE_SCALE[0] + (ERASE_SCALE[1] - ERASE_SCALE[0])
                             * torch.rand(n, ERASE_ATTEMPTS, generator=g, dtype=torch.float64))
    log_lo, log_hi = math.log(ERASE_RATIO[0]), math.log(ERASE_RATIO[1])
    ratio = torch.exp(log_lo + (log_hi - log_lo) * torch.rand(n, ERASE_ATTEMPTS, generator=g, dtype=torch.float64))
    hs = torch.sqrt(area * ratio).round().long()
    ws = torch.sqrt(area / ratio).round().long()
    fits = (hs < height) & (ws < width)
    first = fits.to(torch.int8).argmax(dim=1)  # first attempt that fits (argmax returns the first max)
    rows = torch.arange(n)
    h, w = hs[rows, first], ws[rows, first]
    erase = (torch.rand(n, generator=g) < p) & fits.any(dim=1)
    u = torch.rand(n, 2, generator=g, dtype=torch.float64)
    top = (u[:, 0] * (height - h + 1)).floor().long().clamp(max=height - 1)
    left = (u[:, 1] * (width - w + 1)).floor().long().clamp(max=width - 1)
    zero = torch.zeros_like(h)
    return torch.stack([top, left, torch.where(erase, h, zero), torch.where(erase, w, zero)], dim=1)


def random_erase(x: torch.Tensor, boxes: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Replace each box of ``boxes`` (N, 4) in float ``x`` by the same pixels of ``noise``."""
    boxes = boxes.to(x.device)
    mask = box_mask(boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3], (x.shape[2], x.shape[3]))
    return torch.where(mask[:, None], noise, x)


@dataclass
class AugParams:
    """Per-image draws of one batch (CPU tensors, first dimension N); None where the step is off."""

    crop: torch.Tensor | None = None       # (N, 2) offsets (dy, dx)
    flip: torch.Tensor | None = None       # (N,) bool
    policy: PolicyDraw | None = None
    cutout: torch.Tensor | None = None     # (N, holes, 2) centres (cy, cx)
    erase: torch.Tensor | None = None      # (N, 4) (top, left, h, w)
    erase_seed: int = 0                    # seeds the noise of the whole (global) batch
    noise_rows: tuple[int, int] | None = None  # (first row, global N) of this slice in the noise

    def slice(self, lo: int, hi: int) -> "AugParams":
        """The rows lo:hi (one rank's part of a global batch)."""
        out = AugParams(erase_seed=self.erase_seed)
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, (torch.Tensor, PolicyDraw)):
                setattr(out, f.name, v.slice(lo, hi) if isinstance(v, PolicyDraw) else v[lo:hi])
        if self.erase is not None:
            first, total = self.noise_rows or (0, len(self.erase))
            out.noise_rows = (first + lo, total)
        return out


class BatchAugmenter:
    """The device path's augmentation: uint8 (N, C, H, W) batch in, normalized float32 out."""

    def __init__(self, aug: AugConfig | None, mean, std, image_size: int = 32):
        self.aug = aug
        self.mean, self.std = tuple(mean), tuple(std)
        self.size = image_size
        self.policy = BatchPolicy(aug.policy, image_size) if aug is not None and aug.policy else None

    def sample(self, n: int, generator: torch.Generator) -> AugParams:
        aug, g, s = self.aug, generator, self.size
        p = AugParams()
        if aug is None:
            return p
        if aug.crop_padding > 0:
            p.crop = torch.randint(0, 2 * aug.crop_padding + 1, (n, 2), generator=g)
        if aug.flip:
            p.flip = torch.rand(n, generator=g) < 0.5
        if self.policy is not None:
            p.policy = self.policy.sample(n, g)
        if aug.cutout > 0:
            p.cutout = torch.randint(0, s, (n, aug.cutout_holes, 2), generator=g)
        if aug.random_erase > 0:
            p.erase = sample_erase_boxes(n, aug.random_erase, s, s, g)
            p.erase_seed = int(torch.randint(0, 2**62, (1,), generator=g))
            p.noise_rows = (0, n)
        return p

    def __call__(self, x: torch.Tensor, params: AugParams) -> torch.Tensor:
        aug = self.aug
        if x.dtype != torch.uint8 or x.ndim != 4:
            raise TypeError(f"expected a uint8 batch (N, C, H, W), got {x.dtype} {tuple(x.shape)}")
        if params.crop is not None:
            x = random_crop(x, params.crop, aug.crop_padding)
        if params.flip is not None:
            x = hflip(x, params.flip)
        if params.policy is not None:
            x = self.policy.apply(x, params.policy)
        out = normalize(x, self.mean, self.std)
        if params.cutout is not None:
            out = cutout(out, params.cutout, aug.cutout)
        if params.erase is not None and bool(params.erase[:, 2].any()):
            first, total = params.noise_rows
            g = torch.Generator(device=out.device).manual_seed(params.erase_seed)
            noise = torch.randn((total, *out.shape[1:]), generator=g, device=out.device)[first:first + len(out)]
            out = random_erase(out, params.erase, noise)
        return out
