"""Properties of batch mixing (mixup, CutMix, RICAP) and of soft_cross_entropy."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cifarzoo.data import AugConfig, soft_cross_entropy
from cifarzoo.data.mix import BatchMixer, cutmix, cutmix_box, mixup, one_hot, ricap, ricap_patches

C = 10


def _batch(n=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    # every image has its own constant value, so the source of each output pixel is readable
    x = (torch.arange(n, dtype=torch.float32) + 1).view(n, 1, 1, 1).expand(n, 3, 32, 32).clone()
    y = torch.randint(0, C, (n,), generator=g)
    return x, y


def test_mixup_mass_and_lambda():
    x, y = _batch()
    perm = torch.randperm(16, generator=torch.Generator().manual_seed(1))
    xm, ym = mixup(x, one_hot(y, C), 0.3, perm)
    torch.testing.assert_close(ym.sum(1), torch.ones(16))
    torch.testing.assert_close(xm, 0.3 * x + 0.7 * x[perm])
    for i in range(16):
        expected = torch.zeros(C)
        expected[y[i]] += 0.3
        expected[y[perm[i]]] += 0.7
        torch.testing.assert_close(ym[i], expected)


def test_cutmix_label_share_equals_pasted_area():
    x, y = _batch()
    perm = torch.roll(torch.arange(16), 1)  # no image pasted onto itself
    for lam, cy, cx in [(0.5, 16, 16), (0.3, 0, 0), (0.7, 31, 5), (0.05, 10, 30)]:
        box = cutmix_box(lam, 32, 32, cy, cx)
        xm, ym, keep = cutmix(x, one_hot(y, C), box, perm)
        pasted = (xm == x[perm]).all(1).float().mean(dim=(1, 2))  # fraction of pixels from the partner
        torch.testing.assert_close(pasted, torch.full((16,), 1 - keep))
        torch.testing.assert_close(ym.sum(1), torch.ones(16))
        for i in range(16):
            if y[i] != y[perm[i]]:
                assert abs(float(ym[i, y[perm[i]]]) - float(pasted[i])) < 1e-6
    # unclipped box: side int(32 * sqrt(1 - lam))
    y1, y2, x1, x2 = cutmix_box(0.75, 32, 32, 16, 16)
    assert (y2 - y1, x2 - x1) == (16, 16)
    # a box at the corner is clipped, and the label share follows the clipped area
    y1, y2, x1, x2 = cutmix_box(0.75, 32, 32, 0, 0)
    assert (y2 - y1) * (x2 - x1) == 64


def test_ricap_patches_tile_and_weights_follow_areas():
    x, y = _batch(n=8)
    g = torch.Generator().manual_seed(0)
    w, h = 11, 23
    perms = [torch.randperm(8, generator=g) for _ in range(4)]
    sizes = ricap_patches(w, h, 32, 32)
    offsets = [(int(torch.randint(0, 33 - ph, (1,), generator=g)), int(torch.randint(0, 33 - pw, (1,), generator=g)))
               for ph, pw in sizes]
    xm, ym, weights = ricap(x, one_hot(y, C), w, h, perms, offsets)
    assert xm.shape == x.shape
    assert sum(weights) == pytest.approx(1.0)
    assert weights == pytest.approx([ph * pw / 1024 for ph, pw in sizes])
    corners = [(0, 0), (0, w), (h, 0), (h, w)]
    for (ph, pw), perm, (top, left), (r0, c0) in zip(sizes, perms, offsets, corners):
        region = xm[:, :, r0:r0 + ph, c0:c0 + pw]
        assert torch.equal(region, x[perm][:, :, top:top + ph, left:left + pw])
    expected = sum(wk * one_hot(y[p], C) for wk, p in zip(weights, perms))
    torch.testing.assert_close(ym, expected)
    torch.testing.assert_close(ym.sum(1), torch.ones(8))


def test_ricap_through_mixer_label_mass_matches_pixels():
    n = 32
    x = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 3, 32, 32).clone()
    y = torch.arange(n) % C
    mixer = BatchMixer(AugConfig(ricap_beta=0.3), num_classes=C)
    for seed in range(5):
        p = mixer.sample(n, 32, 32, torch.Generator().manual_seed(seed))
        assert p.method == "ricap"
        xm, ym = mixer.apply(x, y, p)
        # pixel shares of each source image, summed by class, equal the soft targets
        src = xm[:, 0].long()  # (N, H, W) source image index of each pixel
        share = F.one_hot(src.flatten(1), n).float().mean(1)  # (N, n) share per source image
        by_class = share @ one_hot(y, C)
        torch.testing.assert_close(ym, by_class)


def test_mixer_probability_and_choice():
    n = 4
    x, y = _batch(n)
    mixer = BatchMixer(AugConfig(mixup_alpha=1.0, cutmix_alpha=1.0, mix_prob=0.5), num_classes=C)
    methods = [mixer.sample(n, 32, 32, torch.Generator().manual_seed(s)).method for s in range(2000)]
    mixed = [m for m in methods if m is not None]
    assert 0.45 < len(mixed) / 2000 < 0.55
    assert 0.45 < mixed.count("mixup") / len(mixed) < 0.55
    assert set(mixed) == {"mixup", "cutmix"}
    # an unmixed batch still gets soft (one-hot) targets, so the target type never changes
    never = BatchMixer(AugConfig(mixup_alpha=1.0, mix_prob=0.0), num_classes=C)
    xm, ym = never(x, y, torch.Generator().manual_seed(0))
    assert torch.equal(xm, x) and torch.equal(ym, one_hot(y, C))


def test_mixup_lambda_is_beta_distributed():
    mixer = BatchMixer(AugConfig(mixup_alpha=0.2), num_classes=C)
    lams = np.array([mixer.sample(2, 32, 32, torch.Generator().manual_seed(s)).lam for s in range(3000)])
    # Beta(0.2, 0.2): mean 0.5, variance 1/(4 * 1.4) ~ 0.179 (mass piles up near 0 and 1)
    assert abs(lams.mean() - 0.5) < 0.03 and abs(lams.var() - 0.25 / 1.4) < 0.02
    assert ((lams > 0) & (lams < 1)).all()


def test_mixer_is_deterministic_and_disabled_passthrough():
    x, y = _batch()
    mixer = BatchMixer(AugConfig(cutmix_alpha=1.0), num_classes=C)
    a = mixer(x, y, torch.Generator().manual_seed(5))
    b = mixer(x, y, torch.Generator().manual_seed(5))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    off = BatchMixer(AugConfig(), num_classes=C)
    assert not off.enabled
    xo, yo = off(x, y, torch.Generator())
    assert xo is x and yo is y


def test_soft_cross_entropy_matches_torch():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(8, C, generator=g, requires_grad=True)
    y = torch.randint(0, C, (8,), generator=g)
    for ls in (0.0, 0.1):
        ref = F.cross_entropy(logits, y, label_smoothing=ls)
        torch.testing.assert_close(soft_cross_entropy(logits, y, ls), ref)
        torch.testing.assert_close(soft_cross_entropy(logits, one_hot(y, C), ls), ref)
    soft = torch.softmax(torch.randn(8, C, generator=g), 1)
    torch.testing.assert_close(soft_cross_entropy(logits, soft, 0.1),
                               F.cross_entropy(logits, soft, label_smoothing=0.1))
    per = soft_cross_entropy(logits, soft, reduction="none")
    assert per.shape == (8,)
    per.sum().backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()
    half = soft_cross_entropy(logits.detach().half(), soft)
    assert half.dtype == torch.float32
    with pytest.raises(ValueError, match="do not match"):
        soft_cross_entropy(logits, soft[:, :5])
    with pytest.raises(ValueError, match="label_smoothing"):
        soft_cross_entropy(logits, y, 1.5)
