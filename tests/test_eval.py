"""cifarzoo.evaluate: every metric checked against a plain re-computation on a model whose
predictions the test fixes in advance, plus the guards (train mode, class-count mismatch)."""
import logging
import math

import numpy as np
import pytest
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

import cifarzoo
from cifarzoo.evaluate import ECE_BINS, evaluate, save_confusion_png
from test_pretrained_fixtures import one_thread  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")


class TableModel(nn.Module):
    """Returns a fixed row of logits per image: the image's index is written in its first pixel."""

    def __init__(self, table: torch.Tensor):
        super().__init__()
        self.table = nn.Parameter(table.clone(), requires_grad=False)
        self.num_classes = table.shape[1]
        self.eval()

    def forward(self, x):
        idx = x[:, 0, 0, 0].round().long()
        return self.table[idx]


def table_data(n=53, C=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, C, generator=g) * 3
    labels = torch.randint(0, C, (n,), generator=g)
    x = torch.zeros(n, 3, 4, 4)
    x[:, 0, 0, 0] = torch.arange(n, dtype=torch.float32)
    return logits, labels, x


def reference_metrics(logits: np.ndarray, labels: np.ndarray):
    n, C = logits.shape
    order = np.argsort(-logits, axis=1)
    top1 = 100 * np.mean(order[:, 0] == labels)
    top5 = 100 * np.mean([labels[i] in order[i, :5] for i in range(n)])
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    nll = float(np.mean(-np.log(p[np.arange(n), labels])))
    conf, pred = p.max(1), p.argmax(1)
    ece = 0.0
    edges = np.linspace(0, 1, ECE_BINS + 1)
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            ece += m.mean() * abs(np.mean(pred[m] == labels[m]) - conf[m].mean())
    cm = np.zeros((C, C), dtype=np.int64)
    for t, q in zip(labels, pred):
        cm[t, q] += 1
    return top1, top5, nll, 100 * ece, cm


def test_metrics_match_a_plain_recomputation():
    logits, labels, x = table_data()
    res = evaluate(TableModel(logits), DataLoader(TensorDataset(x, labels), batch_size=7), progress=False)
    top1, top5, nll, ece, cm = reference_metrics(logits.numpy(), labels.numpy())
    assert res["num_images"] == 53 and res["num_classes"] == 10
    assert res["top1"] == pytest.approx(top1) and res["top5"] == pytest.approx(top5)
    assert res["nll"] == pytest.approx(nll, rel=1e-5)
    assert res["ece"] == pytest.approx(ece, abs=1e-4)  # float32 softmax vs float64
    assert np.array_equal(np.array(res["confusion_matrix"]), cm)
    for c in range(10):
        n_c = cm[c].sum()
        assert res["per_class_acc"][c] == (pytest.approx(100 * cm[c, c] / n_c) if n_c else None)
    assert res["images_per_s"] > 0 and res["device"] == "cpu" and res["amp"] is None


def test_every_input_form_gives_the_same_result():
    logits, labels, x = table_data(n=20)
    model = TableModel(logits)
    forms = [(x, labels), TensorDataset(x, labels), DataLoader(TensorDataset(x, labels), batch_size=6),
             [(x[:9], labels[:9]), (x[9:], labels[9:])]]
    results = [evaluate(model, f, batch_size=8, progress=False) for f in forms]
    for r in results[1:]:
        assert r["confusion_matrix"] == results[0]["confusion_matrix"]
        assert r["nll"] == pytest.approx(results[0]["nll"])


def test_train_mode_is_caught_and_restored(caplog):
    torch.manual_seed(0)
    model = cifarzoo.create_model("resnet20")
    x, y = torch.randn(16, 3, 32, 32), torch.randint(0, 10, (16,))
    expected = evaluate(model.eval(), (x, y), progress=False)
    model.train()
    with caplog.at_level(logging.WARNING, logger="cifarzoo"):
        res = evaluate(model, (x, y), progress=False)
    assert "train mode" in caplog.text
    assert model.training  # restored
    # batch-norm statistics were not used from the batch, nor updated
    assert res["confusion_matrix"] == expected["confusion_matrix"]
    assert res["nll"] == pytest.approx(expected["nll"])


