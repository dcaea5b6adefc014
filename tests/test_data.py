"""Reading CIFAR from disk, holdout splits, and both loader kinds (plan, determinism, DDP, resume)."""
import pickle
import shutil

import numpy as np
import pytest
import torch

import fakes
from cifarzoo.data import DATASETS, AugConfig, build_loader, holdout_split, load_cifar
from cifarzoo.data.device_loader import DeviceLoader
from cifarzoo.data.torch_loader import ArrayImages, TorchLoader

C10 = DATASETS["cifar10"]
FULL_AUG = AugConfig(cutout=8, random_erase=0.5, auto_augment="cifar10")
# the torch path runs AutoAugment per image with PIL (~2 ms each on this machine): lighter in its tests
LIGHT_AUG = AugConfig(cutout=8, random_erase=0.5)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # 32x32 ops gain nothing from intra-op threads, and on a shared 2-core machine they cost a lot
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _epoch(loader, epoch=0):
    loader.set_epoch(epoch)
    return [(x.clone(), y.clone()) for x, y in loader]


def _same(a, b, atol=0.0):
    assert len(a) == len(b)
    for (xa, ya), (xb, yb) in zip(a, b):
        assert torch.equal(ya, yb) if atol == 0 else torch.allclose(ya, yb, atol=atol)
        assert torch.allclose(xa, xb, atol=atol, rtol=0) if atol else torch.equal(xa, xb)


# ---------------------------------------------------------------- reading the pickles

def test_load_cifar_reads_pixels_and_labels_exactly(fake_cifar_dir):
    x, y = load_cifar("cifar10", "train", fake_cifar_dir)
    ref_x, ref_y = fakes.make_images(500, 10, seed=0)
    assert x.dtype == np.uint8 and x.shape == (500, 32, 32, 3) and y.dtype == np.int64
    np.testing.assert_array_equal(x, ref_x)  # channel-plane order decoded correctly
    np.testing.assert_array_equal(y, ref_y)
    x, y = load_cifar("cifar10", "test", fake_cifar_dir)
    assert x.shape == (200, 32, 32, 3)
    x, y = load_cifar("cifar100", "train", fake_cifar_dir)
    ref_x, ref_y = fakes.make_images(1000, 100, seed=2)
    np.testing.assert_array_equal(x, ref_x)
    np.testing.assert_array_equal(y, ref_y)  # fine labels, not coarse
    assert y.max() > 20


