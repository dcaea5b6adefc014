"""Policy operations with a *per-image* magnitude, on uint8 batches (N, C, H, W).

torchvision's functional ops take one magnitude per call, so applying them per distinct magnitude
costs one call per (op, magnitude) group: about 400 calls for a batch of 512 under TrivialAugment
(31 magnitude bins x 2 signs x 14 ops).  These kernels follow the arithmetic of
``torchvision.transforms.v2.functional`` step by step but broadcast a magnitude tensor, so a batch
costs one call per *op*:

* Brightness, Posterize, Solarize: the same arithmetic, bit-exact.
* Color (saturation), Contrast, Sharpness: torchvision's ``_blend`` with a per-image ratio, the
  multiply-add done by ``addcmul_`` (bit-exact on the CPU here; a backend whose kernel rounds
  the fused multiply-add differently can move a rare pixel by one level after the uint8 cast).
* ShearX/Y, TranslateX/Y, Rotate: torchvision's inverse affine matrix per image (same formula and
  centre conventions, computed with torch's float64 trigonometry instead of Python's ``math``),
  its affine grid, nearest ``grid_sample`` with zero fill, rounding.  A sample point lying within
  rounding error of the middle between two pixels could pick the other neighbour.

``tests/test_augment.py`` checks every op against the per-image torchvision op.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torchvision.transforms.v2 import functional as TF

GEOMETRIC = ("ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate")


def _factors(m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """torchvision's ``ratio = 1.0 + magnitude`` and ``1.0 - ratio``, computed in double as in
    Python and rounded to the float32 the kernels multiply with; shaped (N, 1, 1, 1)."""
    ratio = 1.0 + m.double()
    return ratio.float().view(-1, 1, 1, 1), (1.0 - ratio).float().view(-1, 1, 1, 1)


def _blend(img: torch.Tensor, other: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    ratio, alpha = _factors(m)
    # addcmul_ rounds like torchvision's add_(other, alpha=...) (one fused multiply-add)
    return img.mul(ratio).addcmul_(other, alpha).clamp_(0, 255).to(torch.uint8)


def _grayscale(img: torch.Tensor) -> torch.Tensor:
    r, g, b = img.unbind(dim=-3)
    return r.mul(0.2989).add_(g, alpha=0.587).add_(b, alpha=0.114).unsqueeze(-3).floor_()


def _sharpness(img: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    c = img.shape[1]
    a, b = 1.0 / 13.0, 5.0 / 13.0
    kernel = torch.tensor([[a, a, a], [a, b, a], [a, a, a]], dtype=torch.float32, device=img.device)
    out = img.to(torch.float32, copy=True)
    blurred = F.conv2d(out, kernel.expand(c, 1, 3, 3), groups=c).round_()
    view = out[..., 1:-1, 1:-1]  # the border keeps its pixels, as in torchvision
    view.addcmul_(blurred.sub_(view), _factors(m)[1])
    return out.clamp_(0, 255).to(torch.uint8)


def _inverse_affine(angle, shear_x, shear_y, tx, ty, cx: float, cy: float) -> torch.Tensor:
    """(N, 2, 3) inverse affine matrices, torchvision's ``_get_inverse_affine_matrix`` (scale 1)
    with per-image angle / shear (degrees) / translation (float64 tensors)."""
    rot, sx, sy = torch.deg2rad(angle), torch.deg2rad(shear_x), torch.deg2rad(shear_y)
    cos_sy, tan_sx = torch.cos(sy), torch.tan(sx)
    a = torch.cos(rot - sy) / cos_sy
    b = -(a * tan_sx + torch.sin(rot))
    c = torch.sin(rot - sy) / cos_sy
    d = torch.cos(rot) - c * tan_sx
    m0, m1, m3, m4 = d, -b, -c, a
    m2 = cx - m0 * (cx + tx) - m1 * (cy + ty)
    m5 = cy - m3 * (cx + tx) - m4 * (cy + ty)
    return torch.stack([torch.stack([m0, m1, m2], 1), torch.stack([m3, m4, m5], 1)], 1)


def _warp(img: torch.Tensor, matrices: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour warp by per-image inverse matrices, zero fill (torchvision's grid maths)."""
    n, _, h, w = img.shape
    theta = matrices.to(device=img.device, dtype=torch.float32)
    base = torch.empty(1, h, w, 3, dtype=torch.float32, device=img.device)
    base[..., 0].copy_(torch.linspace((1.0 - w) * 0.5, (w - 1.0) * 0.5, steps=w, device=img.device))
    base[..., 1].copy_(torch.linspace((1.0 - h) * 0.5, (h - 1.0) * 0.5, steps=h, device=img.device).unsqueeze_(-1))
    base[..., 2].fill_(1)
    scale = torch.tensor([0.5 * w, 0.5 * h], dtype=torch.float32, device=img.device)
    grid = base.view(1, h * w, 3).expand(n, -1, -1).bmm(theta.transpose(1, 2).div(scale)).view(n, h, w, 2)
    out = F.grid_sample(img.float(), grid, mode="nearest", padding_mode="zeros", align_corners=False)
    return out.round_().to(torch.uint8)


