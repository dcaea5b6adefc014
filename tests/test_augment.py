"""Properties of the per-image augmentations: batched ops (device path), policies, torch-path Cutout."""
import math

import numpy as np
import pytest
import torch

from cifarzoo.data import AugConfig
from cifarzoo.data.batch_aug import (BatchAugmenter, cutout, hflip, normalize, random_crop, random_erase,
                                     sample_erase_boxes)
from cifarzoo.data.policy import CIFAR10_POLICY, OP_ID, OPS, SIGNED, BatchPolicy, apply_op, magnitude_table
from cifarzoo.data.policy_ops import GEOMETRIC, batched_op
from cifarzoo.data.transforms import Cutout, build_transform

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # 32x32 ops gain nothing from intra-op threads, and on a shared 2-core machine they cost a lot
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _images(n, seed=0, low=1):
    """uint8 (N, 3, 32, 32) with no zero pixel (so zero padding is recognisable)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(low, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8)


def _clipped_side(c, side, size=32):
    top = c - side // 2
    return min(top + side, size) - max(top, 0)


def test_random_crop_is_a_shifted_copy_with_zero_padding():
    x = _images(64)
    g = torch.Generator().manual_seed(1)
    offsets = torch.randint(0, 9, (64, 2), generator=g)
    out = random_crop(x, offsets, 4)
    assert out.dtype == torch.uint8 and out.shape == x.shape
    padded = np.pad(x.numpy(), ((0, 0), (0, 0), (4, 4), (4, 4)))
    for i, (dy, dx) in enumerate(offsets.tolist()):
        np.testing.assert_array_equal(out[i].numpy(), padded[i, :, dy:dy + 32, dx:dx + 32])
        # zeros exactly where the window leaves the image: rows/cols outside [4, 36) of the padded frame
        rows_out = sum(1 for r in range(dy, dy + 32) if not 4 <= r < 36)
        cols_out = sum(1 for c in range(dx, dx + 32) if not 4 <= c < 36)
        zero_px = 32 * 32 - (32 - rows_out) * (32 - cols_out)
        assert int((out[i, 0] == 0).sum()) == zero_px


def test_crop_offsets_are_uniform():
    aug = BatchAugmenter(AugConfig(crop_padding=4, flip=False), MEAN, STD)
    p = aug.sample(9000, torch.Generator().manual_seed(0))
    for axis in range(2):
        counts = torch.bincount(p.crop[:, axis], minlength=9).float() / 9000
        assert counts.shape == (9,) and (counts - 1 / 9).abs().max() < 0.02


def test_flip_rate_and_exact_mirror():
    aug = BatchAugmenter(AugConfig(crop_padding=0, flip=True), MEAN, STD)
    p = aug.sample(4000, torch.Generator().manual_seed(0))
    assert 0.46 < p.flip.float().mean() < 0.54
    x = _images(16)
    mask = p.flip[:16]
    out = hflip(x, mask)
    for i in range(16):
        expected = x[i].flip(2) if mask[i] else x[i]
        assert torch.equal(out[i], expected)


def test_normalize_matches_formula():
    x = _images(4, low=0)
    out = normalize(x, MEAN, STD)
    mean, std = torch.tensor(MEAN).double().view(1, 3, 1, 1), torch.tensor(STD).double().view(1, 3, 1, 1)
    ref = (x.double() / 255 - mean) / std
    assert out.dtype == torch.float32
    torch.testing.assert_close(out.double(), ref, rtol=0, atol=1e-5)


@pytest.mark.parametrize("side", [8, 16, 9])
def test_cutout_zeroes_exactly_the_clipped_square(side):
    aug = BatchAugmenter(AugConfig(crop_padding=0, flip=False, cutout=side), MEAN, STD)
    n = 400
    p = aug.sample(n, torch.Generator().manual_seed(side))
    out = aug(_images(n, low=0), p)
    # no uint8 value normalizes to exactly 0 (mean * 255 is not an integer), so zeros are the cutout
    zeros = (out == 0).sum(dim=(2, 3))
    assert (zeros == zeros[:, :1]).all(), "cutout must hit all channels alike"
    expected = torch.tensor([_clipped_side(cy, side) * _clipped_side(cx, side) for cy, cx in p.cutout[:, 0].tolist()])
    assert torch.equal(zeros[:, 0], expected)
    fits = lambda c: 0 <= c - side // 2 and c - side // 2 + side <= 32  # noqa: E731
    inside = [(cy, cx) for cy, cx in p.cutout[:, 0].tolist() if fits(cy) and fits(cx)]
    assert inside, "some squares should be fully inside"
    for i, (cy, cx) in enumerate(p.cutout[:, 0].tolist()):
        if (cy, cx) in inside:
            assert zeros[i, 0] == side * side
    # centres are uniform over the whole image, so part of the squares fall outside (DeVries & Taylor)
    assert expected.float().mean() < side * side


def test_cutout_holes_union():
    x = torch.ones(1, 3, 32, 32)
    out = cutout(x, torch.tensor([[[5, 5], [20, 20]]]), 4)
    assert int((out[0, 0] == 0).sum()) == 32  # two disjoint 4x4 squares


def test_torch_cutout_transform_matches_clipped_area():
    t = Cutout(16)
    torch.manual_seed(0)
    areas = []
    for _ in range(300):
        out = t(torch.ones(3, 32, 32))
        z = (out == 0).sum(dim=(1, 2))
        assert (z == z[0]).all()
        areas.append(int(z[0]))
    expected_mean = np.mean([_clipped_side(c, 16) for c in range(32)]) ** 2
    assert abs(np.mean(areas) - expected_mean) < 0.06 * expected_mean
    assert max(areas) == 256


def test_random_erase_probability_area_and_aspect():
    n = 4000
    boxes = sample_erase_boxes(n, 0.5, 32, 32, torch.Generator().manual_seed(0))
    erased = boxes[:, 2] > 0
    assert 0.47 < erased.float().mean() < 0.53
    b = boxes[erased]
    h, w = b[:, 2].double(), b[:, 3].double()
    # sides are round(sqrt(area * ratio)) and round(sqrt(area / ratio)): undo the rounding by +-0.5
    assert ((h - 0.5) * (w - 0.5) <= 0.4 * 1024).all() and ((h + 0.5) * (w + 0.5) >= 0.02 * 1024).all()
    assert ((h - 0.5) / (w + 0.5) <= 3.3).all() and ((h + 0.5) / (w - 0.5) >= 0.3).all()
    assert (h * w).max() > 0.3 * 1024 and (h * w).min() < 0.05 * 1024  # the whole range is used
    assert ((b[:, 0] + b[:, 2]) <= 32).all() and ((b[:, 1] + b[:, 3]) <= 32).all()
    assert (b[:, 0] >= 0).all() and (b[:, 1] >= 0).all()


def test_random_erase_replaces_only_the_box():
    x = torch.zeros(3, 3, 32, 32)
    noise = torch.randn(3, 3, 32, 32)
    boxes = torch.tensor([[2, 3, 5, 7], [0, 0, 0, 0], [30, 30, 2, 2]])
    out = random_erase(x, boxes, noise)
    assert torch.equal(out[0, :, 2:7, 3:10], noise[0, :, 2:7, 3:10])
    assert int((out[0] != 0).sum()) == 3 * 35
    assert torch.equal(out[1], x[1])
    assert int((out[2] != 0).sum()) == 3 * 4


def test_random_erase_fills_noise_through_augmenter():
    aug = BatchAugmenter(AugConfig(crop_padding=0, flip=False, random_erase=1.0), MEAN, STD)
    x = _images(200, low=0)
    p = aug.sample(200, torch.Generator().manual_seed(3))
    out = aug(x, p)
    plain = normalize(x, MEAN, STD)
    changed = (out != plain).any(dim=1)  # (N, H, W)
    areas = p.erase[:, 2] * p.erase[:, 3]
    assert torch.equal(changed.sum(dim=(1, 2)), areas)  # noise never equals the pixel exactly
    vals = out[(out != plain)]
    assert abs(float(vals.mean())) < 0.05 and abs(float(vals.std()) - 1) < 0.05  # standard normal


def test_policy_tables_match_torchvision():
    from torchvision.transforms import v2

    try:
        tv_policy = v2.AutoAugment(v2.AutoAugmentPolicy.CIFAR10)._policies
        spaces = {"autoaugment": (v2.AutoAugment._AUGMENTATION_SPACE, 10),
                  "randaugment": (v2.RandAugment._AUGMENTATION_SPACE, 31),
                  "trivialaugment": (v2.TrivialAugmentWide._AUGMENTATION_SPACE, 31)}
    except AttributeError:
        pytest.skip("torchvision's private policy tables moved")
    assert [tuple(map(tuple, sub)) for sub in tv_policy] == [tuple(map(tuple, sub)) for sub in CIFAR10_POLICY]
    for policy, (space, bins) in spaces.items():
        ours = magnitude_table(policy, bins, 32)
        for name, (fn, _signed) in space.items():
            ref = fn(bins, 32, 32)
            if ref is None:
                assert name not in ours
            else:
                torch.testing.assert_close(ours[name].float(), ref.float(), msg=f"{policy} {name}")


def test_policy_sampling_frequencies():
    g = torch.Generator().manual_seed(0)
    ra = BatchPolicy("randaugment").sample(14000, g)
    counts = torch.bincount(torch.where(ra.ops[:, 0] < 0, OP_ID["Identity"], ra.ops[:, 0]), minlength=len(OPS))
    assert counts[OP_ID["Invert"]] == 0
    freq = counts[[i for i, n in enumerate(OPS) if n != "Invert"]].float() / 14000
    assert (freq - 1 / 14).abs().max() < 0.015
    # RandAugment M=9 of 31 bins: rotate magnitude is 30 * 9 / 30 = 9 degrees, either sign
    rot = ra.magnitudes[:, 0][ra.ops[:, 0] == OP_ID["Rotate"]]
    torch.testing.assert_close(rot.abs(), torch.full_like(rot, 9.0))
    assert 0.4 < (rot < 0).float().mean() < 0.6
    aa = BatchPolicy("autoaugment").sample(20000, g)
    mean_prob = np.mean([[p for _, p, _ in sub] for sub in CIFAR10_POLICY], axis=0)
    active = (aa.ops >= 0).float().mean(0).numpy()
    np.testing.assert_allclose(active, mean_prob, atol=0.015)
    ta = BatchPolicy("trivialaugment").sample(20000, g)
    rot = ta.magnitudes[:, 0][ta.ops[:, 0] == OP_ID["Rotate"]].abs()
    assert rot.max() <= 135 and 55 < float(rot.mean()) < 80  # uniform over 31 bins of 0..135: mean 67.5


def _per_image(x, draw):
    """Reference: torchvision's op on each image in turn."""
    out = []
    for i in range(len(x)):
        img = x[i]
        for step in range(draw.ops.shape[1]):
            op = int(draw.ops[i, step])
            if op >= 0:
                img = apply_op(img, OPS[op], float(draw.magnitudes[i, step]))
        out.append(img)
    return torch.stack(out)


