"""Optimizers: parameter groups, SAM / ASAM perturbations and descent, AdaBound's bounds."""
import math

import pytest
import torch
import torch.nn as nn

from cifarzoo.train.config import TrainConfig
from cifarzoo.train.optim import SAM, AdaBound, build_optimizer, param_groups


def toy_problem(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(64, 5, generator=g)
    w_true = torch.randn(5, 1, generator=g)
    y = x @ w_true + 0.01 * torch.randn(64, 1, generator=g)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 1))
    return model, x, y


def test_param_groups_exclude_norm_and_bias():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.LazyLinear(2))
    model(torch.randn(2, 3, 8, 8))
    groups = param_groups(model, 5e-4, no_wd_norm_bias=True)
    assert [g["weight_decay"] for g in groups] == [5e-4, 0.0]
    assert all(p.ndim > 1 for p in groups[0]["params"]) and all(p.ndim <= 1 for p in groups[1]["params"])
    assert len(groups[0]["params"]) == 2 and len(groups[1]["params"]) == 4  # conv/linear weights; 4 vectors
    assert len(param_groups(model, 5e-4, False)) == 1


@pytest.mark.parametrize("adaptive", [False, True])
def test_sam_perturbation_has_radius_rho_and_restores(adaptive):
    model, x, y = toy_problem()
    opt = SAM(torch.optim.SGD(model.parameters(), lr=0.1), rho=0.05, adaptive=adaptive, eta=0.01)
    nn.functional.mse_loss(model(x), y).backward()
    before = [p.detach().clone() for p in model.parameters()]
    scale = [p.abs() + 0.01 for p in before] if adaptive else [torch.ones_like(p) for p in before]
    opt.first_step()
    e = [p.detach() - b for p, b in zip(model.parameters(), before)]
    # SAM: ||e|| = rho;  ASAM: ||T^-1 e|| = rho with T = |w| + eta
    norm = math.sqrt(sum(((d / s) ** 2).sum().item() for d, s in zip(e, scale)))
    assert norm == pytest.approx(0.05, rel=1e-4)
    # the perturbation climbs: the loss at w + e is higher
    with torch.no_grad():
        assert nn.functional.mse_loss(model(x), y) > 0
    opt.restore()
    for p, b in zip(model.parameters(), before):
        torch.testing.assert_close(p.detach(), b, rtol=0, atol=1e-7)


@pytest.mark.parametrize("name", ["sam", "asam"])
def test_sam_decreases_loss_on_toy_problem(name):
    model, x, y = toy_problem()
    cfg = TrainConfig(optimizer=name, lr=0.05, momentum=0.9, weight_decay=0.0, rho=0.05 if name == "sam" else 0.5)
    opt = build_optimizer(cfg, model)
    assert isinstance(opt, SAM) and opt.adaptive == (name == "asam")

    def closure():
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        return loss

    first = closure().item()
    for _ in range(150):
        loss = opt.step(closure)
    final = nn.functional.mse_loss(model(x), y).item()
    assert final < 0.1 * first, (first, final)
    assert opt.state_dict()["param_groups"][0]["lr"] == 0.05


def test_sam_needs_closure_and_positive_rho():
    model, _, _ = toy_problem()
    with pytest.raises(ValueError, match="rho"):
        SAM(torch.optim.SGD(model.parameters(), lr=0.1), rho=0.0)
    with pytest.raises(RuntimeError, match="closure"):
        SAM(torch.optim.SGD(model.parameters(), lr=0.1)).step()


def test_adabound_bounds_converge_to_final_lr():
    p = torch.zeros(3, requires_grad=True)
    opt = AdaBound([p], lr=1e-3, final_lr=0.1, gamma=1e-3)
    g = opt.param_groups[0]
    prev = None
    for t in (1, 10, 100, 1000, 10_000, 1_000_000):
        lo, hi = opt.bounds(g, t)
        assert 0 <= lo < 0.1 < hi
        if prev:
            assert lo >= prev[0] and hi <= prev[1]  # the band tightens
        prev = (lo, hi)
    lo, hi = opt.bounds(g, 10_000_000)
    assert lo == pytest.approx(0.1, rel=1e-3) and hi == pytest.approx(0.1, rel=1e-3)
    # final_lr follows the schedule: halving lr halves the bounds
    g["lr"] = 0.5e-3
    lo_half, hi_half = opt.bounds(g, 1000)
    g["lr"] = 1e-3
    lo_full, hi_full = opt.bounds(g, 1000)
    assert lo_half == pytest.approx(lo_full / 2) and hi_half == pytest.approx(hi_full / 2)


def test_adabound_step_is_clipped_into_the_bounds():
    """A tiny gradient gives Adam a huge per-element rate; AdaBound clips it to upper(t)."""
    p = torch.ones(4, requires_grad=True)
    opt = AdaBound([p], lr=1.0, betas=(0.9, 0.999), final_lr=0.1, gamma=0.1, eps=1e-8)
    p.grad = torch.full((4,), 1e-6)
    opt.step()
    m = 0.1 * 1e-6  # first moment after one step
    _, hi = opt.bounds(opt.param_groups[0], 1)
    step = (1 - p.detach()).abs()
    assert torch.allclose(step, torch.full((4,), hi * m), rtol=1e-4)
    # and a huge gradient is clipped from below: rate >= lower(t)
    q = torch.ones(1, requires_grad=True)
    opt2 = AdaBound([q], lr=1e-9, final_lr=0.1, gamma=0.1)
    q.grad = torch.full((1,), 1e3)
    opt2.step()
    lo, _ = opt2.bounds(opt2.param_groups[0], 1)
    assert (1 - q.detach()).abs().item() == pytest.approx(lo * 0.1 * 1e3, rel=1e-4)


def test_adabound_minimises_a_quadratic():
    torch.manual_seed(0)
    target = torch.randn(10)
    p = torch.zeros(10, requires_grad=True)
    opt = AdaBound([p], lr=1e-2, final_lr=0.1)
    for _ in range(500):
        opt.zero_grad()
        loss = ((p - target) ** 2).sum()
        loss.backward()
        opt.step()
    assert ((p - target) ** 2).sum().item() < 1e-3


def test_build_optimizer_names():
    model, _, _ = toy_problem()
    assert isinstance(build_optimizer(TrainConfig(optimizer="adamw", lr=1e-3), model), torch.optim.AdamW)
    assert isinstance(build_optimizer(TrainConfig(optimizer="adabound", lr=1e-3), model), AdaBound)
    sgd = build_optimizer(TrainConfig(optimizer="sgd", nesterov=True), model)
    assert sgd.param_groups[0]["nesterov"] and sgd.param_groups[0]["momentum"] == 0.9
    with pytest.raises(ValueError, match="optimizer"):
        build_optimizer(TrainConfig(optimizer="lamb"), model)
