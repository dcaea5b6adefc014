"""Registry-wide model tests: every registered architecture is swept, so adding a model file
and one line in a parameter table under tests/param_tables/ is all a new architecture needs."""
import math

import pytest
import torch

import cifarzoo
from param_tables import all_params

ALL = cifarzoo.list_models()
PARAMS = all_params()
# Architectures too heavy for the default run's forward/backward on 2 CPU cores; run with -m slow.
HEAVY = {"resnet152", "pyramidnet272_a200", "densenet_bc250_k24", "densenet_bc190_k40", "efficientnet_b7",
         "nasnet_a", "coatnet_2", "dpn92", "ge_resnext29_8x64d", "resnext29_16x64d",
         "efficientnet_b6", "densenet161", "wrn28_10", "resnext29_8x64d", "inception_resnet_v2",
         "efficientnet_b5", "spp_d29_pd", "inception_v4", "coatnet_1", "resnet101", "pyramidnet110_a270",
         "resnext29_4x64d", "resnext29_32x4d"}


def _marks(name):
    return [pytest.mark.slow] if name in HEAVY else []


def test_every_model_has_a_parameter_reference():
    missing = sorted(set(ALL) - set(PARAMS))
    assert not missing, f"no expected parameter count for: {missing}"
    stale = sorted(set(PARAMS) - set(ALL))
    assert not stale, f"parameter table names unregistered models: {stale}"


@pytest.mark.parametrize("name", ALL)
def test_parameter_count(name):
    model = cifarzoo.create_model(name)
    n = sum(p.numel() for p in model.parameters())
    expected, source = PARAMS[name]
    assert n == expected, f"{name}: {n:,} parameters, expected {expected:,} ({source})"


@pytest.mark.parametrize("name", ALL)
def test_state_dict_has_one_name_per_tensor(name):
    """A module registered under two attribute names would put its tensors in the state dict
    twice; weight files and strict loading then disagree about which keys exist."""
    from cifarzoo.pretrained import alias_groups
    shared = [g for g in alias_groups(cifarzoo.create_model(name).state_dict()) if len(g) > 1]
    assert not shared, f"{name}: tensors reachable under several names: {shared[:3]}"


@pytest.mark.parametrize("name", [pytest.param(n, marks=_marks(n)) for n in ALL])
def test_forward_backward(name):
    torch.manual_seed(0)
    model = cifarzoo.create_model(name)
    info = model.model_info
    assert info.name == name and info.input_size == (3, 32, 32)
    x = torch.randn(2, *info.input_size)
    model.train()
    out = model(x)
    assert out.shape == (2, 10)
    assert torch.isfinite(out).all()
    out.logsumexp(1).mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None for g in grads), "some parameter got no gradient"
    assert all(torch.isfinite(g).all() for g in grads)

    model.eval()
    with torch.no_grad():
        feats = model.forward_features(x)
        pooled = model.forward_head(feats, pre_logits=True)
        assert pooled.shape == (2, model.num_features)
        torch.testing.assert_close(model.forward_head(feats), model(x))
        model.reset_classifier(100)
        assert model.num_classes == 100
        assert model(x).shape == (2, 100)
        assert model.get_classifier() is not None


@pytest.mark.parametrize("name", [pytest.param(n, marks=_marks(n)) for n in ALL])
def test_hundred_classes(name):
    model = cifarzoo.create_model(name, num_classes=100).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 100)
    assert model.num_classes == 100


def test_residual_families_take_drop_path_rate():
    """Every family with residual paths exposes stochastic depth as `drop_path_rate`."""
    residual = {"resnet_cifar", "resnet", "preact_resnet", "wrn", "resnext", "senet", "shake_shake",
                "pyramidnet", "rir", "dla", "dpn", "regnet", "mobilenetv2", "mobilenetv3", "efficientnet",
                "mnasnet", "vit", "mobilevit", "coatnet", "cvt", "swin", "stochastic_depth", "spp_resnext",
                "ge_resnext", "shufflenet"}
    for name in ALL:
        info = cifarzoo.model_info(name)
        if info.family in residual:
            assert "drop_path_rate" in info.knobs, f"{name} ({info.family}) has no drop_path_rate"