def _smooth_images(n, seed=0):
    """Gradients plus noise: blends and warps of natural-looking images hit many pixel values."""
    g = torch.Generator().manual_seed(seed)
    ramp = torch.linspace(0, 1, 32)
    base = (ramp[None, :] * ramp[:, None] * 255)[None, None] * torch.rand(n, 3, 1, 1, generator=g)
    return (base + 20 * torch.randn(n, 3, 32, 32, generator=g)).clamp(0, 255).to(torch.uint8)


BIT_EXACT = {"Identity", "Brightness", "Posterize", "Solarize", "AutoContrast", "Equalize", "Invert"}


@pytest.mark.parametrize("name", OPS)
def test_batched_op_matches_torchvision_per_image(name):
    g = torch.Generator().manual_seed(OP_ID[name])
    x = torch.cat([_images(100, seed=1, low=0), _smooth_images(100, seed=2)])
    n = len(x)
    for policy, bins in (("autoaugment", 10), ("trivialaugment", 31)):
        values = magnitude_table(policy, bins).get(name, torch.zeros(1))
        mags = values[torch.randint(len(values), (n,), generator=g)].float()
        if name in SIGNED:
            mags = torch.where(torch.rand(n, generator=g) < 0.5, -mags, mags)
        out = batched_op(x, name, mags)
        ref = torch.stack([apply_op(x[i], name, float(mags[i])) for i in range(n)])
        assert out.dtype == torch.uint8 and out.shape == x.shape
        diff = (out.int() - ref.int()).abs()
        if name in BIT_EXACT:
            assert torch.equal(out, ref), f"{name} ({policy}) must be bit-exact"
        else:
            # same arithmetic; only last-bit rounding of a fused multiply-add or a sample point
            # within rounding error of a pixel boundary may differ
            assert (diff > 0).float().mean() < 1e-3, f"{name} ({policy}): {(diff > 0).float().mean():.2e}"
            if name not in GEOMETRIC:
                assert diff.max() <= 1