def _geometric(img: torch.Tensor, name: str, m: torch.Tensor) -> torch.Tensor:
    n, _, h, w = img.shape
    m = m.double().cpu()
    zero = torch.zeros(n, dtype=torch.float64)
    if name in ("ShearX", "ShearY"):
        # AutoAugment's shear (1, m, 0, 0, 1, 0) is torchvision's shear angle atan(m), centre at the corner
        angle = torch.rad2deg(torch.atan(m))
        sx, sy = (angle, zero) if name == "ShearX" else (zero, angle)
        mats = _inverse_affine(zero, sx, sy, zero, zero, -0.5 * w, -0.5 * h)
    elif name in ("TranslateX", "TranslateY"):
        shift = m.trunc()  # torchvision passes int(magnitude) pixels
        tx, ty = (shift, zero) if name == "TranslateX" else (zero, shift)
        mats = _inverse_affine(zero, zero, zero, tx, ty, 0.0, 0.0)
    else:  # Rotate: v2's rotate uses the affine with angle -angle about the centre
        angle = torch.remainder(m, 360.0)
        mats = _inverse_affine(-angle, zero, zero, zero, zero, 0.0, 0.0)
    return _warp(img, mats)


def batched_op(img: torch.Tensor, name: str, magnitudes: torch.Tensor) -> torch.Tensor:
    """Apply op ``name`` to uint8 ``img`` (N, C, H, W), image i at ``magnitudes[i]``."""
    if name == "Identity":
        return img
    if name in GEOMETRIC:
        return _geometric(img, name, magnitudes)
    m = magnitudes.to(img.device)
    if name == "Brightness":
        return img.mul(_factors(m)[0]).clamp_(0, 255).to(torch.uint8)
    if name == "Color":
        return _blend(img, _grayscale(img), m)
    if name == "Contrast":
        mean = _grayscale(img).mean(dim=(-3, -2, -1), keepdim=True)
        return _blend(img, mean, m)
    if name == "Sharpness":
        return _sharpness(img, m)
    if name == "Posterize":
        bits = m.round().long().clamp(0, 8).view(-1, 1, 1, 1)
        mask = (((1 << bits) - 1) << (8 - bits)).to(torch.uint8)
        return img & mask
    if name == "Solarize":
        threshold = (255.0 * m.double()).float().view(-1, 1, 1, 1)
        return torch.where(img >= threshold, 255 - img, img)
    if name == "AutoContrast":
        return TF.autocontrast(img)
    if name == "Equalize":
        return TF.equalize(img)
    if name == "Invert":
        return TF.invert(img)
    raise ValueError(f"unknown augmentation op {name!r}")

