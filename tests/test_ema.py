"""EMA of the weights: parameters and BN statistics are averaged, counters copied, state resumes."""
import pytest
import torch
import torch.nn as nn

from cifarzoo.train.ema import EMA


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, 2))


def test_parameters_and_bn_statistics_follow_the_same_average():
    live = _net()
    ema = EMA(live, decay=0.9, warmup=False)
    w0 = live[0].weight.detach().clone()
    rm0 = live[1].running_mean.clone()
    with torch.no_grad():
        live[0].weight.add_(1.0)
    live.train()(torch.randn(8, 3, 6, 6) + 3.0)  # moves running_mean and counts a batch
    ema.update(live)
    torch.testing.assert_close(ema.module[0].weight, 0.9 * w0 + 0.1 * live[0].weight.detach())
    # the averaged weights are evaluated with averaged statistics, not the live model's
    torch.testing.assert_close(ema.module[1].running_mean, 0.9 * rm0 + 0.1 * live[1].running_mean)
    assert not torch.allclose(ema.module[1].running_mean, live[1].running_mean)
    assert ema.module[1].num_batches_tracked.item() == live[1].num_batches_tracked.item() == 1


def test_warmup_decay_ramps_up_to_the_target():
    ema = EMA(_net(), decay=0.999, warmup=True)
    seen = []
    for _ in range(3):
        seen.append(ema.current_decay())
        ema.update(_net())
    assert seen == pytest.approx([1 / 10, 2 / 11, 3 / 12])
    ema.updates = 10 ** 6
    assert ema.current_decay() == 0.999


def test_a_model_that_stops_changing_is_reached():
    live = _net()
    ema = EMA(_net(), decay=0.5, warmup=False)
    with torch.no_grad():
        for p in live.parameters():
            p.add_(0.5)
    for _ in range(60):
        ema.update(live)
    for e, l in zip(ema.module.state_dict().values(), live.state_dict().values()):
        torch.testing.assert_close(e, l)


def test_state_round_trip_and_frozen_copy():
    live = _net()
    ema = EMA(live, decay=0.9)
    ema.update(live)
    other = EMA(_net(), decay=0.9)
    other.load_state_dict(ema.state_dict())
    assert other.updates == 1 and not any(p.requires_grad for p in other.module.parameters())
    assert not other.module.training
    with pytest.raises(ValueError, match="decay"):
        EMA(live, decay=1.0)
    with pytest.raises(ValueError, match="structure"):
        ema.update(nn.Linear(2, 2))