@pytest.mark.parametrize("policy", ["autoaugment", "randaugment", "trivialaugment"])
def test_batched_policy_equals_per_image_ops(policy):
    bp = BatchPolicy(policy)
    x = torch.cat([_images(40, seed=5, low=0), _smooth_images(40, seed=6)])
    draw = bp.sample(len(x), torch.Generator().manual_seed(7))
    ref = _per_image(x, draw)
    exact = bp.apply(x, draw, exact=True)
    assert exact.dtype == torch.uint8 and torch.equal(exact, ref)
    fast = bp.apply(x, draw)
    assert fast.dtype == torch.uint8 and ((fast != ref).float().mean() < 1e-3)
    changed = (fast != x).flatten(1).any(1).float().mean()
    assert changed > 0.4, "the policy should change most images"


def test_autoaugment_through_augmenter_keeps_range():
    aug = BatchAugmenter(AugConfig(auto_augment="cifar10", crop_padding=0, flip=False), MEAN, STD)
    x = _images(64, low=0)
    out = aug(x, aug.sample(64, torch.Generator().manual_seed(0)))
    lo = (0 - torch.tensor(MEAN)) / torch.tensor(STD)
    hi = (1 - torch.tensor(MEAN)) / torch.tensor(STD)
    assert out.dtype == torch.float32
    assert (out >= lo.view(1, 3, 1, 1) - 1e-5).all() and (out <= hi.view(1, 3, 1, 1) + 1e-5).all()
    assert not torch.equal(out, normalize(x, MEAN, STD))


