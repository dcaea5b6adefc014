"""``AugConfig``: the training-time augmentation of one run, shared by both loader kinds.

Order of application (the same on both paths, and the order the CIFAR papers use):
random crop (zero padding) -> horizontal flip -> one policy (AutoAugment / RandAugment /
TrivialAugment, on uint8 pixels) -> to float and normalize -> Cutout -> Random Erasing ->
batch mixing (mixup / CutMix / RICAP, on the normalized batch, soft targets).

Cutout and Random Erasing act on the normalized image, so Cutout's zeros are the data-set mean
colour (as in DeVries & Taylor's code) and erased pixels are standard-normal noise (Zhong et al.).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

POLICIES = ("cifar10",)  # AutoAugment policies available (Cubuk et al. 2019, the CIFAR-10 one)


@dataclass
class AugConfig:
    """Augmentation knobs; the defaults are the standard CIFAR recipe (pad-4 crop + flip)."""

    crop_padding: int = 4        # random 32x32 crop of the zero-padded image (0 = off)
    flip: bool = True            # horizontal flip with probability 0.5
    cutout: int = 0              # Cutout square side in px (0 = off), DeVries & Taylor 2017; centre
    #                              uniform over the image, square clipped at the border
    cutout_holes: int = 1        # squares per image (they may overlap)
    random_erase: float = 0.0    # probability, Zhong et al. 2017 (area 0.02-0.4, aspect 0.3-3.3, random values)
    auto_augment: str | None = None   # "cifar10" policy (Cubuk et al. 2019)
    rand_augment: bool = False   # RandAugment N=2, M=9 (Cubuk et al. 2020)
    trivial_augment: bool = False  # TrivialAugment Wide (Mueller & Hutter 2021)
    mixup_alpha: float = 0.0     # mixup Beta(alpha, alpha) (Zhang et al. 2018), 0 = off
    cutmix_alpha: float = 0.0    # CutMix Beta(alpha, alpha) (Yun et al. 2019), 0 = off
    ricap_beta: float = 0.0      # RICAP (Takahashi et al. 2018), beta 0.3 in the paper, 0 = off
    mix_prob: float = 1.0        # probability a batch is mixed; mixup+cutmix both on: one of them per batch 50/50

    def __post_init__(self):
        def bad(name, why):
            raise ValueError(f"AugConfig.{name}={getattr(self, name)!r}: {why}")

        if not isinstance(self.crop_padding, int) or self.crop_padding < 0:
            bad("crop_padding", "must be an int >= 0 (pixels of zero padding, 0 = no crop)")
        if not isinstance(self.cutout, int) or not 0 <= self.cutout <= 32:
            bad("cutout", "must be an int side length in 0..32 (0 = off)")
        if not isinstance(self.cutout_holes, int) or self.cutout_holes < 1:
            bad("cutout_holes", "must be an int >= 1")
        if not 0.0 <= self.random_erase <= 1.0:
            bad("random_erase", "is a probability in [0, 1]")
        if self.auto_augment is not None and self.auto_augment not in POLICIES:
            bad("auto_augment", f"must be None or one of {POLICIES}")
        if sum([self.auto_augment is not None, bool(self.rand_augment), bool(self.trivial_augment)]) > 1:
            raise ValueError("AugConfig: choose at most one of auto_augment, rand_augment, trivial_augment")
        for name in ("mixup_alpha", "cutmix_alpha", "ricap_beta"):
            if getattr(self, name) < 0:
                bad(name, "must be >= 0 (0 = off)")
        if self.ricap_beta > 0 and (self.mixup_alpha > 0 or self.cutmix_alpha > 0):
            raise ValueError("AugConfig: ricap_beta cannot be combined with mixup_alpha/cutmix_alpha")
        if not 0.0 <= self.mix_prob <= 1.0:
            bad("mix_prob", "is a probability in [0, 1]")

    @property
    def policy(self) -> str | None:
        """The policy augmentation in use: "autoaugment", "randaugment", "trivialaugment" or None."""
        if self.auto_augment is not None:
            return "autoaugment"
        if self.rand_augment:
            return "randaugment"
        if self.trivial_augment:
            return "trivialaugment"
        return None

    @property
    def mixes(self) -> bool:
        """True when a batch-mixing method is on (targets are then soft, shape (N, num_classes))."""
        return self.mixup_alpha > 0 or self.cutmix_alpha > 0 or self.ricap_beta > 0

    def to_dict(self) -> dict:
        return asdict(self)
