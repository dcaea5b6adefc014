"""Maintainer side: a training run becomes a manifest entry (measured here), the entry exports to a
real Hub folder, and push uploads it (against a fake HfApi: there is no network here)."""
import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

import cifarzoo
import cifarzoo.hub as hub
from cifarzoo.pretrained import load_manifest, read_metadata, sha256_file
from test_pretrained_fixtures import ARCH, one_thread, trained_run, world  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")
NAME = f"{ARCH}.cifar10"
NEW_REV = "fedcba9876543210fedcba9876543210fedcba98"


def add(*args, **kwargs):
    """hub.add_run on the generated data (200 test images, not the full 10,000), quietly."""
    return hub.add_run(*args, progress=False, require_full_test_set=False, **kwargs)


class FakeApi:
    """Records what HfApi would have been asked and keeps a copy of the uploaded folder."""

    def __init__(self, store: Path, fail: bool = False):
        self.store, self.fail, self.calls = store, fail, []

    def create_repo(self, repo_id, **kw):
        self.calls.append(("create_repo", repo_id, kw))

    def upload_folder(self, *, repo_id, folder_path, **kw):
        if self.fail:
            raise OSError("503 Service Unavailable")
        self.calls.append(("upload_folder", repo_id, kw))
        shutil.copytree(folder_path, self.store / repo_id, dirs_exist_ok=True)

        class Info(str):
            oid = NEW_REV
        return Info("https://huggingface.co/commit")


# --- reading runs --------------------------------------------------------------------------------


def _run(tmp_path, doc, name="run"):
    d = tmp_path / name
    d.mkdir()
    (d / "results.json").write_text(json.dumps(doc))
    (d / "model.safetensors").write_bytes(b"")
    return d


def test_add_refuses_a_partial_test_set(world, trained_run, fake_cifar_dir):
    run, _ = trained_run
    with pytest.raises(ValueError, match="has 200 images, not the full 10,000"):
        hub.add_run(run, NAME, fake_cifar_dir, progress=False)
    assert json.loads(world.manifest.read_text())["weights"] == {}


def test_read_run_is_tolerant_of_layouts(tmp_path):
    a = hub.read_run(_run(tmp_path, {"final": {"top1": 93.1, "top5": 99.8}, "best_top1": 99.9,
                                     "config": {"model": "resnet56", "model_kwargs": {"drop_path_rate": 0.1},
                                                "dataset": "cifar10", "seed": 3},
                                     "environment": {"device_name": "A100", "torch_version": "2.4",
                                                     "git_commit": "abc", "argv": ["cifarzoo", "train"]},
                                     "wall_time_s": 100}, "a"))
    assert (a.top1, a.top5, a.model, a.seed, a.hardware, a.wall_time_s) == (93.1, 99.8, "resnet56", 3, "A100", 100.0)
    assert a.model_kwargs == {"drop_path_rate": 0.1} and a.git_commit == "abc"
    b = hub.read_run(_run(tmp_path, {"test_acc1": 0.931, "test_acc5": 0.998, "arch": "resnet56",
                                     "cmd": "cifarzoo train x"}, "b"))
    assert b.top1 == pytest.approx(93.1) and b.top5 == pytest.approx(99.8) and b.command == "cifarzoo train x"


def test_read_run_picks_the_final_weight_file(tmp_path):
    d = _run(tmp_path, {"final": {"top1": 90.0}, "weights": {"file": "model_ema.safetensors"}})
    (d / "model_ema.safetensors").write_bytes(b"")
    assert hub.read_run(d).weights.name == "model_ema.safetensors"


def test_read_run_without_final_top1_fails_clearly(tmp_path):
    with pytest.raises(ValueError, match="no final top-1"):
        hub.read_run(_run(tmp_path, {"best_top1": 95.0, "epochs": [{"top1": 95.0}]}))
    with pytest.raises(FileNotFoundError, match="results.json"):
        hub.read_run(tmp_path / "nowhere")


# --- add, load, verify, export, push -----------------------------------------------------------------


