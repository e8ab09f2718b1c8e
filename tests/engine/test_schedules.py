"""Learning-rate schedules: per-epoch (the edge-popup release's granularity) and per-step,
warm-up before the schedule; the per-epoch reference is written out in tests/naive.py."""

from __future__ import annotations

import math

import pytest
import torch

from sltsim.config import RunConfig
from sltsim.engine.schedules import cycle_lr, learning_rate
from sltsim.search.backend import lr_function
from tests.naive import naive_epoch_cosine_lr


@pytest.mark.parametrize("epochs, warmup, per_epoch", [(15, 0, 7), (10, 3, 4), (4, 1, 1), (100, 5, 3)])
def test_per_epoch_cosine_is_constant_within_each_epoch_and_follows_the_formula(epochs, warmup, per_epoch):
    lr = cycle_lr(0.1, "cosine", "epoch", warmup, per_epoch)
    total = epochs * per_epoch
    for step in range(total):
        expected = naive_epoch_cosine_lr(0.1, step // per_epoch, epochs, warmup)
        assert lr(step, total) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_per_epoch_cosine_reference_values():
    # 15 epochs at lr 0.1: epoch 0 gets the full lr, epoch 14 (the last) 0.05 * (1 + cos(14 pi / 15))
    lr = cycle_lr(0.1, "cosine", "epoch", 0, 24)
    last = 0.05 * (1 + math.cos(14 * math.pi / 15))
    assert lr(0, 360) == 0.1
    assert lr(359, 360) == pytest.approx(last, rel=1e-12)
    assert 1.0e-3 < last < 1.2e-3
    # per step over the same 360 steps the last lr is ~570 times smaller
    step_last = cycle_lr(0.1, "cosine", "step", 0, 24)(359, 360)
    assert step_last == pytest.approx(0.05 * (1 + math.cos(359 * math.pi / 360)), rel=1e-12)
    assert 500 < last / step_last < 650


def test_per_step_cosine_with_warmup_matches_torch_linear_then_cosine():
    total, warmup, base = 40, 6, 0.2
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=base)
    ramp = torch.optim.lr_scheduler.LinearLR(opt, start_factor=1 / warmup, end_factor=1.0, total_iters=warmup - 1)
    cos = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total - warmup)
    sched = torch.optim.lr_scheduler.SequentialLR(opt, [ramp, cos], milestones=[warmup])
    lr = cycle_lr(base, "cosine", "step", 1, warmup)  # one warm-up epoch of 6 steps
    for step in range(total):
        assert math.isclose(lr(step, total), opt.param_groups[0]["lr"], rel_tol=1e-9, abs_tol=1e-15), step
        opt.step()
        sched.step()


def test_warmup_precedes_the_schedule_rather_than_multiplying_it():
    # right after the warm-up the schedule starts at its beginning: the full base lr
    assert learning_rate(0.1, "cosine", 10, 100, warmup=10) == 0.1
    assert learning_rate(0.1, "cosine", 9, 100, warmup=10) == pytest.approx(0.1)
    assert learning_rate(0.1, "cosine", 0, 100, warmup=10) == pytest.approx(0.01)
    # step decay: the milestones are fractions of the 90 post-warm-up units
    assert learning_rate(0.1, "step", 10 + 44, 100, warmup=10) == pytest.approx(0.1)
    assert learning_rate(0.1, "step", 10 + 45, 100, warmup=10) == pytest.approx(0.01)
    # every epoch is warm-up: the ramp alone
    lr = cycle_lr(0.3, "cosine", "epoch", 3, 2)
    assert [lr(s, 6) for s in range(6)] == pytest.approx([0.1, 0.1, 0.2, 0.2, 0.3, 0.3])


def test_lr_function_follows_the_config_granularity():
    config = RunConfig(epochs=5, warmup_epochs=1)
    by_epoch = lr_function(config, 3)
    by_step = lr_function(config.replace(schedule_granularity="step"), 3)
    assert [by_epoch(s, 15) for s in range(3)] == [config.lr / 1] * 3
    assert [by_step(s, 15) for s in range(3)] == pytest.approx([config.lr / 3, 2 * config.lr / 3, config.lr])
    assert by_epoch(14, 15) == pytest.approx(naive_epoch_cosine_lr(config.lr, 4, 5, 1))


def test_the_granularity_field_keeps_old_keys_and_refuses_bad_values():
    assert RunConfig().key() == RunConfig(schedule_granularity="epoch").key()
    assert RunConfig().key() != RunConfig(schedule_granularity="step").key()
    assert "schedule_granularity" not in RunConfig().non_default()
    with pytest.raises(ValueError, match="schedule_granularity must be one of epoch, step; got 'iteration'"):
        RunConfig(schedule_granularity="iteration")
    with pytest.raises(ValueError, match="schedule_granularity must be one of"):
        cycle_lr(0.1, "cosine", "batch", 0, 3)
