"""Behaviour of the `resnets` group beyond the registry-wide sweep of test_models.py: the ResNet-50
ladder against torchvision and the seed document, the random regularisers (Shake-Shake,
ShakeDrop, batch-level stochastic depth) in train and eval mode, zero-init, layouts, ONNX export."""
import io

import pytest
import torch
import torch.nn as nn

import cifarzoo
from cifarzoo.models.pyramidnet import PyramidShortcut, ShakeDrop
from cifarzoo.models.resnet import ResNetConfig, BasicBlock
from cifarzoo.models.shake_shake import ShakeShake, shake_shake
from cifarzoo.models.stochastic_depth import BatchStochasticDepth, survival_decay_rates


# ----------------------------------------------------------------------------- ResNet ladder
def test_resnet50_t_is_torchvision_resnet50():
    """T is the torchvision network unchanged: same tensors in the same order give the same output."""
    torchvision = pytest.importorskip("torchvision")
    ref = torchvision.models.resnet50(num_classes=10).eval()
    ours = cifarzoo.create_model("resnet50_t").eval()
    ref_sd, our_sd = ref.state_dict(), ours.state_dict()
    assert [v.shape for v in ref_sd.values()] == [v.shape for v in our_sd.values()]
    ours.load_state_dict(dict(zip(our_sd, ref_sd.values())))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x))


@pytest.mark.parametrize("name,stem,maxpool,last_stride,avg_down", [
    ("resnet50_t", "imagenet", True, 2, False),
    ("resnet50_e1", "cifar", True, 2, False),
    ("resnet50_e2", "cifar", False, 2, False),
    ("resnet50_e3", "cifar", False, 1, False),
    ("resnet50_e5", "cifar", False, 1, True),
])
def test_ladder_rungs_follow_document_000(name, stem, maxpool, last_stride, avg_down):
    knobs = cifarzoo.model_info(name).knobs
    assert (knobs["stem"], knobs["maxpool"], knobs["last_stride"], knobs["avg_down"]) == \
        (stem, maxpool, last_stride, avg_down)
    model = cifarzoo.create_model(name)
    first = model.stem[0]
    assert first.kernel_size == ((7, 7) if stem == "imagenet" else (3, 3))
    assert first.stride == ((2, 2) if stem == "imagenet" else (1, 1))
    assert any(isinstance(m, nn.MaxPool2d) for m in model.stem) == maxpool
    assert model.stages[3][0].conv2.stride == (last_stride, last_stride)
    assert any(isinstance(m, nn.AvgPool2d) for m in model.modules()) == avg_down


@pytest.mark.parametrize("knobs,size", [
    (dict(stem="imagenet", maxpool=True), 1), (dict(maxpool=True), 2), ({}, 4), (dict(last_stride=1), 8),
    (dict(last_stride=1, avg_down=True), 8),
])
def test_ladder_final_map_sizes(knobs, size):
    # the ladder's knobs on the cheap ResNet-18: the same stem/pool/stride logic as ResNet-50
    model = cifarzoo.create_model("resnet18", **knobs).eval()
    with torch.no_grad():
        assert model.forward_features(torch.randn(1, 3, 32, 32)).shape[-1] == size