def test_add_then_load_verify_export_and_push(world, trained_run, fake_cifar_dir, tmp_path):
    run, measured = trained_run
    entry = add(run, NAME, fake_cifar_dir, hf_hub_id="testorg/r20-c10")
    # measured here, on the file that is published
    assert entry.dtype == "float16" and entry.revision is None and entry.default
    assert abs(entry.metrics["top1"] - measured["top1"]) <= 0.05 + 1e-9
    assert entry.metrics["num_images"] == 200
    assert entry.params == sum(p.numel() for p in cifarzoo.create_model(ARCH).parameters())
    assert 40e6 < entry.macs < 42e6  # resnet20: 40.8 M MACs (fvcore)
    assert entry.provenance["hardware"] == "NVIDIA Test GPU" and entry.provenance["run_top1"] == measured["top1"]
    assert entry.command == "cifarzoo train --recipe r20" and entry.recipe == "r20"
    f = world.mirror / "r20-c10" / "model.safetensors"
    assert sha256_file(f) == entry.sha256 and f.stat().st_size == entry.size
    meta = read_metadata(f)
    assert meta["arch"] == ARCH and meta["git_commit"] == "abc1234" and meta["dtype"] == "float16"
    with safe_open(str(f), "pt") as sf:
        assert sf.get_tensor("fc.weight").dtype == torch.float16
        assert sf.get_tensor("stem.1.num_batches_tracked").dtype == torch.int64
    assert json.loads(world.manifest.read_text())["weights"][NAME]["sha256"] == entry.sha256

    # users load it (offline, not on the Hub yet: the weights/ mirror) and get the manifest's accuracy
    model = cifarzoo.create_model(NAME, pretrained=True)
    res = cifarzoo.evaluate(model, "cifar10", data_dir=fake_cifar_dir, progress=False)
    assert res["top1"] == pytest.approx(entry.metrics["top1"])
    v = cifarzoo.verify(NAME, fake_cifar_dir, progress=False)
    assert v.passed and v.top1 == pytest.approx(entry.metrics["top1"]), v.summary()

    # export: a real folder
    out = hub.export(NAME, tmp_path / "export")
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    assert sha256_file(out / "model.safetensors") == entry.sha256
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["arch"] == ARCH and cfg["num_classes"] == 10 and cfg["mean"] == list(entry.mean)
    card = (out / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: \"cifarzoo\"")
    assert f"| top-1 accuracy (%) | {entry.metrics['top1']:.2f} |" in card
    assert "```\ncifarzoo train --recipe r20\n```" in card
    assert f'cifarzoo.create_model("{NAME}", pretrained=True)' in card and entry.sha256 in card

    # push (fake Hub): the commit id becomes the pinned revision
    api = FakeApi(tmp_path / "hub")
    pushed = hub.push(NAME, api=api)
    assert pushed.revision == NEW_REV and load_manifest()[NAME].revision == NEW_REV
    assert [c[0] for c in api.calls] == ["create_repo", "upload_folder"]
    assert sha256_file(tmp_path / "hub" / "testorg/r20-c10" / "model.safetensors") == entry.sha256
    # published but offline and not cached: the repository mirror still serves it
    assert cifarzoo.create_model(NAME, pretrained=True).pretrained_cfg.revision == NEW_REV


def test_push_to_another_repo_moves_the_mirror_file(world, trained_run, fake_cifar_dir, tmp_path):
    run, _ = trained_run
    add(run, NAME, fake_cifar_dir)
    assert (world.mirror / NAME / "model.safetensors").is_file()  # default id: cifarzoo/<name>
    e = hub.push(NAME, repo_id="neworg/r20", api=FakeApi(tmp_path / "hub"))
    assert e.hf_hub_id == "neworg/r20" and (world.mirror / "r20" / "model.safetensors").is_file()
    assert not (world.mirror / NAME).exists()
    cifarzoo.create_model(NAME, pretrained=True)


def test_failed_push_leaves_the_manifest_alone(world, trained_run, fake_cifar_dir, tmp_path):
    run, _ = trained_run
    add(run, NAME, fake_cifar_dir)
    before = world.manifest.read_text()
    with pytest.raises(RuntimeError, match="failed: 503.*manifest was not changed"):
        hub.push(NAME, api=FakeApi(tmp_path / "hub", fail=True))
    assert world.manifest.read_text() == before