def test_missing_folder_error_says_what_and_how(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        load_cifar("cifar10", "train", tmp_path)
    msg = str(e.value)
    assert "data_batch_1" in msg and str(tmp_path) in msg and "download" in msg and "cifar.py export" in msg
    with pytest.raises(FileNotFoundError, match="cifar-100-python"):
        load_cifar("cifar100", "test", tmp_path)


def test_corrupt_and_malformed_pickles(fake_cifar_dir, tmp_path):
    shutil.copytree(fake_cifar_dir / "cifar-10-batches-py", tmp_path / "cifar-10-batches-py")
    bad = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    bad.write_bytes(b"not a pickle at all")
    with pytest.raises(ValueError, match="data_batch_3"):
        load_cifar("cifar10", "train", tmp_path)
    with open(bad, "wb") as f:
        pickle.dump({"data": np.zeros((4, 100), np.uint8), "labels": [0, 1, 2, 3]}, f)
    with pytest.raises(ValueError, match=r"\(N, 3072\)"):
        load_cifar("cifar10", "train", tmp_path)
    with open(bad, "wb") as f:
        pickle.dump({"data": np.zeros((2, 3072), np.uint8), "fine_labels": [0, 1]}, f)
    with pytest.raises(ValueError, match="labels"):
        load_cifar("cifar10", "train", tmp_path)


def test_bad_arguments(fake_cifar_dir):
    with pytest.raises(ValueError, match="cifar10"):
        load_cifar("mnist", "train", fake_cifar_dir)
    with pytest.raises(ValueError, match="split"):
        load_cifar("cifar10", "val", fake_cifar_dir)
    with pytest.raises(ValueError, match="kind"):
        build_loader("cifar10", "train", fake_cifar_dir, 8, kind="dali")
    with pytest.raises(ValueError, match="holdout"):
        build_loader("cifar10", "val", fake_cifar_dir, 8)
    with pytest.raises(ValueError, match="batch_size"):
        build_loader("cifar10", "train", fake_cifar_dir, 400, world_size=2)
    loader = build_loader("cifar10", "train", fake_cifar_dir, 64)
    with pytest.raises(ValueError, match="skip"):
        loader.skip(len(loader) + 1)


def test_dataset_specs():
    assert DATASETS["cifar10"].num_classes == 10 and DATASETS["cifar100"].num_classes == 100
    assert DATASETS["cifar100"].folder == "cifar-100-python"
    assert DATASETS["cifar100"].mean == (0.5071, 0.4865, 0.4409)


# ---------------------------------------------------------------- holdout

def test_holdout_is_stratified_disjoint_and_fixed():
    labels = np.repeat(np.arange(10), 100)
    np.random.default_rng(0).shuffle(labels)
    train, val = holdout_split(labels, 250)
    assert len(val) == 250 and len(train) == 750
    assert not set(train) & set(val) and set(train) | set(val) == set(range(1000))
    counts = np.bincount(labels[val], minlength=10)
    assert counts.min() >= 25 and counts.max() <= 25  # 250 / 10 classes
    again = holdout_split(labels, 250)
    np.testing.assert_array_equal(val, again[1])
    with pytest.raises(ValueError, match="holdout"):
        holdout_split(labels, 1000)


def test_holdout_loaders(fake_cifar_dir):
    tr = build_loader("cifar10", "train", fake_cifar_dir, 50, holdout=100, aug=None, shuffle=False, drop_last=False)
    va = build_loader("cifar10", "val", fake_cifar_dir, 50, holdout=100)
    assert tr.dataset_size == 400 and va.dataset_size == 100
    x_all, _ = load_cifar("cifar10", "train", fake_cifar_dir)
    train_x = torch.cat([x for x, _ in tr])
    val_x = torch.cat([x for x, _ in va])
    assert train_x.shape[0] == 400 and val_x.shape[0] == 100
    # no image of val appears in train (fake images are all distinct)
    flat_t = {bytes(r) for r in train_x.flatten(1).numpy().round(4)}
    assert not any(bytes(r) in flat_t for r in val_x.flatten(1).numpy().round(4))


# ---------------------------------------------------------------- loader output

@pytest.mark.parametrize("kind", ["device", "torch"])
def test_eval_loader_is_ordered_normalized_and_complete(fake_cifar_dir, kind):
    loader = build_loader("cifar10", "test", fake_cifar_dir, 64, kind=kind, num_workers=0)
    assert len(loader) == 4 and loader.num_classes == 10 and loader.dataset_size == 200
    batches = list(loader)
    assert [x.shape[0] for x, _ in batches] == [64, 64, 64, 8]
    x = torch.cat([b[0] for b in batches])
    y = torch.cat([b[1] for b in batches])
    images, labels = load_cifar("cifar10", "test", fake_cifar_dir)
    ref = (torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255 - torch.tensor(C10.mean).view(1, 3, 1, 1)) \
        / torch.tensor(C10.std).view(1, 3, 1, 1)
    assert x.dtype == torch.float32 and y.dtype == torch.int64
    torch.testing.assert_close(x, ref, rtol=0, atol=1e-5)
    assert torch.equal(y, torch.from_numpy(labels))


@pytest.mark.parametrize("kind", ["device", "torch"])
def test_train_loader_shapes_soft_targets_and_channels_last(fake_cifar_dir, kind):
    aug = AugConfig(cutout=8, cutmix_alpha=1.0)
    loader = build_loader("cifar100", "train", fake_cifar_dir, 100, aug=aug, kind=kind, num_workers=0,
                          channels_last=True)
    assert len(loader) == 10
    x, y = next(iter(loader))
    assert x.shape == (100, 3, 32, 32) and x.is_contiguous(memory_format=torch.channels_last)
    assert y.shape == (100, 100) and y.dtype == torch.float32
    torch.testing.assert_close(y.sum(1), torch.ones(100))


def test_device_and_torch_paths_give_identical_unaugmented_batches(fake_cifar_dir):
    # same plan: same images in the same order; without random ops the pixels agree too
    kw = dict(batch_size=64, aug=AugConfig(crop_padding=0, flip=False, mixup_alpha=0.4), seed=3)
    dev = build_loader("cifar10", "train", fake_cifar_dir, kind="device", **kw)
    tor = build_loader("cifar10", "train", fake_cifar_dir, kind="torch", num_workers=0, **kw)
    _same(_epoch(dev, 2), _epoch(tor, 2), atol=1e-5)


def test_device_and_torch_paths_agree_statistically(fake_cifar_dir):
    aug = AugConfig(crop_padding=4, flip=True, cutout=16)
    stats = {}
    for kind in ("device", "torch"):
        loader = build_loader("cifar100", "train", fake_cifar_dir, 1000, aug=aug, kind=kind, num_workers=0)
        x, _ = next(iter(loader))
        stats[kind] = (x.mean(dim=(0, 2, 3)), x.std(dim=(0, 2, 3)), (x == 0).float().mean())
    for a, b in zip(stats["device"], stats["torch"]):
        torch.testing.assert_close(a, b, rtol=0, atol=0.02)
    assert 0.12 < float(stats["device"][2]) < 0.25  # cutout 16: E[clipped area] / 1024 ~ 0.19


def _coordinate_images(n):
    """Images whose red value encodes the row and green the column of each pixel (never 0)."""
    rows = 1 + 7 * np.arange(32)
    img = np.zeros((32, 32, 3), np.uint8)
    img[..., 0] = rows[:, None]
    img[..., 1] = rows[None, :]
    img[..., 2] = 128
    return np.repeat(img[None], n, axis=0), np.zeros(n, np.int64)


def test_crop_offset_distribution_agrees_between_paths():
    images, labels = _coordinate_images(1800)
    aug = AugConfig(crop_padding=4, flip=False)
    common = dict(num_classes=10, mean=(0, 0, 0), std=(1, 1, 1), batch_size=1800, aug=aug, seed=11)
    hist = {}
    for name, loader in (("device", DeviceLoader(images, labels, **common)),
                         ("torch", TorchLoader(ArrayImages(images, labels), num_workers=0, **common))):
        x, _ = next(iter(loader))
        px = (x * 255).round().long()
        # the centre pixel (16, 16) shows source pixel (16 + dy - 4, 16 + dx - 4)
        dy = (px[:, 0, 16, 16] - 1) // 7 - 12
        dx = (px[:, 1, 16, 16] - 1) // 7 - 12
        assert dy.min() >= 0 and dy.max() <= 8 and dx.min() >= 0 and dx.max() <= 8
        # and every pixel of the crop is the source shifted by the same offset, zeros in the padding
        r = torch.arange(32)
        src_r = r[None, :] + dy[:, None] - 4
        inside = (src_r >= 0) & (src_r < 32)
        expect = torch.where(inside, 1 + 7 * src_r, 0)
        assert torch.equal(px[:, 0, :, 20], expect)
        hist[name] = torch.bincount(dy * 9 + dx, minlength=81).float() / 1800
    assert (hist["device"] - 1 / 81).abs().max() < 0.012
    assert (hist["torch"] - 1 / 81).abs().max() < 0.012
    assert (hist["device"] - hist["torch"]).abs().sum() < 0.25  # total variation ~0.1 expected from noise


# ---------------------------------------------------------------- determinism, resume, DDP

@pytest.mark.parametrize("kind", ["device", "torch"])
def test_set_epoch_determinism(fake_cifar_dir, kind):
    kw = dict(batch_size=100, aug=FULL_AUG if kind == "device" else LIGHT_AUG, kind=kind, num_workers=0, seed=5)
    a = build_loader("cifar10", "train", fake_cifar_dir, **kw)
    b = build_loader("cifar10", "train", fake_cifar_dir, **kw)
    e1 = _epoch(a, 1)
    _epoch(b, 0)  # history must not matter
    _same(e1, _epoch(b, 1))
    e2 = _epoch(a, 2)
    assert not torch.equal(e1[0][0], e2[0][0]) and not torch.equal(e1[0][1], e2[0][1])
    other_seed = build_loader("cifar10", "train", fake_cifar_dir, **{**kw, "seed": 6})
    assert not torch.equal(_epoch(other_seed, 1)[0][1], e1[0][1])


def test_torch_path_independent_of_worker_count(fake_cifar_dir):
    kw = dict(batch_size=100, aug=LIGHT_AUG, kind="torch", seed=1)
    inline = build_loader("cifar10", "train", fake_cifar_dir, num_workers=0, **kw)
    workers = build_loader("cifar10", "train", fake_cifar_dir, num_workers=2, **kw)
    _same(_epoch(inline, 4), _epoch(workers, 4))
    _same(_epoch(inline, 5), _epoch(workers, 5))  # persistent workers carry no state between epochs


def test_torch_path_leaves_global_rng_alone(fake_cifar_dir):
    loader = build_loader("cifar10", "train", fake_cifar_dir, 100, aug=LIGHT_AUG, kind="torch", num_workers=0)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    list(loader)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("kind", ["device", "torch"])
def test_skip_resumes_mid_epoch(fake_cifar_dir, kind):
    loader = build_loader("cifar10", "train", fake_cifar_dir, 64, aug=AugConfig(cutout=8, mixup_alpha=1.0),
                          kind=kind, num_workers=0, seed=2)
    full = _epoch(loader, 3)
    assert len(full) == 7
    loader.set_epoch(3)
    loader.skip(4)
    _same(full[4:], [(x.clone(), y.clone()) for x, y in loader])
    _same(full, _epoch(loader, 3))  # skip applies to one iteration only


@pytest.mark.parametrize("kind", ["device", "torch"])
def test_ddp_rank_slices_concatenate_to_single_process_batch(fake_cifar_dir, kind):
    kw = dict(aug=FULL_AUG if kind == "device" else LIGHT_AUG, kind=kind, num_workers=0, seed=9)
    single = _epoch(build_loader("cifar10", "train", fake_cifar_dir, 100, **kw), 1)
    ranks = [_epoch(build_loader("cifar10", "train", fake_cifar_dir, 50, rank=r, world_size=2, **kw), 1)
             for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == len(single) == 5
    for i, (x, y) in enumerate(single):
        assert torch.equal(torch.cat([ranks[0][i][0], ranks[1][i][0]]), x), f"batch {i}"
        assert torch.equal(torch.cat([ranks[0][i][1], ranks[1][i][1]]), y)


@pytest.mark.parametrize("kind", ["device", "torch"])
def test_ddp_eval_pads_evenly_and_covers_everything(fake_cifar_dir, kind):
    # 200 test images, 3 ranks x 32: 2 full global batches (192) + 8 left, padded to 9 = 3 per rank
    loaders = [build_loader("cifar10", "test", fake_cifar_dir, 32, rank=r, world_size=3, kind=kind, num_workers=0)
               for r in range(3)]
    assert {len(loader) for loader in loaders} == {3} and loaders[0].num_padded == 1
    sizes = [[x.shape[0] for x, _ in loader] for loader in loaders]
    assert sizes == [[32, 32, 3]] * 3
    xs = torch.cat([x for loader in loaders for x, _ in loader])
    assert len({bytes(r) for r in xs.flatten(1).numpy().round(4)}) == 200


# ---------------------------------------------------------------- image folders

def _write_folder(root, split, n_per_class, size=32):
    from PIL import Image
    rng = np.random.default_rng(0)
    for c in ("cat", "dog"):
        (root / split / c).mkdir(parents=True)
        for i in range(n_per_class):
            s = size if i else size + 8  # one image of another size per class
            Image.fromarray(rng.integers(0, 256, (s, s, 3), dtype=np.uint8)).save(root / split / c / f"{i}.png")


def test_imagefolder_dataset(tmp_path):
    _write_folder(tmp_path, "train", 12)
    _write_folder(tmp_path, "test", 3)
    loader = build_loader(f"imagefolder:{tmp_path}", "train", None, 8, aug=AugConfig(cutout=8), kind="torch",
                          num_workers=0)
    assert loader.num_classes == 2 and loader.dataset_size == 24 and len(loader) == 3
    x, y = next(iter(loader))
    assert x.shape == (8, 3, 32, 32) and set(y.tolist()) <= {0, 1}
    test = build_loader("imagefolder", "test", tmp_path, 8, kind="torch", num_workers=0)
    xs = torch.cat([x for x, _ in test])
    assert xs.shape == (6, 3, 32, 32)
    assert abs(float(xs.mean())) < 0.2 and abs(float(xs.std()) - 1) < 0.2  # normalized by the folder's stats
    val = build_loader(f"imagefolder:{tmp_path}", "val", None, 4, kind="torch", num_workers=0, holdout=4)
    assert val.dataset_size == 4
    with pytest.raises(ValueError, match="kind='torch'"):
        build_loader(f"imagefolder:{tmp_path}", "train", None, 8, kind="device")
    with pytest.raises(ValueError, match="val"):
        build_loader(f"imagefolder:{tmp_path}", "val", None, 8, kind="torch")
    with pytest.raises(FileNotFoundError, match="train"):
        build_loader(f"imagefolder:{tmp_path / 'nowhere'}", "train", None, 8, kind="torch")


# ---------------------------------------------------------------- real data (skipped when absent)

@pytest.mark.slow  # exporting the real data takes ~10-30 s
@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_real_cifar_sizes_and_statistics(real_cifar_dir, name):
    spec = DATASETS[name]
    x, y = load_cifar(name, "train", real_cifar_dir)
    assert x.shape == (50000, 32, 32, 3) and y.shape == (50000,)
    assert np.bincount(y).tolist() == [50000 // spec.num_classes] * spec.num_classes
    # exact per-channel moments from value histograms (no 1 GB float copy)
    values = np.arange(256) / 255
    hist = np.stack([np.bincount(x[..., c].ravel(), minlength=256) for c in range(3)]).astype(np.float64)
    mean = hist @ values / hist.sum(1)
    std = np.sqrt(hist @ values**2 / hist.sum(1) - mean**2)
    np.testing.assert_allclose(mean, spec.mean, atol=6e-5)
    np.testing.assert_allclose(std, spec.std, atol=6e-5)
    xt, yt = load_cifar(name, "test", real_cifar_dir)
    assert xt.shape == (10000, 32, 32, 3) and len(yt) == 10000
