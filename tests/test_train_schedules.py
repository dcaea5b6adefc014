"""Learning-rate schedules: shapes checked against their definitions, per iteration."""
import math

import pytest
import torch

from cifarzoo.train.config import TrainConfig
from cifarzoo.train.schedules import LRController, Plateau, build_lr_controller, lr_multiplier

SPE = 10  # steps per epoch


def lrs(cfg, spe=SPE):
    f = lr_multiplier(cfg, spe)
    return [cfg.lr * f(i) for i in range(cfg.epochs * spe)]


def test_linear_warmup_then_cosine_to_min_lr():
    cfg = TrainConfig(lr=0.1, epochs=20, schedule="cosine", warmup_epochs=2, warmup_start_factor=0.01, min_lr=1e-4)
    v = lrs(cfg)
    warm = 2 * SPE
    # linear ramp from 0.001 to 0.1 over 20 iterations, equal increments
    assert v[0] == pytest.approx(0.001)
    diffs = [v[i + 1] - v[i] for i in range(warm - 1)]
    assert max(diffs) - min(diffs) < 1e-12 and min(diffs) > 0
    assert v[warm] == pytest.approx(0.1)  # the peak right after warm-up
    assert all(v[i + 1] <= v[i] + 1e-15 for i in range(warm, len(v) - 1))  # monotone decay
    # cosine reaches min_lr at the end of training (iteration == total)
    f = lr_multiplier(cfg, SPE)
    assert cfg.lr * f(cfg.epochs * SPE) == pytest.approx(1e-4)
    assert v[-1] == pytest.approx(1e-4, abs=1e-5)
    # half-way through the cosine the lr is the mean of peak and floor
    mid = warm + (len(v) - warm) // 2
    assert v[mid] == pytest.approx((0.1 + 1e-4) / 2, rel=1e-3)


def test_multistep_drops_at_milestones():
    cfg = TrainConfig(lr=0.1, epochs=10, schedule="multistep", milestones=[3, 6], gamma=0.2)
    v = lrs(cfg)
    assert v[3 * SPE - 1] == pytest.approx(0.1) and v[3 * SPE] == pytest.approx(0.02)
    assert v[6 * SPE - 1] == pytest.approx(0.02) and v[6 * SPE] == pytest.approx(0.004)
    assert len(set(round(x, 12) for x in v)) == 3


def test_multistep_with_warmup_keeps_absolute_milestones():
    cfg = TrainConfig(lr=0.1, epochs=10, schedule="multistep", milestones=[4], gamma=0.1, warmup_epochs=2)
    v = lrs(cfg)
    assert v[2 * SPE] == pytest.approx(0.1) and v[4 * SPE - 1] == pytest.approx(0.1)
    assert v[4 * SPE] == pytest.approx(0.01)


def test_step_and_exponential_are_per_epoch():
    v = lrs(TrainConfig(lr=1.0, epochs=6, schedule="step", step_size=2, gamma=0.5))
    assert [v[e * SPE] for e in range(6)] == pytest.approx([1, 1, 0.5, 0.5, 0.25, 0.25])
    assert len(set(v[:SPE])) == 1
    v = lrs(TrainConfig(lr=1.0, epochs=4, schedule="exponential", gamma=0.9))
    assert [v[e * SPE] for e in range(4)] == pytest.approx([1, 0.9, 0.81, 0.729])


def test_onecycle_peak_and_ends():
    cfg = TrainConfig(lr=0.4, epochs=10, schedule="onecycle", onecycle_pct=0.3, onecycle_div=25,
                      onecycle_final_div=1e4)
    v = lrs(cfg)
    peak = max(range(len(v)), key=v.__getitem__)
    assert peak == round(0.3 * len(v))
    assert v[peak] == pytest.approx(0.4)
    assert v[0] == pytest.approx(0.4 / 25)
    assert lr_multiplier(cfg, SPE)(len(v)) * 0.4 == pytest.approx(0.4 / 25 / 1e4)
    assert all(v[i] < v[i + 1] for i in range(peak))
    assert all(v[i] >= v[i + 1] for i in range(peak, len(v) - 1))


def test_linear_decay_and_constant_warmup():
    cfg = TrainConfig(lr=0.4, epochs=10, schedule="linear", warmup_epochs=1, warmup_start_factor=0.1)
    v = lrs(cfg)
    assert v[SPE] == pytest.approx(0.4)
    assert lr_multiplier(cfg, SPE)(100) == pytest.approx(0.0)
    d = [v[i] - v[i + 1] for i in range(SPE, len(v) - 1)]
    assert max(d) - min(d) < 1e-12  # straight line
    # He et al.'s ResNet-110: lr 0.01 for 400 iterations, then 0.1
    cfg = TrainConfig(lr=0.1, epochs=3, schedule="constant", warmup_iters=4, warmup_method="constant",
                      warmup_start_factor=0.1)
    assert lrs(cfg)[:6] == pytest.approx([0.01] * 4 + [0.1] * 2)


def test_plateau_follows_torch_semantics():
    """Same decisions as torch.optim.lr_scheduler.ReduceLROnPlateau on the same loss sequence."""
    losses = [1.0, 0.9, 0.9, 0.9, 0.95, 0.9, 0.85, 0.85, 0.86, 0.9, 0.9, 0.91, 0.7]
    p = Plateau(factor=0.5, patience=2, threshold=1e-4, base_lr=0.1)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    ref = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=2, threshold=1e-4)
    for loss in losses:
        p.step(loss)
        ref.step(loss)
        assert 0.1 * p.scale == pytest.approx(opt.param_groups[0]["lr"])
    assert p.scale < 1


def test_controller_applies_plateau_and_round_trips():
    cfg = TrainConfig(lr=0.1, epochs=5, schedule="plateau", plateau_patience=0, plateau_factor=0.5)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=cfg.lr)
    ctl = build_lr_controller(cfg, opt, SPE)
    ctl.step()
    ctl.epoch_end(1.0)
    assert ctl.lr == pytest.approx(0.1)
    assert ctl.epoch_end(1.0)  # no improvement, patience 0: halve
    assert ctl.lr == pytest.approx(0.05)
    state = ctl.state_dict()
    opt2 = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=cfg.lr)
    ctl2 = build_lr_controller(cfg, opt2, SPE)
    ctl2.load_state_dict(state)
    assert ctl2.lr == pytest.approx(0.05) and ctl2.it == 1


def test_steps_per_epoch_must_be_positive():
    with pytest.raises(ValueError, match="steps_per_epoch"):
        lr_multiplier(TrainConfig(), 0)


def test_controller_sets_every_group():
    a, b = torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([{"params": [a]}, {"params": [b], "weight_decay": 0}], lr=0.2)
    ctl = LRController(opt, lambda it: 0.5 ** it)
    ctl.step()
    ctl.step()
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.05, 0.05])
    assert not math.isnan(ctl.lr)