def test_params_slice_rows():
    aug = BatchAugmenter(AugConfig(cutout=8, random_erase=0.5, rand_augment=True), MEAN, STD)
    p = aug.sample(10, torch.Generator().manual_seed(0))
    s = p.slice(4, 7)
    assert torch.equal(s.crop, p.crop[4:7]) and torch.equal(s.flip, p.flip[4:7])
    assert torch.equal(s.cutout, p.cutout[4:7]) and torch.equal(s.erase, p.erase[4:7])
    assert torch.equal(s.policy.ops, p.policy.ops[4:7])
    assert s.noise_rows == (4, 10) and s.erase_seed == p.erase_seed


def test_build_transform_order_and_output():
    t = build_transform(AugConfig(cutout=16, random_erase=0.25, auto_augment="cifar10"), MEAN, STD)
    names = [type(s).__name__ for s in t.transforms]
    assert names == ["RandomCrop", "RandomHorizontalFlip", "AutoAugment", "ToTensor", "Normalize", "Cutout",
                     "RandomErasing"]
    from PIL import Image
    out = t(Image.fromarray(_images(1)[0].permute(1, 2, 0).numpy()))
    assert out.shape == (3, 32, 32) and out.dtype == torch.float32
    assert [type(s).__name__ for s in build_transform(None, MEAN, STD).transforms] == ["ToTensor", "Normalize"]


@pytest.mark.parametrize("kwargs", [dict(crop_padding=-1), dict(cutout=40), dict(cutout_holes=0),
                                    dict(random_erase=1.5), dict(auto_augment="imagenet"),
                                    dict(rand_augment=True, trivial_augment=True), dict(mixup_alpha=-1.0),
                                    dict(ricap_beta=0.3, cutmix_alpha=1.0), dict(mix_prob=2.0)])
def test_augconfig_rejects_bad_values(kwargs):
    with pytest.raises(ValueError, match="AugConfig"):
        AugConfig(**kwargs)


def test_erase_area_formula_consistent_with_torchvision():
    # our sampling copies torchvision's RandomErasing: sides from round(sqrt(area * ratio))
    boxes = sample_erase_boxes(2000, 1.0, 32, 32, torch.Generator().manual_seed(9))
    h, w = boxes[:, 2].float(), boxes[:, 3].float()
    assert (h > 0).all()  # with p=1 almost every image finds a fitting box in 10 attempts
    assert abs(float((h * w).mean()) / 1024 - 0.21) < 0.03  # E[U(0.02, 0.4)] = 0.21
    assert math.isclose(float(torch.log(h / w).mean()), 0.0, abs_tol=0.08)  # log-uniform aspect, symmetric