def test_add_refuses_a_run_whose_numbers_do_not_match(world, trained_run, fake_cifar_dir, tmp_path):
    run, measured = trained_run
    fake = tmp_path / "liar"
    shutil.copytree(run, fake)
    doc = json.loads((fake / "results.json").read_text())
    doc["final"]["top1"] = measured["top1"] + 5.0
    (fake / "results.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="not the run's final model"):
        add(fake, NAME, fake_cifar_dir)
    with pytest.raises(ValueError, match="trained 'resnet20', but --name says 'resnet32'"):
        add(run, "resnet32.cifar10", fake_cifar_dir)
    with pytest.raises(ValueError, match="trained on 'cifar10'"):
        add(run, f"{ARCH}.cifar100", fake_cifar_dir)
    assert json.loads(world.manifest.read_text())["weights"] == {}


def test_add_existing_name_needs_replace_and_default_moves(world, trained_run, fake_cifar_dir):
    run, _ = trained_run
    add(run, NAME, fake_cifar_dir)
    with pytest.raises(ValueError, match="--replace"):
        add(run, NAME, fake_cifar_dir)
    add(run, f"{ARCH}.cifar10_again", fake_cifar_dir)
    m = load_manifest()
    assert m[NAME].default and not m[f"{ARCH}.cifar10_again"].default
    add(run, f"{ARCH}.cifar10_again", fake_cifar_dir, default=True, replace=True)
    m = load_manifest()
    assert not m[NAME].default and m[f"{ARCH}.cifar10_again"].default


def test_float32_is_kept_when_half_precision_loses_accuracy(world, trained_run, fake_cifar_dir, monkeypatch):
    run, _ = trained_run
    monkeypatch.setattr(hub, "MAX_HALF_DROP", -1.0)  # no half copy can qualify
    e = add(run, NAME, fake_cifar_dir)
    assert e.dtype == "float32" and e.size > 4 * e.params


def test_several_seeds_give_mean_and_std(world, trained_run, fake_cifar_dir, tmp_path):
    run, measured = trained_run
    others = []
    for seed, top1 in ((1, measured["top1"] + 1.0), (2, measured["top1"] - 0.5)):
        d = tmp_path / f"seed{seed}"
        shutil.copytree(run, d)
        doc = json.loads((d / "results.json").read_text())
        doc["config"]["seed"], doc["final"]["top1"] = seed, top1
        (d / "results.json").write_text(json.dumps(doc))
        others.append(d)
    e = add(run, NAME, fake_cifar_dir, also=others)
    runs = e.metrics["runs"]
    assert [r["seed"] for r in runs] == [0, 1, 2]
    vals = [measured["top1"], measured["top1"] + 1.0, measured["top1"] - 0.5]
    assert e.metrics["top1_mean"] == pytest.approx(sum(vals) / 3, abs=1e-3)
    assert e.metrics["top1_std"] == pytest.approx(torch.tensor(vals).std().item(), abs=1e-3)
    assert "Mean over 3 seeds" in hub.model_card(e)


def test_big_weights_must_be_pushed_and_then_carry_a_revision(world, trained_run, fake_cifar_dir, tmp_path,
                                                              monkeypatch):
    run, _ = trained_run
    monkeypatch.setattr(hub, "MAX_COMMITTED_BYTES", 10_000)  # pretend resnet20 is a big model
    with pytest.raises(ValueError, match="--push"):
        add(run, NAME, fake_cifar_dir)
    api = FakeApi(tmp_path / "hub")
    e = add(run, NAME, fake_cifar_dir, push=True, hf_hub_id="testorg/big", api=api)
    assert e.revision == NEW_REV and not (world.mirror / "big").exists()
    assert sha256_file(tmp_path / "hub" / "testorg/big" / "model.safetensors") == e.sha256
    assert load_manifest()[NAME].revision == NEW_REV


def test_markdown_table(world, trained_run, fake_cifar_dir):
    assert "no published weights yet" in hub.markdown_table()
    run, _ = trained_run
    e = add(run, NAME, fake_cifar_dir)
    table = hub.markdown_table()
    assert f"| `{NAME}` (default) | CIFAR-10 | {e.metrics['top1']:.2f} |" in table
    assert "weights/ (not on the Hub yet)" in table


def test_add_a_run_written_by_the_real_trainer(world, fake_cifar_dir, tmp_path):
    """results.json and model.safetensors exactly as `cifarzoo train` writes them."""
    from cifarzoo.train import TrainConfig, train

    out = tmp_path / "run"
    cfg = TrainConfig(model=ARCH, dataset="cifar10", data_dir=str(fake_cifar_dir), epochs=1, batch_size=50,
                      max_steps_per_epoch=2, out_dir=str(out), progress=False, tensorboard=False, plot=False,
                      device="cpu", loader="device", recipe="tiny_test")
    result = train(cfg)
    e = add(out, NAME, fake_cifar_dir)
    assert e.recipe == "tiny_test" and e.provenance["run_top1"] == result["final"]["top1"]
    assert e.provenance["git_commit"] == (result["environment"]["git_commit"] or "unknown")
    assert e.provenance["wall_time_s"] == pytest.approx(result["wall_time_s"])
    assert abs(e.metrics["top1"] - result["final"]["top1"]) <= 0.05 + 1e-9  # same weights, same test set
    assert cifarzoo.create_model(NAME, pretrained=True).pretrained_cfg.sha256 == e.sha256
