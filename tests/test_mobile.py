"""Behaviour of the `mobile` group beyond the registry-wide sweep of test_models.py: channel shuffle,
CIFAR strides and layouts the documented counts depend on, compound scaling, the SPP variants of
document 001, stochastic depth / zero-init placement, ONNX export."""
import io

import pytest
import torch

import cifarzoo
from cifarzoo.models._mobile_blocks import InvertedResidual, channel_shuffle
from cifarzoo.models.efficientnet import MBConv
from cifarzoo.models.layers import DropPath
from cifarzoo.models.mobilenetv3 import Bneck, SqueezeExciteFC
from cifarzoo.models.shufflenet import ShuffleUnit
from cifarzoo.models.spp_resnext import SPP


def _params(model):
    return sum(p.numel() for p in model.parameters())


def _final_map(name, **knobs):
    model = cifarzoo.create_model(name, **knobs).eval()
    with torch.no_grad():
        return model.forward_features(torch.randn(1, 3, 32, 32)).shape[1:]


# ----------------------------------------------------------------------------- channel shuffle
@pytest.mark.parametrize("groups", [2, 3, 4])
def test_channel_shuffle_interleaves_groups(groups):
    c = 4 * groups
    x = torch.arange(c, dtype=torch.float32).view(1, c, 1, 1).expand(2, c, 3, 3).contiguous()
    y = channel_shuffle(x, groups)
    # channel j of group i moves to position j * groups + i
    expected = torch.tensor([i * (c // groups) + j for j in range(c // groups) for i in range(groups)])
    assert torch.equal(y[0, :, 0, 0], expected.float())


def test_channel_shuffle_keeps_channels_last_and_values():
    x = torch.randn(2, 12, 5, 5)
    cl = channel_shuffle(x.contiguous(memory_format=torch.channels_last), 3)
    assert cl.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(cl, channel_shuffle(x, 3))
    assert channel_shuffle(x, 1) is x


def test_shufflenetv2_channels_last_matches_nchw():
    model = cifarzoo.create_model("shufflenetv2_x0_5").eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        ref = model(x)
        out = model.to(memory_format=torch.channels_last)(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


# ----------------------------------------------------------------------------- layouts
@pytest.mark.parametrize("name,channels,size", [
    ("mobilenet", 1024, 2), ("mobilenetv2_x1_0", 1280, 4), ("mobilenetv2_x0_5", 1280, 4),
    ("mobilenetv2_x1_4", 1792, 4), ("mobilenetv3_large", 960, 2), ("mobilenetv3_small", 576, 2),
    ("shufflenet_g3", 960, 4), ("shufflenetv2_x1_0", 1024, 4), ("efficientnet_b0", 320, 2),
    ("mnasnet1_0", 1280, 2), ("pnasnet_a", 176, 8), ("pnasnet_b", 128, 8), ("spp_d11_pa", 1024, 8),
])
def test_cifar_strides_and_widths(name, channels, size):
    """Stride-1 stems (and MobileNetV2's stride-1 24-channel stage) keep 32x32 inputs large."""
    assert _final_map(name) == (channels, size, size)


def test_mobilenetv2_alias_is_the_x1_0_network():
    a, b = cifarzoo.create_model("mobilenetv2"), cifarzoo.create_model("mobilenetv2_x1_0")
    assert [(k, v.shape) for k, v in a.state_dict().items()] == [(k, v.shape) for k, v in b.state_dict().items()]


def test_mobilenetv3_small_has_se_on_last_conv_large_does_not():
    small, large = cifarzoo.create_model("mobilenetv3_small"), cifarzoo.create_model("mobilenetv3_large")
    assert isinstance(small.head_conv[-1], SqueezeExciteFC)
    assert not any(isinstance(m, SqueezeExciteFC) for m in large.head_conv)
    # the documented Small count is the Large-style layout plus exactly that SE (576 -> 144 -> 576)
    assert _params(small.head_conv[-1]) == 576 * 144 + 144 + 144 * 576 + 576
    se_blocks = [b for b in large.blocks if isinstance(b.se, SqueezeExciteFC)]
    assert len(se_blocks) == 8 and all(isinstance(b, Bneck) for b in se_blocks)


def test_shufflenet_first_pointwise_is_dense_then_grouped():
    model = cifarzoo.create_model("shufflenet_g8")
    units = [m for m in model.modules() if isinstance(m, ShuffleUnit)]
    assert len(units) == 16
    assert units[0].conv1[0].groups == 1 and all(u.conv1[0].groups == 8 for u in units[1:])
    # bottleneck width is a quarter of the stage width (384 / 768 / 1536)
    assert [u.conv2[0].out_channels for u in (units[0], units[4], units[12])] == [96, 192, 384]


@pytest.mark.parametrize("name,blocks,last", [
    ("efficientnet_b0", 16, 320), ("efficientnet_b1", 23, 320), ("efficientnet_b3", 26, 384),
    ("efficientnet_b7", 55, 640)])
def test_efficientnet_compound_scaling(name, blocks, last):
    model = cifarzoo.create_model(name)
    mb = [m for m in model.modules() if isinstance(m, MBConv)]
    assert len(mb) == blocks and model.num_features == last
    # squeeze-excitation width is a quarter of each block's input width
    for b in mb:
        assert b.se.reduce.out_channels == max(1, b.expand[0].in_channels // 4)


def test_nasnet_a_is_6_at_768():
    model = cifarzoo.create_model("nasnet_a")
    assert len(model.cells) == 20 and model.num_features == 768
    assert model.stem[0].out_channels == 96
    assert _final_map("nasnet_a") == (768, 8, 8)


# ----------------------------------------------------------------------------- SPP-ResNeXt (document 001)
def test_spp_module_keeps_size_and_widens_with_kernels():
    x = torch.randn(2, 64, 8, 8)
    assert SPP(64, (3, 5, 7))(x).shape == x.shape
    assert _params(SPP(64, (3, 5, 7))) > _params(SPP(64, (5,)))
    with pytest.raises(ValueError, match="odd"):
        SPP(64, (4,))


@pytest.mark.parametrize("depth,mib", [(11, 7.36), (20, 13.4), (29, 19.4)])
def test_spp_plain_networks_match_document_001_checkpoint_sizes(depth, mib):
    """Document 001's weight column (MB) is the fp32 checkpoint: parameters + BN buffers."""
    model = cifarzoo.create_model(f"spp_d{depth}_pn")
    assert not any(isinstance(m, SPP) for m in model.modules())
    n = _params(model) + sum(b.numel() for b in model.buffers())
    assert abs(n * 4 / 2 ** 20 - mib) / mib < 0.01


@pytest.mark.parametrize("letter,kernels", [("a", (3,)), ("b", (5,)), ("c", (7,)), ("d", (3, 5, 7))])
def test_spp_variants_carry_their_pooling_kernels(letter, kernels):
    model = cifarzoo.create_model(f"spp_d11_p{letter}")
    spps = [m for m in model.modules() if isinstance(m, SPP)]
    assert len(spps) == 3 and all(s.kernels == kernels for s in spps)


def test_spp_depth_must_be_9n_plus_2():
    from cifarzoo.models.spp_resnext import SPPResNeXt, SPPResNeXtConfig
    with pytest.raises(ValueError, match="9n\\+2"):
        SPPResNeXt(SPPResNeXtConfig(depth=12))


# ----------------------------------------------------------------------------- stochastic depth, zero-init
@pytest.mark.parametrize("name", ["mobilenetv2_x0_5", "mobilenetv3_small", "efficientnet_b0", "mnasnet0_5",
                                  "shufflenet_g2", "spp_d11_pn"])
def test_drop_path_only_on_identity_paths(name):
    model = cifarzoo.create_model(name, drop_path_rate=0.3)
    drops = [m for m in model.modules() if isinstance(m, DropPath)]
    assert drops and 0 < max(d.drop_prob for d in drops) <= 0.3
    for m in model.modules():
        if isinstance(m, (InvertedResidual, MBConv, Bneck)):
            has_identity = getattr(m, "use_residual", getattr(m, "has_skip", False))
            assert isinstance(m.drop_path, DropPath) == has_identity


def test_drop_path_is_random_in_train_and_off_in_eval():
    torch.manual_seed(0)
    model = cifarzoo.create_model("mobilenetv2_x0_5", drop_path_rate=0.5, drop_rate=0.0)
    x = torch.randn(4, 3, 32, 32)
    model.train()
    assert not torch.allclose(model(x), model(x))
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(x))


@pytest.mark.parametrize("name,block", [("mobilenetv2_x0_5", InvertedResidual), ("efficientnet_b0", MBConv),
                                        ("mobilenetv3_small", Bneck)])
def test_zero_init_residual_makes_identity_blocks(name, block):
    model = cifarzoo.create_model(name, zero_init_residual=True).eval()
    residual = [m for m in model.modules() if isinstance(m, block) and
                getattr(m, "use_residual", getattr(m, "has_skip", False))]
    assert residual
    x = torch.randn(2, residual[0].zero_init_target.num_features, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(residual[0](x), x)


# ----------------------------------------------------------------------------- ONNX export
def _export(model, x):
    onnx = pytest.importorskip("onnx")
    f = io.BytesIO()
    torch.onnx.export(model.eval(), x, f, dynamo=False, input_names=["x"])
    graph = onnx.load_from_string(f.getvalue())
    onnx.checker.check_model(graph)
    ops = {n.op_type for n in graph.graph.node}
    assert not ops & {"RandomUniform", "RandomUniformLike", "Bernoulli", "RandomNormal"}, ops
    return graph


def test_onnx_export_shufflenetv2_matches_torch():
    """The traced channel shuffle (view/transpose) computes the same permutation in ONNX."""
    pytest.importorskip("onnx")
    from onnx.reference import ReferenceEvaluator
    torch.manual_seed(0)
    model, x = cifarzoo.create_model("shufflenetv2_x0_5").eval(), torch.randn(1, 3, 32, 32)
    out = ReferenceEvaluator(_export(model, x)).run(None, {"x": x.numpy()})[0]
    with torch.no_grad():
        ref = model(x).numpy()
    assert abs(out - ref).max() < 1e-3


@pytest.mark.parametrize("name", ["mobilenetv3_small", "mobilenetv2_x0_5", "shufflenet_g3", "pnasnet_a",
                                  "efficientnet_b0", "mnasnet0_5", "mobilenet"])
def test_onnx_export(name):
    _export(cifarzoo.create_model(name), torch.randn(1, 3, 32, 32))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["nasnet_a", "spp_d11_pd", "mobilenetv3_large", "pnasnet_b"])
def test_onnx_export_heavy(name):
    _export(cifarzoo.create_model(name), torch.randn(1, 3, 32, 32))
