"""``cifarzoo.verify``: prove that a published weight is the one the manifest describes.

Three checks, in order: the file's sha256 (through the normal loading path, so the Hub cache or
the mirror the user would load from is what gets checked), a full test-set evaluation, and the
comparison of the measured top-1 with the manifest's within a stated tolerance.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import torch

from cifarzoo.evaluate import evaluate
from cifarzoo.pretrained import locate_weight, resolve_weight
from cifarzoo.registry import create_model, split_name

DEFAULT_TOLERANCE = 0.1  # percentage points of top-1


@dataclass(frozen=True)
class VerifyResult:
    name: str
    path: str
    sha256: str
    expected_top1: float
    top1: float
    top5: float
    num_images: int
    expected_num_images: int
    tolerance: float
    passed: bool
    reason: str  # why it failed, or "" when it passed

    def summary(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        line = (f"{verdict} {self.name}: sha256 ok ({self.sha256[:12]}...), top-1 {self.top1:.2f}% on "
                f"{self.num_images:,} images vs manifest {self.expected_top1:.2f}% "
                f"(difference {self.top1 - self.expected_top1:+.2f}, tolerance +/-{self.tolerance:g})")
        return line + (f": {self.reason}" if self.reason else "")

    def as_dict(self) -> dict:
        return asdict(self)


def verify(name: str, data_dir: str | os.PathLike, tolerance: float = DEFAULT_TOLERANCE,
           weights_dir: str | os.PathLike | None = None, device: str | torch.device | None = None,
           batch_size: int = 256, progress: bool = True) -> VerifyResult:
    """Check ``name`` (``arch.tag``, or ``arch`` for its default weight) end to end.

    Raises the loader's error (``ChecksumError`` etc.) when the file fails its checksum; returns
    a :class:`VerifyResult` whose ``passed`` says whether the accuracy reproduced.  The
    evaluation runs in float32 (no AMP) so it measures the weight, not the arithmetic.
    """
    if not isinstance(tolerance, (int, float)) or isinstance(tolerance, bool) or tolerance < 0:
        raise ValueError(f"tolerance must be a number of percentage points >= 0, got {tolerance!r}")
    arch, tag = split_name(name)
    entry = resolve_weight(arch, tag)
    path = locate_weight(entry, weights_dir)  # checks size and sha256
    model = create_model(entry.name, pretrained=True, weights_dir=weights_dir).eval()
    res = evaluate(model, entry.dataset, device=device, amp=False, data_dir=data_dir, batch_size=batch_size,
                   progress=progress)
    expected_n = entry.metrics["num_images"]
    diff = res["top1"] - entry.metrics["top1"]
    reason = ""
    if res["num_images"] != expected_n:
        reason = (f"the test set under {data_dir} has {res['num_images']:,} images but the manifest's accuracy "
                  f"was measured on {expected_n:,}; point --data-dir at the full {entry.dataset} test set")
    elif abs(diff) > tolerance + 1e-9:
        reason = (f"top-1 differs by {diff:+.2f} points (more than {tolerance:g}); the weight does not reproduce "
                  "its published accuracy: report it with this output")
    return VerifyResult(name=entry.name, path=str(path), sha256=entry.sha256, expected_top1=entry.metrics["top1"],
                        top1=res["top1"], top5=res["top5"], num_images=res["num_images"],
                        expected_num_images=expected_n, tolerance=float(tolerance), passed=not reason,
                        reason=reason)