def test_resnet_d_shortcut_pools_before_a_stride_1_conv():
    model = cifarzoo.create_model("resnet50_e5")
    sc = model.stages[1][0].shortcut
    assert isinstance(sc[0], nn.AvgPool2d) and sc[1].stride == (1, 1) and sc[1].kernel_size == (1, 1)
    # stage 4 keeps stride 1 in E5, so its projection has no pooling
    assert not isinstance(model.stages[3][0].shortcut[0], nn.AvgPool2d)
    x = torch.randn(1, 256, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(sc.eval()(x), sc[2](sc[1](nn.functional.avg_pool2d(x, 2))))


def test_bad_resnet_knobs_name_the_argument():
    with pytest.raises(ValueError, match="stem"):
        cifarzoo.create_model("resnet18", stem="vgg")
    with pytest.raises(ValueError, match="last_stride"):
        ResNetConfig(BasicBlock, (2, 2, 2, 2), last_stride=3)
    with pytest.raises(ValueError, match="drop_path_rate"):
        cifarzoo.create_model("resnet18", drop_path_rate=1.5)


def test_zero_init_residual_makes_blocks_identity():
    model = cifarzoo.create_model("resnet18", zero_init_residual=True).eval()
    block = model.stages[0][0]  # identity shortcut
    x = torch.rand(1, 64, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(block(x), x)
    pre = cifarzoo.create_model("preact_resnet164", zero_init_residual=True).eval()
    x = torch.randn(1, 64, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(pre.stages[0][1](x), x)  # pre-activation unit: zeroed last conv
    rir = cifarzoo.create_model("rir", zero_init_residual=True).eval()
    x = torch.rand(1, 96, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(rir.blocks[0](x)[:, :48], x[:, :48])  # residual stream passes through


# ----------------------------------------------------------------------------- Shake-Shake
def test_shake_shake_forward_alpha_and_backward_beta_differ():
    torch.manual_seed(0)
    x1 = torch.ones(64, 3, 2, 2, requires_grad=True)
    x2 = torch.zeros(64, 3, 2, 2, requires_grad=True)
    out = ShakeShake.apply(x1, x2)
    alpha = out[:, 0, 0, 0]
    assert torch.all(out == alpha.view(-1, 1, 1, 1)), "one coefficient per image"
    assert 0 <= alpha.min() and alpha.max() <= 1 and alpha.std() > 0.1
    out.sum().backward()
    beta = x1.grad[:, 0, 0, 0] / 12
    torch.testing.assert_close(x1.grad + x2.grad, torch.ones_like(x1))  # beta + (1 - beta)
    assert (beta - alpha).abs().max() > 0.1, "backward must draw a new coefficient"


def test_shake_shake_eval_is_the_average_and_deterministic():
    x1, x2 = torch.randn(2, 4, 3, 3), torch.randn(2, 4, 3, 3)
    torch.testing.assert_close(shake_shake(x1, x2, training=False), (x1 + x2) / 2)
    model = cifarzoo.create_model("shake_resnet26_2x32d").eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(x))


# ----------------------------------------------------------------------------- ShakeDrop / PyramidNet
def test_shakedrop_train_and_eval_scaling():
    torch.manual_seed(0)
    sd = ShakeDrop(0.5)
    x = torch.ones(20000, 1, 1, 1, requires_grad=True)
    y = sd.train()(x)
    scale = y.detach().flatten()
    assert scale.min() >= -1 and scale.max() <= 1
    assert (scale == 1).float().mean().item() == pytest.approx(0.5, abs=0.02)  # b = 1 half the time
    assert scale.mean().item() == pytest.approx(0.5, abs=0.02)  # E[b + a - ab] = p
    y.sum().backward()
    g = x.grad.flatten()
    assert g.min() >= 0 and g.max() <= 1 and torch.all(g[scale == 1] == 1)
    torch.testing.assert_close(sd.eval()(torch.full((2, 3), 2.0)), torch.full((2, 3), 1.0))


def test_pyramidnet_widths_decay_and_shortcuts():
    model = cifarzoo.create_model("pyramidnet110_a270")
    assert model.num_features == 16 + 270
    units = [u for stage in model.stages for u in stage]
    keeps = [u.shakedrop.keep_prob for u in units]
    assert keeps[-1] == pytest.approx(0.5) and keeps[0] == pytest.approx(1 - 0.5 / 54)
    assert all(a > b for a, b in zip(keeps, keeps[1:]))
    widths = [u.branch[-1].num_features for u in units]
    assert all(b - a in (4, 5, 6) for a, b in zip(widths, widths[1:]))  # +270/54 = 5 per unit, rounded
    assert all(sum(p.numel() for p in u.shortcut.parameters()) == 0 for u in units)
    x = torch.randn(1, 3, 8, 8)
    torch.testing.assert_close(PyramidShortcut(3, 5, 2)(x)[:, :3], nn.functional.avg_pool2d(x, 2))
    plain = cifarzoo.create_model("pyramidnet110_a270", shakedrop=False)
    assert not any(isinstance(m, ShakeDrop) for m in plain.modules())
    assert cifarzoo.create_model("pyramidnet272_a200").num_features == 4 * (16 + 200)


# ----------------------------------------------------------------------------- stochastic depth
def test_batch_stochastic_depth_drops_whole_batches_and_scales_at_test():
    torch.manual_seed(0)
    gate = BatchStochasticDepth(0.5).train()
    x = torch.rand(8, 4, 2, 2) + 0.1
    outcomes = set()
    for _ in range(50):
        y = gate(x)
        assert torch.equal(y, x) or torch.equal(y, torch.zeros_like(x)), "the whole batch shares one draw"
        outcomes.add(bool(y.any()))
    assert outcomes == {True, False}
    torch.testing.assert_close(gate.eval()(x), 0.5 * x)


def test_stochastic_depth_linear_decay_to_half():
    rates = survival_decay_rates(0.5, 54)
    assert rates[-1] == pytest.approx(0.5) and rates[0] == pytest.approx(0.5 / 54)
    model = cifarzoo.create_model("stochastic_depth_resnet110")
    gates = [m for m in model.modules() if isinstance(m, BatchStochasticDepth)]
    assert len(gates) == 54 and gates[-1].survival == pytest.approx(0.5)
    assert len([m for m in cifarzoo.create_model("stochastic_depth_resnet18").modules()
                if isinstance(m, BatchStochasticDepth)]) == 8


# ----------------------------------------------------------------------------- WRN / ResNeXt / GE
def test_wrn_dropout_between_convs():
    from cifarzoo.models.wrn import WideResNet
    model = WideResNet(10, 1, drop_rate=0.5)
    x = torch.randn(4, 3, 32, 32)
    model.train()
    assert not torch.allclose(model(x), model(x)), "drop_rate must be active in training"
    model.eval()
    torch.testing.assert_close(model(x), model(x))
    with pytest.raises(ValueError, match="depth"):
        WideResNet(27, 10)


def test_resnext_paper_layout_counts():
    from cifarzoo.models._resnext_blocks import resnext29_layout
    assert resnext29_layout(8, 64, "paper")[1] == (256, 512, 1024)
    assert resnext29_layout(8, 64, "kuangliu")[1] == (1024, 2048, 4096)
    m = cifarzoo.create_model("resnext29_32x4d", layout="paper")
    assert sum(p.numel() for p in m.parameters()) == 4_775_754  # osmr/imgclsmob resnext29_32x4d_cifar10
    with pytest.raises(ValueError, match="layout"):
        cifarzoo.create_model("resnext29_2x64d", layout="wide")


def test_ge_resnext_rejects_other_input_sizes():
    model = cifarzoo.create_model("ge_resnext29_8x64d").eval()
    with pytest.raises(ValueError, match="32x32"):
        model(torch.randn(1, 3, 16, 16))


# ----------------------------------------------------------------------------- ONNX export
def _export(name):
    onnx = pytest.importorskip("onnx")
    model = cifarzoo.create_model(name).eval()
    f = io.BytesIO()
    torch.onnx.export(model, torch.randn(1, 3, 32, 32), f, dynamo=False)
    graph = onnx.load_from_string(f.getvalue())
    onnx.checker.check_model(graph)
    ops = {n.op_type for n in graph.graph.node}
    assert not ops & {"RandomUniform", "RandomUniformLike", "Bernoulli", "RandomNormal"}, ops
    return ops


@pytest.mark.parametrize("name", ["shake_resnet26_2x32d", "stochastic_depth_resnet18", "rir"])
def test_onnx_export(name):
    _export(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet50_e5", "stochastic_depth_resnet110", "pyramidnet110_a270", "preact_resnet164", "wrn16_8",
                                  "senet18", "resnext29_2x64d", "ge_resnext29_8x64d"])
def test_onnx_export_heavy(name):
    _export(name)