def test_class_count_mismatch_is_an_error():
    logits, labels, x = table_data(n=8)
    model = TableModel(logits)
    with pytest.raises(ValueError, match="outputs 10 classes but the data has 100"):
        evaluate(model, (x, labels), num_classes=100, progress=False)
    loader = DataLoader(TensorDataset(x, labels + 90), batch_size=4)  # labels 90..99: a CIFAR-100 set
    with pytest.raises(ValueError, match="label 9[0-9] but the model outputs only 10"):
        evaluate(model, loader, progress=False)


def test_bad_batches_are_explained():
    model = TableModel(torch.zeros(4, 10))
    with pytest.raises(ValueError, match="uint8"):
        evaluate(model, (torch.zeros(4, 3, 8, 8, dtype=torch.uint8), torch.zeros(4, dtype=torch.long)),
                 progress=False)
    with pytest.raises(ValueError, match="channels-last"):
        evaluate(model, (torch.zeros(4, 8, 8, 3), torch.zeros(4, dtype=torch.long)), progress=False)
    with pytest.raises(ValueError, match="tta"):
        evaluate(model, (torch.zeros(4, 3, 8, 8), torch.zeros(4, dtype=torch.long)), tta="crops")


def test_flip_tta_averages_the_two_views():
    class LeftRight(nn.Module):
        num_classes = 2

        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(1))

        def forward(self, x):  # logits: mean of the left half, mean of the right half
            return torch.stack([x[..., :2].mean((1, 2, 3)), x[..., 2:].mean((1, 2, 3))], 1) * self.w

    x = torch.zeros(2, 1, 4, 4)
    x[0, ..., :2] = 1.0  # left-heavy image, label 0
    x[1, ..., 2:] = 1.0  # right-heavy image, label 1
    y = torch.tensor([0, 1])
    plain = evaluate(LeftRight(), (x, y), progress=False)
    tta = evaluate(LeftRight(), (x, y), tta="flip", progress=False)
    assert plain["top1"] == 100.0
    # flipped logits are swapped, so the average is a tie at 0.5/0.5: NLL = log 2 exactly
    assert tta["nll"] == pytest.approx(math.log(2)) and tta["tta"] == "flip"


def test_dataset_name_with_fake_cifar(fake_cifar_dir):
    torch.manual_seed(0)
    model = cifarzoo.create_model("resnet20")
    res = evaluate(model, "cifar10", data_dir=fake_cifar_dir, batch_size=64, progress=False)
    assert res["num_images"] == 200 and res["num_classes"] == 10
    assert sum(map(sum, res["confusion_matrix"])) == 200
    with pytest.raises(ValueError, match="outputs 10 classes but the data has 100"):
        evaluate(model, "cifar100", data_dir=fake_cifar_dir, progress=False)
    with pytest.raises(ValueError, match="data_dir"):
        evaluate(model, "cifar10", progress=False)


def test_confusion_png(tmp_path):
    out = tmp_path / "cm.png"
    save_confusion_png([[3, 1], [0, 4]], out, ["cat", "dog"])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_with_and_without_bf16_autocast_agrees_with_cpu(fake_cifar_dir):
    torch.manual_seed(0)
    model = cifarzoo.create_model("resnet20").eval()
    cpu = evaluate(model, "cifar10", data_dir=fake_cifar_dir, progress=False)
    gpu = evaluate(model, "cifar10", data_dir=fake_cifar_dir, device="cuda", progress=False)
    assert gpu["device"].startswith("cuda") and gpu["amp"] == "bf16"  # AMP is on by default on GPU
    assert next(model.parameters()).is_cuda
    fp32 = evaluate(model, "cifar10", data_dir=fake_cifar_dir, amp=False, progress=False)
    assert fp32["amp"] is None
    # float32 on GPU: the same predictions as on CPU up to one borderline image
    diff = sum(abs(a - b) for ra, rb in zip(cpu["confusion_matrix"], fp32["confusion_matrix"])
               for a, b in zip(ra, rb))
    assert diff <= 2 and fp32["nll"] == pytest.approx(cpu["nll"], rel=1e-3)
    # bf16 autocast rounds activations: close, not equal
    assert gpu["nll"] == pytest.approx(cpu["nll"], rel=0.05)
    tta = evaluate(model, "cifar10", data_dir=fake_cifar_dir, tta="flip", progress=False)
    assert tta["num_images"] == 200 and tta["tta"] == "flip"
