"""SGD on the scores against torch.optim.SGD, and the schedules."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from sltsim.engine.optim import SGD, SGDConfig
from sltsim.engine.schedules import learning_rate
from sltsim.engine.supermask import MaskedParam
from tests.naive import naive_sgd


@given(st.floats(0.0, 0.95), st.booleans(), st.floats(0.0, 0.1), st.integers(0, 2**31))
def test_score_sgd_matches_torch_autograd_of_abs_scores(momentum, nesterov, weight_decay, seed):
    nesterov = nesterov and momentum > 0
    rng = np.random.default_rng(seed)
    p = MaskedParam("fc.weight", (4, 5), fan_in=5, dtype=np.float64)
    p.theta0[...] = rng.standard_normal(p.shape)
    p.scores[...] = rng.standard_normal(p.shape)
    p.scores[0, 0] = 0.0  # sign(0) = 0: no gradient reaches a zero score except weight decay
    grads = [rng.standard_normal(p.shape) for _ in range(4)]
    s = torch.tensor(p.scores.copy(), requires_grad=True)
    opt_t = torch.optim.SGD([s], lr=0.1, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
    opt = SGD([p], SGDConfig(momentum, weight_decay, nesterov))
    theta0 = torch.tensor(p.theta0)
    for g in grads:
        # the straight-through estimator: w_eff = m * theta0 with the mask the identity in backward
        # of |s|, so L = <g, |s| * theta0> has dL/ds = sign(s) * g * theta0.
        opt_t.zero_grad()
        (torch.tensor(g) * theta0 * s.abs()).sum().backward()
        opt_t.step()
        p.grad[...] = g
        opt.step(0.1)
    np.testing.assert_allclose(p.scores, s.detach().numpy(), rtol=1e-12, atol=1e-12)


@given(st.floats(0.0, 0.95), st.booleans(), st.floats(0.0, 0.1), st.sampled_from(["scores", "weights"]),
       st.integers(1, 5), st.integers(0, 2**31))
def test_sgd_matches_the_elementwise_reference(momentum, nesterov, weight_decay, target, steps, seed):
    nesterov = nesterov and momentum > 0
    rng = np.random.default_rng(seed)
    p = MaskedParam("fc.weight", (3, 7), fan_in=7, dtype=np.float64)
    p.theta0[...] = rng.standard_normal(p.shape)
    p.scores[...] = rng.standard_normal(p.shape)
    p.scores[0, :2] = 0.0  # sign(0) = 0
    start = (p.scores if target == "scores" else p.theta0).copy()
    grads = [rng.standard_normal(p.shape) for _ in range(steps)]
    opt = SGD([p], SGDConfig(momentum, weight_decay, nesterov), target=target)
    for g in grads:
        p.grad[...] = g
        opt.step(0.05)
    want = naive_sgd(start, grads, 0.05, momentum, weight_decay, nesterov,
                     theta0=p.theta0.copy() if target == "scores" else None)
    got = p.scores if target == "scores" else p.theta0
    np.testing.assert_allclose(got.reshape(-1), want, rtol=1e-12, atol=1e-12)


def test_weight_sgd_matches_torch():
    rng = np.random.default_rng(0)
    p = MaskedParam("fc.weight", (3, 3), fan_in=3, dtype=np.float64)
    p.theta0[...] = rng.standard_normal(p.shape)
    w = torch.tensor(p.theta0.copy(), requires_grad=True)
    opt_t = torch.optim.SGD([w], lr=0.05, momentum=0.9, weight_decay=1e-3)
    opt = SGD([p], SGDConfig(0.9, 1e-3), target="weights")
    for _ in range(3):
        g = rng.standard_normal(p.shape)
        w.grad = torch.tensor(g)
        opt_t.step()
        p.grad[...] = g
        opt.step(0.05)
    np.testing.assert_allclose(p.theta0, w.detach().numpy(), rtol=1e-12)


def test_sgd_config_refuses_bad_values():
    with pytest.raises(ValueError, match="momentum must be in"):
        SGDConfig(momentum=1.0)
    with pytest.raises(ValueError, match="nesterov needs momentum"):
        SGDConfig(momentum=0.0, nesterov=True)


def test_cosine_matches_torch_cosine_annealing():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=20)
    for step in range(20):
        assert math.isclose(learning_rate(0.1, "cosine", step, 20), opt.param_groups[0]["lr"], rel_tol=1e-9, abs_tol=1e-15)
        opt.step()
        sched.step()


def test_warmup_and_step_schedules():
    assert learning_rate(0.1, "constant", 0, 100, warmup=10) == pytest.approx(0.01)
    assert learning_rate(0.1, "constant", 9, 100, warmup=10) == pytest.approx(0.1)
    assert learning_rate(0.1, "step", 49, 100) == pytest.approx(0.1)
    assert learning_rate(0.1, "step", 50, 100) == pytest.approx(0.01)
    assert learning_rate(0.1, "step", 80, 100) == pytest.approx(0.001)
