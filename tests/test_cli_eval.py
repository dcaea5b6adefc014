"""The command line of evaluation and weights: ``cifarzoo eval``, ``cifarzoo verify`` and
``cifarzoo hub``, called through ``cifarzoo.cli.main`` as a user would."""
import json
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import cifarzoo
import cifarzoo.hub as hub
from cifarzoo.cli import main
from test_hub import NEW_REV, FakeApi, add
from test_pretrained_fixtures import ARCH, one_thread, state_of, trained_run, world  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")
NAME = f"{ARCH}.cifar10"


def run_json(capsys, argv):
    rc = main(argv)
    out = capsys.readouterr().out
    assert rc == 0, out
    return json.loads(out)


def test_eval_checkpoint_json_and_confusion_png(trained_run, fake_cifar_dir, tmp_path, capsys):
    run, measured = trained_run
    png = tmp_path / "cm.png"
    res = run_json(capsys, ["eval", ARCH, "--dataset", "cifar10", "--data-dir", str(fake_cifar_dir), "--checkpoint",
                            str(run / "model.safetensors"), "--device", "cpu", "--json", "--no-progress",
                            "--confusion-png", str(png)])
    assert res["top1"] == pytest.approx(measured["top1"]) and res["num_images"] == 200
    assert res["confusion_matrix"] == measured["confusion_matrix"]
    assert set(res) >= {"top5", "per_class_acc", "nll", "ece", "images_per_s"}
    assert png.read_bytes()[:4] == b"\x89PNG"
    # the plain-text report
    assert main(["eval", ARCH, "--dataset", "cifar10", "--data-dir", str(fake_cifar_dir), "--checkpoint",
                 str(run / "model.safetensors"), "--device", "cpu", "--no-progress", "--tta", "flip"]) == 0
    out = capsys.readouterr().out
    assert "flip TTA" in out and "top-1" in out and "ECE" in out and "images/s" in out


