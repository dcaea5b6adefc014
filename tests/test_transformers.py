"""Properties of the transformer families (vit, mobilevit, coatnet, cvt, swin) beyond the
registry-wide sweep in test_models.py: attention locality, position-bias indexing, patch
unfolding, the 32x32 adaptations, counts tied back to the papers, and ONNX export."""
import io
import warnings

import pytest
import torch

import cifarzoo
from cifarzoo.models import coatnet, cvt, mobilevit, swin
from cifarzoo.models._transformer import RelativePositionBias, relative_position_index
from cifarzoo.models.layers import DropPath


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def meta_model(name, **kwargs):
    """Build on the meta device: structure, shapes and counts without allocating or initialising
    tens of millions of weights (keeps these tests fast on a shared CPU)."""
    with torch.device("meta"):
        return cifarzoo.create_model(name, **kwargs)


# ---------------------------------------------------------------- relative position bias
def test_relative_position_index_numbers_offsets():
    h, w = 3, 4
    idx = relative_position_index(h, w)
    assert idx.shape == (h * w, h * w)
    assert idx.unique().numel() == (2 * h - 1) * (2 * w - 1)
    coords = [(i // w, i % w) for i in range(h * w)]
    seen = {}
    for a in range(h * w):
        for b in range(h * w):
            off = (coords[a][0] - coords[b][0], coords[a][1] - coords[b][1])
            # one table row per offset, and different offsets never share a row
            assert seen.setdefault(off, idx[a, b].item()) == idx[a, b].item()
    assert len(set(seen.values())) == len(seen)


def test_relative_position_bias_shape_and_sharing():
    rb = RelativePositionBias(heads=3, h=4, w=4)
    bias = rb()
    assert bias.shape == (3, 16, 16)
    # token pairs (0 -> 5) and (10 -> 15) have the same offset (1, 1): same bias for every head
    torch.testing.assert_close(bias[:, 5, 0], bias[:, 15, 10])
    assert not torch.equal(bias[:, 5, 0], bias[:, 0, 5])  # opposite offsets are distinct entries


# ---------------------------------------------------------------- swin windows
def _influence(attn, size, dim, pos):
    """Which output tokens change when only the input token at ``pos`` changes."""
    torch.manual_seed(0)
    x = torch.randn(1, size, size, dim)
    y = x.clone()
    y[0, pos[0], pos[1]] += 1.0
    with torch.no_grad():
        diff = (attn(y) - attn(x)).abs().sum(-1)[0]
    return diff > 1e-6


def test_window_attention_stays_inside_its_window():
    attn = swin.WindowAttention(dim=8, heads=2, ws=4, size=16, shift=0)
    changed = _influence(attn, 16, 8, (5, 6))
    expected = torch.zeros(16, 16, dtype=torch.bool)
    expected[4:8, 4:8] = True
    assert torch.equal(changed, expected)


def test_shifted_window_mask_blocks_wrapped_regions():
    # with shift 2 the corner token (0, 0) is rolled into the bottom-right window next to tokens
    # from the opposite image edges; the mask must keep it to its own 2x2 region
    attn = swin.WindowAttention(dim=8, heads=2, ws=4, size=16, shift=2)
    changed = _influence(attn, 16, 8, (0, 0))
    expected = torch.zeros(16, 16, dtype=torch.bool)
    expected[0:2, 0:2] = True
    assert torch.equal(changed, expected)
    # an interior token's shifted window straddles the unshifted window borders
    changed = _influence(attn, 16, 8, (5, 6))
    expected = torch.zeros(16, 16, dtype=torch.bool)
    expected[2:6, 6:10] = True
    assert torch.equal(changed, expected)


def test_shifted_window_mask_values():
    mask = swin.shifted_window_mask(8, 4, 2)
    assert mask.shape == (4, 16, 16)
    assert (mask[0] == 0).all()  # the top-left window holds one region only
    assert torch.isinf(mask[3]).any() and (mask.diagonal(dim1=1, dim2=2) == 0).all()


def test_swin_stage_layout_for_32x32():
    model = meta_model("swin_t")
    blocks = [m for m in model.modules() if isinstance(m, swin.SwinBlock)]
    ws = [b.attn.ws for b in blocks]
    shifts = [b.attn.shift for b in blocks]
    assert ws == [4] * 10 + [2] * 2                       # stage 4 (2x2 tokens) clips the window
    assert shifts == [0, 2, 0, 2] + [0] * 8                # no shift once a window covers the map
    assert model.forward_features(torch.randn(1, 3, 32, 32, device="meta")).shape == (1, 4, 768)


@pytest.mark.parametrize("name, official", [("swin_t", 28_288_354), ("swin_s", 49_606_258)])
def test_swin_matches_official_count_up_to_the_adaptation(name, official):
    model = meta_model(name, num_classes=1000)
    depths, heads = swin.CONFIGS[name[-1]].depths, swin.CONFIGS[name[-1]].heads
    # official: 4x4 patch embedding and 7x7 windows (13x13 bias tables; 7x7 at stage 4 too)
    patch_delta = 3 * (16 - 4) * 96
    table_ours = [49, 49, 49, 9]
    table_delta = sum(d * h * (169 - t) for d, h, t in zip(depths, heads, table_ours))
    assert n_params(model) + patch_delta + table_delta == official


# ---------------------------------------------------------------- mobilevit
def test_unfold_fold_round_trip_and_grouping():
    x = torch.arange(2 * 3 * 4 * 6, dtype=torch.float32).reshape(2, 3, 4, 6)
    seq = mobilevit.unfold_patches(x)
    assert seq.shape == (2 * 4, 2 * 3, 3)
    torch.testing.assert_close(mobilevit.fold_patches(seq, 2, 4, 6), x)
    # sequence 1 of image 0 is pixel (0, 1) of every 2x2 patch, patches in row-major order
    torch.testing.assert_close(seq[1, :, 0], x[0, 0, 0::2, 1::2].flatten())


@pytest.mark.parametrize("name, paper_m", [("mobilevit_xxs", 1.3), ("mobilevit_xs", 2.3), ("mobilevit_s", 5.6)])
def test_mobilevit_keeps_paper_count(name, paper_m):
    assert round(n_params(meta_model(name, num_classes=1000)) / 1e6, 1) == paper_m


def test_mobilevit_transformer_sees_16_8_4_maps():
    model = meta_model("mobilevit_xxs").eval()
    sizes = []
    hooks = [m.register_forward_pre_hook(lambda mod, inp: sizes.append(inp[0].shape[-1]))
             for m in model.modules() if isinstance(m, mobilevit.MobileViTBlock)]
    assert model.forward_features(torch.randn(1, 3, 32, 32, device="meta")).shape == (1, 320, 4, 4)
    for h in hooks:
        h.remove()
    assert sizes == [16, 8, 4]


# ---------------------------------------------------------------- coatnet
def test_coatnet_transformer_stages_see_8x8_and_4x4():
    model = meta_model("coatnet_0")
    grids = [m.attn.rel_bias.n for m in model.modules() if isinstance(m, coatnet.TransformerBlock)]
    assert grids == [64] * 5 + [16] * 2
    kinds = [type(b).__name__ for stage in model.stages for b in stage]
    assert kinds == ["MBConv"] * 5 + ["TransformerBlock"] * 7  # C-C-T-T with depths 2, 3, 5, 2


@pytest.mark.parametrize("name, paper_m", [("coatnet_0", 25), ("coatnet_1", 42), ("coatnet_2", 75)])
def test_coatnet_within_3_percent_of_paper(name, paper_m):
    n = n_params(meta_model(name, num_classes=1000))
    assert abs(n / 1e6 - paper_m) / paper_m < 0.03


def test_coatnet_relative_bias_changes_attention():
    torch.manual_seed(0)
    block = coatnet.TransformerBlock(32, 32, 1, 4, 0.0).eval()
    x = torch.randn(1, 32, 4, 4)
    with torch.no_grad():
        before = block(x)
        block.attn.rel_bias.table.normal_(std=5.0)
        assert not torch.allclose(before, block(x), atol=1e-4)


# ---------------------------------------------------------------- cvt
def test_cvt_tokens_and_count():
    model = meta_model("cvt").eval()
    feats = model.forward_features(torch.randn(2, 3, 32, 32, device="meta"))
    assert feats.shape == (2, 1 + 8 * 8, 384)                  # class token + 8x8 stage-3 map
    assert [s.embed.stride[0] for s in model.stages] == [1, 2, 2]
    assert [len(s.blocks) for s in model.stages] == [1, 2, 10]
    assert round(n_params(meta_model("cvt", num_classes=1000)) / 1e6) == 20  # paper: 20M


def test_cvt_keys_are_squeezed():
    attn = cvt.ConvAttention(dim=12, heads=3, has_cls=True)
    assert attn.conv_q[0].stride == (1, 1) and attn.conv_k[0].stride == (2, 2) and attn.conv_v[0].stride == (2, 2)
    with torch.no_grad():
        assert attn(torch.randn(2, 1 + 8 * 8, 12), 8, 8).shape == (2, 65, 12)


# ---------------------------------------------------------------- vit
def test_vit_knobs_and_variants():
    knobs = cifarzoo.model_info("vit").knobs
    assert {"depth", "heads", "patch_size", "embed_dim", "mlp_ratio", "drop_path_rate", "drop_rate"} <= set(knobs)
    m = meta_model("vit", depth=2, heads=4, patch_size=8, embed_dim=64)
    assert len(m.blocks) == 2 and m.blocks[0].attn.heads == 4 and m.pos_embed.shape == (1, 17, 64)
    for name, (h, l) in {"vit_h1_l1": (1, 1), "vit_h1_l8": (1, 8), "vit_h4_l2": (4, 2)}.items():
        m = meta_model(name)
        assert (m.blocks[0].attn.heads, len(m.blocks), m.num_features) == (h, l, 512)


def test_vit_small_is_deit_s_up_to_the_patch_grid():
    n = n_params(meta_model("vit_small_p4", num_classes=1000))
    # DeiT-S / ViT-S at 224 with 16x16 patches has 22,050,664 parameters: ours differs only by
    # the patch embedding (3*16*16 vs 3*4*4 inputs) and position table (197 vs 65 tokens)
    assert n + 3 * (256 - 16) * 384 + (197 - 65) * 384 == 22_050_664


@pytest.mark.parametrize("kwargs, word", [({"patch_size": 5}, "patch_size"), ({"heads": 7}, "heads"),
                                          ({"depth": 0}, "depth"), ({"drop_rate": 1.0}, "drop_rate"),
                                          ({"drop_path_rate": 1.0}, "drop_path_rate")])
def test_vit_rejects_bad_knobs(kwargs, word):
    with pytest.raises(ValueError, match=word):
        cifarzoo.create_model("vit", **kwargs)


@pytest.mark.parametrize("name", ["vit_h1_l1", "swin_t", "coatnet_0"])
def test_fixed_resolution_models_name_the_input_size(name):
    with pytest.raises(ValueError, match="32x32"):
        meta_model(name)(torch.randn(1, 3, 64, 64, device="meta"))


# ---------------------------------------------------------------- stochastic depth
@pytest.mark.parametrize("name, n_blocks", [("vit_h4_l2", 2), ("swin_t", 12), ("cvt", 13), ("coatnet_0", 12),
                                            ("mobilevit_xxs", 12)])
def test_drop_path_linear_decay(name, n_blocks):
    model = meta_model(name, drop_path_rate=0.3)
    rates = [m.drop_prob for m in model.modules() if isinstance(m, DropPath)]
    # one DropPath module per residual block (shared by its branches), rising linearly to 0.3
    assert len(rates) == n_blocks
    assert rates == pytest.approx([0.3 * i / (n_blocks - 1) for i in range(n_blocks)])


def test_drop_path_randomises_training_outputs():
    torch.manual_seed(0)
    model = cifarzoo.create_model("vit", depth=4, embed_dim=32, heads=2, patch_size=8, drop_path_rate=0.5).train()
    x = torch.randn(4, 3, 32, 32)
    outs = [model(x) for _ in range(4)]
    assert any(not torch.allclose(outs[0], o) for o in outs[1:])


# ---------------------------------------------------------------- onnx
def _export_and_compare(name):
    onnx = pytest.importorskip("onnx")
    from onnx.reference import ReferenceEvaluator
    torch.manual_seed(0)
    model = cifarzoo.create_model(name).eval()
    x = torch.randn(2, 3, 32, 32)
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("error", torch.jit.TracerWarning)  # a trace warning means a baked-in branch
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, x, f, dynamo=False)
    proto = onnx.load_from_string(f.getvalue())
    onnx.checker.check_model(proto)
    out = ReferenceEvaluator(proto).run(None, {proto.graph.input[0].name: x.numpy()})[0]
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(out), model(x), atol=1e-4, rtol=1e-4)


def test_onnx_export_vit():
    _export_and_compare("vit_h1_l1")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mobilevit_xxs", "coatnet_0", "cvt", "swin_t"])
def test_onnx_export_matches_pytorch(name):
    _export_and_compare(name)
