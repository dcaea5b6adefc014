"""Pretrained weights: the manifest schema, loading through the real huggingface_hub code path
(offline, from a Hub cache the tests lay out), the local mirrors, and every failure the loader
must explain."""
import json
import logging
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import cifarzoo
from cifarzoo.manifest import MAX_COMMITTED_BYTES, ManifestError, validate_manifest
from cifarzoo.pretrained import ChecksumError, WeightFileError, load_manifest, sha256_file
from test_pretrained_fixtures import (ARCH, REV, REV2, entry_data, one_thread, small_model, state_of,  # noqa: F401
                                      weight_blob, world)

pytestmark = pytest.mark.usefixtures("one_thread")

REPO = Path(__file__).resolve().parents[1]
NAME = f"{ARCH}.cifar10"


def assert_loaded(model, state):
    own = model.state_dict()
    assert set(own) == set(state)
    for k, v in state.items():
        torch.testing.assert_close(own[k], v.to(own[k].dtype), rtol=0, atol=0, msg=k)


# --- the repository's own manifest and mirror ----------------------------------------------------


def test_repository_manifest_is_valid_and_its_files_are_committed():
    from cifarzoo.manifest import read_manifest

    entries = read_manifest(REPO / "weights_manifest.json")
    total = 0
    for name, e in entries.items():
        f = REPO / "weights" / e.repo_name / e.filename
        if e.revision is None:  # not on the Hub: the committed file is the only copy
            assert f.is_file(), f"{name}: revision is null but {f} is not committed"
        if f.is_file():
            assert f.stat().st_size <= MAX_COMMITTED_BYTES, f"{f} is over 4 MB"
            assert sha256_file(f) == e.sha256, f"{f} does not match the manifest checksum"
    for f in (REPO / "weights").rglob("*.safetensors"):
        total += f.stat().st_size
    assert total <= 16 * 1024 * 1024, f"weights/ holds {total:,} bytes, over 16 MB"


# --- loading through the Hub cache ----------------------------------------------------------------


def test_pretrained_loads_through_hf_hub_cache_offline(world):
    src = small_model()
    half = state_of(src, torch.float16)
    world.publish(NAME, weight_blob(half), dtype="float16")
    model = cifarzoo.create_model(NAME, pretrained=True)
    assert model.pretrained_cfg.name == NAME
    assert model.num_classes == 10
    # stored float16, loaded into the float32 model: exactly the rounded values, buffers included
    assert all(v.dtype in (torch.float32, torch.int64) for v in model.state_dict().values())
    assert_loaded(model, half)
    ref = small_model()
    ref.load_state_dict({k: v.to(ref.state_dict()[k].dtype) for k, v in half.items()})
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(model.eval()(x), ref.eval()(x))


