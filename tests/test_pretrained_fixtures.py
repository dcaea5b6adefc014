"""Shared fixtures and helpers for the weights tests (no tests in here).

``WeightsWorld`` lays out, under tmp_path, everything a pretrained load touches: a manifest
(pointed at by ``CIFARZOO_MANIFEST``), a real Hugging Face Hub cache (``models--org--name`` with
``blobs/``, ``snapshots/<rev>/`` and ``refs/main``, pointed at by ``HF_HUB_CACHE``) and the
``weights/`` mirror next to the manifest.  ``HF_HUB_OFFLINE=1`` is set in the environment and in
``huggingface_hub.constants`` (which reads it once at import), so the real ``hf_hub_download``
runs and never touches the network.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import save

import cifarzoo
from cifarzoo.manifest import DEFAULT_PROTOCOL

ARCH = "resnet20"
REV = "0123456789abcdef0123456789abcdef01234567"
REV2 = "89abcdef0123456789abcdef0123456789abcdef"
MEAN10, STD10 = [0.4914, 0.4822, 0.4465], [0.2470, 0.2435, 0.2616]
MEAN100, STD100 = [0.5071, 0.4865, 0.4409], [0.2673, 0.2564, 0.2762]


def small_model(num_classes: int = 10, seed: int = 0) -> torch.nn.Module:
    """resnet20 with random weights *and* random batch-norm statistics, so a load that skipped
    the buffers would be caught."""
    torch.manual_seed(seed)
    model = cifarzoo.create_model(ARCH, num_classes=num_classes)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.num_batches_tracked.fill_(seed + 7)
    return model.eval()


def state_of(model: torch.nn.Module, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    # cloned: safetensors refuses tensors that share storage
    return {k: (v.detach().to(dtype) if v.is_floating_point() else v.detach()).clone().contiguous()
            for k, v in model.state_dict().items()}


def weight_blob(state: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> bytes:
    return save(state, metadata=metadata or {"format": "pt", "arch": ARCH})


def sha256(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


def entry_data(name: str, blob: bytes, *, revision: str | None = REV, hf_hub_id: str | None = None,
               dtype: str = "float16", default: bool = True, top1: float = 50.0, top5: float = 90.0,
               num_images: int = 200, **overrides) -> dict:
    arch, _, tag = name.partition(".")
    dataset = "cifar100" if tag.startswith("cifar100") else "cifar10"
    data = {
        "arch": arch, "arch_kwargs": {}, "num_classes": 100 if dataset == "cifar100" else 10, "dataset": dataset,
        "mean": MEAN100 if dataset == "cifar100" else MEAN10, "std": STD100 if dataset == "cifar100" else STD10,
        "input_size": [3, 32, 32], "test_transform": ["to_tensor", "normalize"],
        "hf_hub_id": hf_hub_id or f"testorg/{name}", "filename": "model.safetensors", "revision": revision,
        "sha256": sha256(blob), "size": len(blob), "dtype": dtype, "params": 272474, "macs": 40_800_000,
        "metrics": {"top1": top1, "top5": top5, "num_images": num_images}, "protocol": DEFAULT_PROTOCOL,
        "recipe": "test_recipe", "command": "cifarzoo train --recipe test_recipe",
        "provenance": {"hardware": "test", "wall_time_s": 1.0, "cifarzoo_version": cifarzoo.__version__,
                       "git_commit": "unknown", "torch_version": torch.__version__},
        "default": default,
    }
    data.update(overrides)
    return data


class WeightsWorld:
    def __init__(self, root: Path):
        self.root = root
        self.manifest = root / "weights_manifest.json"
        self.cache = root / "hf_cache"
        self.mirror = root / "weights"  # the "repository" mirror: next to the manifest
        self.entries: dict[str, dict] = {}
        self.cache.mkdir()
        self.write()

    def write(self) -> None:
        self.manifest.write_text(json.dumps({"schema_version": 1, "weights": self.entries}, indent=2))

    def put_in_cache(self, repo_id: str, revision: str, filename: str, blob: bytes) -> Path:
        """The layout huggingface_hub itself writes: blob by hash, snapshot symlink, ref."""
        org, name = repo_id.split("/")
        folder = self.cache / f"models--{org}--{name}"
        (folder / "blobs").mkdir(parents=True, exist_ok=True)
        blob_path = folder / "blobs" / sha256(blob)
        blob_path.write_bytes(blob)
        snap = folder / "snapshots" / revision / filename
        snap.parent.mkdir(parents=True, exist_ok=True)
        if snap.is_symlink() or snap.exists():
            snap.unlink()
        snap.symlink_to(os.path.relpath(blob_path, snap.parent))
        (folder / "refs").mkdir(exist_ok=True)
        (folder / "refs" / "main").write_text(revision)
        return snap

    def put_in_mirror(self, root: Path, repo_id: str, filename: str, blob: bytes) -> Path:
        p = root / repo_id.split("/")[1] / filename
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(blob)
        return p

    def publish(self, name: str, blob: bytes, *, cache: bool = True, mirror: bool = False, **entry) -> dict:
        data = entry_data(name, blob, **entry)
        if cache and data["revision"]:
            data["_path"] = self.put_in_cache(data["hf_hub_id"], data["revision"], data["filename"], blob)
        if mirror:
            data["_mirror"] = self.put_in_mirror(self.mirror, data["hf_hub_id"], data["filename"], blob)
        self.entries[name] = {k: v for k, v in data.items() if not k.startswith("_")}
        self.write()
        return data


@pytest.fixture
def world(tmp_path, monkeypatch) -> WeightsWorld:
    import huggingface_hub.constants as hf_constants

    w = WeightsWorld(tmp_path)
    monkeypatch.setenv("CIFARZOO_MANIFEST", str(w.manifest))
    monkeypatch.delenv("CIFARZOO_WEIGHTS_DIR", raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(w.cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # huggingface_hub reads both variables once, at import: patch the module constants as well
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(w.cache))
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    return w


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, fake_cifar_dir):
    """A finished 'training run' folder with model.safetensors and a results.json in the trainer's
    shape.  Training is a ridge-regression fit of resnet20's classifier on its random features of
    20 fake training images: a second of CPU for a model at ~80 % top-1 (not 100 %, not chance),
    so accuracy comparisons in the tests can tell weights apart."""
    from cifarzoo.data import build_loader
    from cifarzoo.evaluate import evaluate
    from safetensors.torch import save_file

    old_threads = torch.get_num_threads()
    torch.set_num_threads(1)  # session fixture: set up before the module's one_thread fixture
    torch.manual_seed(0)
    model = cifarzoo.create_model(ARCH, num_classes=10).eval()
    loader = build_loader("cifar10", "train", fake_cifar_dir, 20, aug=None, kind="device", device="cpu",
                          shuffle=False)
    x, y = next(iter(loader))
    with torch.no_grad():
        feats = model.forward_head(model.forward_features(x), pre_logits=True)
        a = torch.cat([feats, torch.ones(len(feats), 1)], 1)
        w = torch.linalg.solve(a.T @ a + torch.eye(a.shape[1]), a.T @ torch.nn.functional.one_hot(y, 10).float())
        model.fc.weight.copy_(w[:-1].T)
        model.fc.bias.copy_(w[-1])
    res = evaluate(model, "cifar10", data_dir=fake_cifar_dir, progress=False)
    run = tmp_path_factory.mktemp("run")
    save_file(state_of(model), str(run / "model.safetensors"))
    results = {
        "final": {"top1": res["top1"], "top5": res["top5"], "weights": "raw"},
        "epochs": [{"epoch": 0, "test_top1": 1.0}],
        "wall_time_s": 12.5, "model": ARCH, "dataset": "cifar10", "recipe": "r20",
        "environment": {"device_name": "NVIDIA Test GPU", "torch_version": "2.x-test", "cifarzoo_version": "0.1.0",
                        "git_commit": "abc1234", "finished_at": "2025-01-01T00:00:00+00:00"},
        "command": ["cifarzoo", "train", "--recipe", "r20"],
        "config": {"model": ARCH, "model_kwargs": {}, "dataset": "cifar10", "recipe": "r20", "seed": 0,
                   "device": "cuda"},
        "weights": {"file": "model.safetensors"},
    }
    (run / "results.json").write_text(json.dumps(results))
    torch.set_num_threads(old_threads)
    assert 50 < res["top1"] < 100, res["top1"]
    return run, res


@pytest.fixture(autouse=False, scope="module")
def one_thread():
    """One intra-op thread: on the shared 2-core machine, 2 threads under load run ~10x slower."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