def test_eval_checkpoint_for_the_wrong_dataset(trained_run, fake_cifar_dir, capsys):
    run, _ = trained_run
    rc = main(["eval", ARCH, "--dataset", "cifar100", "--data-dir", str(fake_cifar_dir), "--checkpoint",
               str(run / "model.safetensors"), "--device", "cpu", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "the file has 10 classes, the model 100" in err


def test_eval_needs_a_dataset_without_a_weight_tag(fake_cifar_dir, capsys):
    assert main(["eval", ARCH, "--data-dir", str(fake_cifar_dir)]) == 2
    assert "--dataset is required" in capsys.readouterr().err


def test_hub_add_eval_verify_export_push_via_cli(world, trained_run, fake_cifar_dir, tmp_path, capsys, monkeypatch):
    run, _ = trained_run
    assert main(["hub", "add", str(run), "--name", NAME, "--data-dir", str(fake_cifar_dir),
                 "--hf-hub-id", "testorg/r20", "--allow-partial-test-set"]) == 0
    assert "added resnet20.cifar10" in capsys.readouterr().out
    entry = cifarzoo.load_manifest()[NAME]

    res = run_json(capsys, ["eval", NAME, "--data-dir", str(fake_cifar_dir), "--device", "cpu", "--json",
                            "--no-progress"])
    assert res["dataset"] == "cifar10" and res["top1"] == pytest.approx(entry.metrics["top1"])

    assert main(["verify", NAME, "--data-dir", str(fake_cifar_dir), "--device", "cpu", "--no-progress"]) == 0
    assert capsys.readouterr().out.startswith(f"PASS {NAME}")

    out = tmp_path / "export"
    assert main(["hub", "export", NAME, "--out", str(out)]) == 0
    assert "README.md, config.json, model.safetensors" in capsys.readouterr().out

    assert main(["hub", "table"]) == 0
    assert f"`{NAME}` (default)" in capsys.readouterr().out

    api = FakeApi(tmp_path / "hub")
    monkeypatch.setattr(hub, "HfApi", lambda token=None: api)
    assert main(["hub", "push", NAME]) == 0
    assert NEW_REV in capsys.readouterr().out and cifarzoo.load_manifest()[NAME].revision == NEW_REV


def test_verify_fails_with_exit_code_1(world, trained_run, fake_cifar_dir, capsys):
    run, _ = trained_run
    entry = add(run, NAME, fake_cifar_dir, hf_hub_id="testorg/r20")
    # a manifest claiming 1 point more than the file gives
    doc = json.loads(world.manifest.read_text())
    doc["weights"][NAME]["metrics"]["top1"] = entry.metrics["top1"] + 1.0
    world.manifest.write_text(json.dumps(doc))
    rc = main(["verify", NAME, "--data-dir", str(fake_cifar_dir), "--device", "cpu", "--no-progress", "--json"])
    res = json.loads(capsys.readouterr().out)
    assert rc == 1 and not res["passed"] and "differs by -1.00 points" in res["reason"]
    # a wider tolerance accepts it
    assert main(["verify", NAME, "--data-dir", str(fake_cifar_dir), "--device", "cpu", "--no-progress",
                 "--tolerance", "1.5"]) == 0
    capsys.readouterr()
    # a corrupted file fails on its checksum before any evaluation
    f = world.mirror / "r20" / "model.safetensors"
    blob = bytearray(f.read_bytes())
    blob[-10] ^= 1
    f.write_bytes(bytes(blob))
    rc = main(["verify", NAME, "--data-dir", str(fake_cifar_dir), "--no-progress"])
    assert rc == 1 and "checksum mismatch" in capsys.readouterr().err


def test_verify_on_a_partial_test_set_does_not_pass(world, trained_run, fake_cifar_dir, capsys):
    run, _ = trained_run
    add(run, NAME, fake_cifar_dir, hf_hub_id="testorg/r20")
    doc = json.loads(world.manifest.read_text())
    doc["weights"][NAME]["metrics"]["num_images"] = 10000  # as a real entry says
    world.manifest.write_text(json.dumps(doc))
    assert main(["verify", NAME, "--data-dir", str(fake_cifar_dir), "--device", "cpu", "--no-progress"]) == 1
    assert "has 200 images but the manifest's accuracy was measured on 10,000" in capsys.readouterr().out


def _fit_classifier(model, x, y, num_classes):
    """Ridge regression of the classifier on the model's (random) features: a real, non-trivial
    checkpoint in a second."""
    with torch.no_grad():
        f = model.forward_head(model.forward_features(x), pre_logits=True)
        a = torch.cat([f, torch.ones(len(f), 1)], 1)
        w = torch.linalg.solve(a.T @ a + 10 * torch.eye(a.shape[1]),
                               a.T @ torch.nn.functional.one_hot(y, num_classes).float())
        model.fc.weight.copy_(w[:-1].T)
        model.fc.bias.copy_(w[-1])


def test_eval_a_checkpoint_on_the_real_cifar10_test_set(real_cifar_dir, tmp_path, capsys):
    from cifarzoo.data import build_loader

    torch.manual_seed(0)
    model = cifarzoo.create_model("lenet").eval()
    x, y = next(iter(build_loader("cifar10", "train", real_cifar_dir, 5000, aug=None, kind="device", device="cpu")))
    _fit_classifier(model, x, y, 10)
    ckpt = tmp_path / "lenet_real.safetensors"
    save_file(state_of(model), str(ckpt), metadata={"arch": "lenet", "num_classes": "10", "dataset": "cifar10"})
    res = run_json(capsys, ["eval", "lenet", "--dataset", "cifar10", "--data-dir", str(real_cifar_dir),
                            "--checkpoint", str(ckpt), "--device", "cpu", "--json", "--no-progress"])
    assert res["num_images"] == 10000
    assert [sum(row) for row in res["confusion_matrix"]] == [1000] * 10  # CIFAR-10 test: 1000 per class
    assert res["top1"] > 25.0, res["top1"]  # far above chance (10 %): the checkpoint was really loaded
    assert res["top1"] == pytest.approx(sum(r[i] for i, r in enumerate(res["confusion_matrix"])) / 100)