def test_offline_hub_is_really_consulted(world, monkeypatch):
    """The file is found by huggingface_hub's own resolution of the pinned revision."""
    import huggingface_hub

    calls = []
    real = huggingface_hub.hf_hub_download

    def spy(*args, **kwargs):
        calls.append((args, kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", spy)
    data = world.publish(NAME, weight_blob(state_of(small_model())), dtype="float32")
    cifarzoo.create_model(NAME, pretrained=True)
    assert calls and calls[0][0] == (data["hf_hub_id"], "model.safetensors")
    assert calls[0][1]["revision"] == REV


def test_default_tag_and_listing(world):
    a, b = small_model(seed=1), small_model(seed=2)
    world.publish(NAME, weight_blob(state_of(a)), dtype="float32", default=True)
    world.publish(f"{ARCH}.cifar10_sd", weight_blob(state_of(b)), dtype="float32", default=False, revision=REV2)
    assert cifarzoo.list_models(pretrained=True) == [NAME, f"{ARCH}.cifar10_sd"]
    assert cifarzoo.list_models("resnet20", pretrained=True) == [NAME, f"{ARCH}.cifar10_sd"]
    assert cifarzoo.list_models("resnet56", pretrained=True) == []
    assert_loaded(cifarzoo.create_model(ARCH, pretrained=True), state_of(a))
    assert_loaded(cifarzoo.create_model(f"{ARCH}.cifar10_sd", pretrained=True), state_of(b))
    assert set(cifarzoo.load_manifest()) == {NAME, f"{ARCH}.cifar10_sd"}


def test_unknown_tag_lists_the_architectures_weights(world):
    world.publish(NAME, weight_blob(state_of(small_model())), dtype="float32")
    with pytest.raises(KeyError) as e:
        cifarzoo.create_model(f"{ARCH}.cifar01", pretrained=True)
    msg = e.value.args[0]
    assert "resnet20.cifar01" in msg and NAME in msg and "Close names" in msg
    with pytest.raises(KeyError, match="no pretrained weight for 'resnet32'"):
        cifarzoo.create_model("resnet32", pretrained=True)


# --- failures ----------------------------------------------------------------------------------------


def test_checksum_mismatch_names_file_both_sums_and_the_fix(world):
    blob = weight_blob(state_of(small_model()))
    data = world.publish(NAME, blob, dtype="float32")
    bad = bytearray(blob)
    bad[-100] ^= 0xFF  # same size, one byte flipped inside a tensor
    blob_file = Path(os.path.realpath(data["_path"]))
    blob_file.write_bytes(bytes(bad))
    with pytest.raises(ChecksumError) as e:
        cifarzoo.create_model(NAME, pretrained=True)
    msg = str(e.value)
    assert str(data["_path"]) in msg and data["sha256"] in msg and sha256_file(blob_file) in msg
    assert "Delete it" in msg and f"its blob {blob_file}" in msg  # the cache's blob must go too


def test_corrupt_cache_is_downloaded_again_once_when_online(world, monkeypatch, caplog):
    import huggingface_hub
    import huggingface_hub.constants as hf_constants

    src = state_of(small_model())
    blob = weight_blob(src)
    data = world.publish(NAME, blob, dtype="float32")
    blob_file = Path(os.path.realpath(data["_path"]))
    blob_file.write_bytes(blob[:-1] + b"\x00")
    calls = []

    def fake_download(repo_id, filename, revision=None, force_download=False, **kw):
        calls.append(force_download)
        if force_download:  # what a real re-download does: fresh bytes in the cache
            blob_file.write_bytes(blob)
        return str(data["_path"])

    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    with caplog.at_level(logging.WARNING, logger="cifarzoo"):
        assert_loaded(cifarzoo.create_model(NAME, pretrained=True), src)
    assert calls == [False, True] and "downloading it again" in caplog.text


def test_truncated_file(world):
    blob = weight_blob(state_of(small_model()))
    data = world.publish(NAME, blob, dtype="float32")
    Path(os.path.realpath(data["_path"])).write_bytes(blob[: len(blob) // 2])
    with pytest.raises(WeightFileError, match=r"truncated: [\d,]+ of [\d,]+ bytes") as e:
        cifarzoo.create_model(NAME, pretrained=True)
    assert data["sha256"] in str(e.value)


def test_truncated_checkpoint_without_manifest(tmp_path):
    f = tmp_path / "cut.safetensors"
    blob = weight_blob(state_of(small_model()))
    f.write_bytes(blob[:-1000])
    with pytest.raises(WeightFileError, match="truncated"):
        cifarzoo.create_model(ARCH, checkpoint_path=str(f))


def test_html_page_saved_as_weight(world):
    blob = weight_blob(state_of(small_model()))
    data = world.publish(NAME, blob, dtype="float32")
    Path(os.path.realpath(data["_path"])).write_bytes(
        b"\n<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>oops</body></html>")
    with pytest.raises(WeightFileError, match="HTML page") as e:
        cifarzoo.create_model(NAME, pretrained=True)
    assert str(data["_path"]) in str(e.value)


def test_missing_and_unexpected_tensors_are_named(world):
    state = state_of(small_model())
    del state["fc.bias"]
    state["extra.weight"] = torch.zeros(3)
    world.publish(NAME, weight_blob(state), dtype="float32")
    with pytest.raises(WeightFileError) as e:
        cifarzoo.create_model(NAME, pretrained=True)
    msg = str(e.value)
    assert "missing tensor(s) fc.bias" in msg and "unexpected tensor(s) extra.weight" in msg
    assert NAME in msg


def test_shape_mismatch_names_key_and_shapes(world):
    state = state_of(small_model())
    state["stem.0.weight"] = torch.zeros(16, 3, 1, 1)
    world.publish(NAME, weight_blob(state), dtype="float32")
    with pytest.raises(WeightFileError, match=r"stem\.0\.weight: model \(16, 3, 3, 3\), file \(16, 3, 1, 1\)"):
        cifarzoo.create_model(NAME, pretrained=True)


def test_num_classes_change_drops_the_classifier(world, caplog):
    src = small_model()
    world.publish(NAME, weight_blob(state_of(src)), dtype="float32")
    with caplog.at_level(logging.INFO, logger="cifarzoo"):
        model = cifarzoo.create_model(NAME, pretrained=True, num_classes=100)
    assert model.num_classes == 100 and model.fc.out_features == 100
    assert "classifier re-initialised" in caplog.text
    backbone = {k: v for k, v in state_of(src).items() if not k.startswith("fc.")}
    own = model.state_dict()
    for k, v in backbone.items():
        torch.testing.assert_close(own[k], v, rtol=0, atol=0)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 100)


# --- local mirrors -----------------------------------------------------------------------------------


def test_weights_dir_argument_and_file(world, tmp_path):
    src = state_of(small_model(), torch.bfloat16)
    blob = weight_blob(src)
    data = world.publish(NAME, blob, dtype="bfloat16", cache=False)  # nothing in the Hub cache
    mirror = tmp_path / "cluster_mirror"
    f = world.put_in_mirror(mirror, data["hf_hub_id"], "model.safetensors", blob)
    assert_loaded(cifarzoo.create_model(NAME, pretrained=True, weights_dir=str(mirror)), src)
    assert_loaded(cifarzoo.create_model(NAME, pretrained=True, weights_dir=str(f)), src)


def test_weights_dir_env_var(world, tmp_path, monkeypatch):
    src = state_of(small_model())
    blob = weight_blob(src)
    data = world.publish(NAME, blob, dtype="float32", cache=False)
    mirror = tmp_path / "env_mirror"
    world.put_in_mirror(mirror, data["hf_hub_id"], "model.safetensors", blob)
    monkeypatch.setenv("CIFARZOO_WEIGHTS_DIR", str(mirror))
    assert_loaded(cifarzoo.create_model(NAME, pretrained=True), src)


def test_corrupt_mirror_file_is_an_error_not_skipped(world, tmp_path):
    blob = weight_blob(state_of(small_model()))
    data = world.publish(NAME, blob, dtype="float32")  # a good copy is in the Hub cache
    mirror = tmp_path / "m"
    world.put_in_mirror(mirror, data["hf_hub_id"], "model.safetensors", blob[:-1] + b"\x00")
    with pytest.raises(ChecksumError, match="checksum mismatch"):
        cifarzoo.create_model(NAME, pretrained=True, weights_dir=str(mirror))


def test_repository_mirror_is_the_fallback(world):
    """Not on the Hub (revision null): the weights/ folder next to the manifest serves it."""
    src = state_of(small_model())
    world.publish(NAME, weight_blob(src), dtype="float32", revision=None, cache=False, mirror=True)
    assert_loaded(cifarzoo.create_model(NAME, pretrained=True), src)


def test_published_but_unreachable_falls_back_to_repository_mirror(world):
    src = state_of(small_model())
    world.publish(NAME, weight_blob(src), dtype="float32", cache=False, mirror=True)  # offline, nothing cached
    assert_loaded(cifarzoo.create_model(NAME, pretrained=True), src)


def test_nowhere_to_be_found_lists_what_was_tried(world, tmp_path):
    world.publish(NAME, weight_blob(state_of(small_model())), dtype="float32", cache=False)
    with pytest.raises(FileNotFoundError) as e:
        cifarzoo.create_model(NAME, pretrained=True, weights_dir=str(tmp_path / "empty"))
    msg = str(e.value)
    for part in ("weights_dir", "Hugging Face Hub testorg/resnet20.cifar10@" + REV, "repository mirror",
                 "CIFARZOO_WEIGHTS_DIR", "https://huggingface.co/testorg/resnet20.cifar10/resolve/"):
        assert part in msg


# --- checkpoint_path ----------------------------------------------------------------------------------


def test_checkpoint_path(tmp_path):
    src = state_of(small_model(seed=3))
    f = tmp_path / "model.safetensors"
    save_file(src, str(f))
    assert_loaded(cifarzoo.create_model(ARCH, checkpoint_path=str(f)), src)
    # wrappers' prefixes (DDP, torch.compile) are stripped
    g = tmp_path / "ddp.safetensors"
    save_file({f"module.{k}": v for k, v in src.items()}, str(g))
    assert_loaded(cifarzoo.create_model(ARCH, checkpoint_path=str(g)), src)


def test_file_from_cifarzoo_0_1_with_duplicate_bn_tensors_loads(tmp_path):
    """0.1.0 wrote each block's last BN twice (``bn2`` and ``zero_init_target``): such files load;
    a ``zero_init_target`` tensor that differs from its twin is still an error."""
    src = state_of(small_model(seed=5))
    old = dict(src)
    for k, v in src.items():
        if ".bn2." in k:
            old[k.replace(".bn2.", ".zero_init_target.")] = v.clone()
    f = tmp_path / "old.safetensors"
    save_file(old, str(f))
    assert_loaded(cifarzoo.create_model("resnet20", checkpoint_path=str(f)), src)
    old["stages.0.0.zero_init_target.weight"] = old["stages.0.0.zero_init_target.weight"] + 1
    save_file(old, str(f))
    with pytest.raises(WeightFileError, match=r"unexpected tensor\(s\) stages.0.0.zero_init_target.weight"):
        cifarzoo.create_model("resnet20", checkpoint_path=str(f))


def test_checkpoint_with_wrong_number_of_classes(tmp_path):
    f = tmp_path / "c100.safetensors"
    save_file(state_of(small_model(num_classes=100)), str(f))
    with pytest.raises(WeightFileError, match=r"the file has 100 classes, the model 10; pass num_classes=100"):
        cifarzoo.create_model(ARCH, checkpoint_path=str(f))
    assert cifarzoo.create_model(ARCH, checkpoint_path=str(f), num_classes=100).num_classes == 100


def test_pickle_checkpoint_is_refused(tmp_path):
    f = tmp_path / "model.pth"
    torch.save(small_model().state_dict(), f)
    with pytest.raises(WeightFileError, match="pickle"):
        cifarzoo.create_model(ARCH, checkpoint_path=str(f))


def test_pretrained_and_checkpoint_together_is_an_error(world, tmp_path):
    with pytest.raises(ValueError, match="not both"):
        cifarzoo.create_model(ARCH, pretrained=True, checkpoint_path=str(tmp_path / "x.safetensors"))


# --- the manifest schema ------------------------------------------------------------------------------


def _doc(**entries):
    return {"schema_version": 1, "weights": entries}


BLOB = b"x" * 100


@pytest.mark.parametrize("change, match", [
    (lambda d: d.pop("sha256"), r"'resnet20.cifar10', field 'sha256': is missing"),
    (lambda d: d.update(sha256="abc"), r"field 'sha256': must be 64"),
    (lambda d: d.update(revision="main"), r"field 'revision': must be a pinned 40-hex"),
    (lambda d: d.update(num_classes=100), r"field 'num_classes': must be 10"),
    (lambda d: d.update(dataset="cifar100"), r"field 'dataset': tag 'cifar10' must be the dataset"),
    (lambda d: d.update(dtype="int8"), r"field 'dtype'"),
    (lambda d: d.update(filename="../x.bin"), r"field 'filename'"),
    (lambda d: d.update(colour="red"), r"field 'colour': is not a manifest field"),
    (lambda d: d["metrics"].pop("top5"), r"field 'metrics.top5': is missing"),
    (lambda d: d["metrics"].update(top1=101.0), r"field 'metrics.top1': must be a percentage"),
    (lambda d: d["provenance"].pop("git_commit"), r"field 'provenance.git_commit': is missing"),
    (lambda d: d.update(arch_kwargs={"width": 2}), r"field 'arch_kwargs': \['width'\] are not arguments"),
    (lambda d: d["metrics"].update(runs=[{"seed": 0, "top1": 50.0}, {"seed": 1, "top1": 52.0}],
                                   top1_mean=51.0, top1_std=0.5), r"metrics.top1_std': is 0.5 but the listed runs"),
    (lambda d: d.update(revision=None, size=MAX_COMMITTED_BYTES + 1), r"field 'revision': is null"),
])
def test_manifest_errors_name_entry_and_field(change, match):
    d = entry_data("resnet20.cifar10", BLOB)
    change(d)
    with pytest.raises(ManifestError, match=match):
        validate_manifest(_doc(**{"resnet20.cifar10": d}))


def test_manifest_cross_entry_rules():
    a = entry_data("resnet20.cifar10", BLOB)
    b = entry_data("resnet20.cifar10_sd", BLOB)
    with pytest.raises(ManifestError, match=r"exactly one weight with \"default\": true .* found 2"):
        validate_manifest(_doc(**{"resnet20.cifar10": a, "resnet20.cifar10_sd": b}))
    b["default"] = False
    ok = validate_manifest(_doc(**{"resnet20.cifar10": a, "resnet20.cifar10_sd": b}))
    assert ok["resnet20.cifar10"].default and ok["resnet20.cifar10_sd"].tag == "cifar10_sd"
    with pytest.raises(ManifestError, match="is not a registered model"):
        validate_manifest(_doc(**{"nosuchnet.cifar10": entry_data("nosuchnet.cifar10", BLOB)}))
    with pytest.raises(ManifestError, match="must look like 'arch.tag'"):
        validate_manifest(_doc(resnet20=a))
    with pytest.raises(ManifestError, match="schema_version"):
        validate_manifest({"schema_version": 99, "weights": {}})


def test_manifest_entries_are_read_only_and_round_trip(world):
    world.publish(NAME, weight_blob(state_of(small_model())), dtype="float32")
    e = load_manifest()[NAME]
    with pytest.raises(TypeError):
        e.metrics["top1"] = 99.0
    assert json.loads(json.dumps(e.to_dict())) == world.entries[NAME]
    # models carry their entry (pretrained_cfg) and get deep-copied (EMA) and pickled
    import copy
    import pickle

    assert copy.deepcopy(e) is e and pickle.loads(pickle.dumps(e)).to_dict() == e.to_dict()


def test_manifest_env_var_must_name_a_file(monkeypatch, tmp_path):
    monkeypatch.setenv("CIFARZOO_MANIFEST", str(tmp_path / "nope.json"))
    with pytest.raises(FileNotFoundError, match="CIFARZOO_MANIFEST"):
        load_manifest()


def test_written_manifest_round_trips_with_compact_lists(tmp_path):
    from cifarzoo.manifest import read_manifest, write_manifest

    d = entry_data(NAME, BLOB, command="cifarzoo train --set 'milestones=[ 60, 120 ]'")
    entries = validate_manifest(_doc(**{NAME: d}))
    path = tmp_path / "m.json"
    write_manifest(path, entries)
    text = path.read_text()
    assert '"mean": [0.4914, 0.4822, 0.4465]' in text and "'milestones=[ 60, 120 ]'" in text
    assert read_manifest(path)[NAME].to_dict() == d
    bad = dict(entries)
    bad["resnet20.cifar10_x"] = entries[NAME]  # a second default for resnet20
    with pytest.raises(ManifestError):
        write_manifest(path, {k: v for k, v in bad.items()})
