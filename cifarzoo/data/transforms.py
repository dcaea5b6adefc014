"""Per-image torchvision transforms for the ``kind="torch"`` (DataLoader) path.

``build_transform(aug, mean, std)`` composes, in the order of ``AugConfig``'s docstring:
``RandomCrop(32, padding)``, ``RandomHorizontalFlip``, ``AutoAugment(CIFAR10)`` /
``RandAugment(2, 9)`` / ``TrivialAugmentWide``, ``ToTensor``, ``Normalize``, ``Cutout`` (below) and
``RandomErasing(value="random")``.  All randomness comes from torch's global generator, which the
data set seeds per image, so a run is reproducible whatever the number of workers.

``Cutout`` follows DeVries & Taylor (2017): the centre is uniform over the whole image (so part
of the square may fall outside and is clipped), and the square is set to 0 on the normalized
tensor, i.e. to the data-set mean colour.
"""
from __future__ import annotations

import torch
import torchvision.transforms as T

from cifarzoo.data.batch_aug import ERASE_RATIO, ERASE_SCALE
from cifarzoo.data.config import AugConfig


class Cutout(torch.nn.Module):
    """Zero ``holes`` squares of side ``size`` with uniform centres on a (C, H, W) tensor."""

    def __init__(self, size: int, holes: int = 1):
        super().__init__()
        if size < 0 or holes < 1:
            raise ValueError(f"Cutout(size={size}, holes={holes}): size must be >= 0 and holes >= 1")
        self.size, self.holes = size, holes

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return img
        h, w = img.shape[-2:]
        img = img.clone()
        for _ in range(self.holes):
            cy = int(torch.randint(0, h, (1,)))
            cx = int(torch.randint(0, w, (1,)))
            top, left = max(cy - self.size // 2, 0), max(cx - self.size // 2, 0)
            bottom, right = min(cy - self.size // 2 + self.size, h), min(cx - self.size // 2 + self.size, w)
            img[..., top:bottom, left:right] = 0.0
        return img

    def extra_repr(self) -> str:
        return f"size={self.size}, holes={self.holes}"


def build_transform(aug: AugConfig | None, mean, std, image_size: int = 32, resize: bool = False) -> T.Compose:
    """PIL image -> normalized float tensor (C, H, W) with the augmentation of ``aug`` (None: none).

    ``resize`` first brings images of any size to ``image_size`` (ImageFolder data): shorter side
    to ``image_size`` then a centre crop.
    """
    steps = []
    if resize:
        steps += [T.Resize(image_size), T.CenterCrop(image_size)]
    if aug is not None:
        if aug.crop_padding > 0:
            steps.append(T.RandomCrop(image_size, padding=aug.crop_padding))
        if aug.flip:
            steps.append(T.RandomHorizontalFlip())
        if aug.policy == "autoaugment":
            steps.append(T.AutoAugment(T.AutoAugmentPolicy.CIFAR10))
        elif aug.policy == "randaugment":
            steps.append(T.RandAugment(num_ops=2, magnitude=9))
        elif aug.policy == "trivialaugment":
            steps.append(T.TrivialAugmentWide())
    steps += [T.ToTensor(), T.Normalize(mean, std)]
    if aug is not None:
        if aug.cutout > 0:
            steps.append(Cutout(aug.cutout, aug.cutout_holes))
        if aug.random_erase > 0:
            steps.append(T.RandomErasing(p=aug.random_erase, scale=ERASE_SCALE, ratio=ERASE_RATIO, value="random"))
    return T.Compose(steps)
