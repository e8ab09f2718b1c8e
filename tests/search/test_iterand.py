"""IteRand as released (dchiji-ntt/iterand): the raw-score mask, its identity straight-through
gradient, its Kaiming-uniform score init and a redraw before steps K, 2K, ...; and the |s|
variant (``iterand_ranking="abs"``). References are written here from those descriptions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sltsim.config import RunConfig
from sltsim.engine.supermask import MaskedParam
from sltsim.metrics.history import MaskHistory
from sltsim.search import METHODS, iterand, run_search
from sltsim.engine.raw_ranking import keep_top_raw, select_raw
from sltsim.search.numpy_backend import build_search
from tests.search.steps import identity_step
from tests.naive import naive_keep_count, naive_keep_largest
from tests.strategies import prune_rates, score_vectors

TINY = dict(data="digits", model="mlp:64,16,10", epochs=1)  # 12 steps per epoch


@given(score_vectors(max_size=200), prune_rates)
def test_raw_ranking_keeps_the_largest_signed_scores(scores, k):
    n_keep = naive_keep_count(scores.size, k)
    np.testing.assert_array_equal(keep_top_raw(scores, n_keep), naive_keep_largest(scores, n_keep))


def test_raw_ranking_differs_from_the_magnitude_ranking():
    s = np.array([-3.0, 2.0, -1.0, 0.5])
    assert keep_top_raw(s, 2).tolist() == [False, True, False, True]  # |s| would keep -3 and 2


@given(st.lists(score_vectors(max_size=60), min_size=1, max_size=3), prune_rates, st.booleans())
def test_select_raw_sets_masks_w_eff_and_the_history(layers, k, global_topk):
    params = []
    for i, s in enumerate(layers):
        p = MaskedParam(f"l{i}.weight", (s.size,), fan_in=3)
        p.scores[...] = s
        p.theta0[...] = np.arange(1, s.size + 1)
        p.prune_rate = k
        params.append(p)
    history = MaskHistory(params, 2)
    select_raw(params, global_topk, history)
    if global_topk:
        every = np.concatenate([p.scores.astype(np.float64) for p in params])
        expected = np.split(naive_keep_largest(every, naive_keep_count(every.size, k)),
                            np.cumsum([p.size for p in params])[:-1])
    else:
        expected = [naive_keep_largest(p.scores, naive_keep_count(p.size, k)) for p in params]
    for p, e in zip(params, expected):
        np.testing.assert_array_equal(p.mask.astype(bool), e)
        np.testing.assert_array_equal(p.w_eff, p.theta0 * e)
    assert history.n_selected.tolist() == [int(e.sum()) for e in expected]
    assert history.n_ever.tolist() == [int(e.sum()) for e in expected]
    # a second step on negated scores: flips and the ever-selected union are counted
    for p in params:
        p.scores *= -1
    select_raw(params, global_topk, history)
    for p, e, ever in zip(params, expected, history.ever):
        np.testing.assert_array_equal(ever.astype(bool), e | p.mask.astype(bool))


def test_raw_scores_get_the_identity_straight_through_gradient():
    config = RunConfig(method="iterand", momentum=0.0, weight_decay=0.0, **TINY)
    search = build_search(config)
    select_raw(search.params)
    out, backprop = search.model.forward(search.data.X_train[:64])
    backprop(search.loss(out, search.data.y_train[:64])[1])
    # dL/ds = dL/dw_eff * theta0, with no sign(s) factor; negative scores included
    expected = [p.scores - 0.1 * p.theta0 * p.grad for p in search.searched]
    assert any(np.any((p.scores < 0) & (p.theta0 * p.grad != 0)) for p in search.searched)
    identity_step(search, 0.1)
    for p, e in zip(search.searched, expected):
        np.testing.assert_allclose(p.scores, e, rtol=1e-6, atol=1e-8)


def test_iterand_scores_start_from_kaiming_uniform_for_relu():
    config = RunConfig(method="iterand", model="mlp:64,512,10", data="digits")
    assert config.score_init == "kaiming_uniform_relu"
    assert RunConfig(method="iterand", iterand_ranking="abs").score_init == "kaiming_uniform"
    assert RunConfig(method="iterand", method_inits=False).score_init == "kaiming_uniform"
    search = build_search(config)
    for p in search.searched:
        bound = math.sqrt(6.0 / p.fan_in)  # gain sqrt(2) times sqrt(3 / fan_in)
        s = p.scores.astype(np.float64)
        assert np.abs(s).max() <= bound and np.abs(s).max() > 0.98 * bound
        assert abs(s.var() / (bound**2 / 3) - 1) < 0.1


def test_the_method_init_never_moves_a_key():
    assert RunConfig(method="iterand").key() == RunConfig(method="iterand", score_init="kaiming_uniform_relu").key()
    assert "score_init" not in RunConfig(method="iterand").non_default()
    assert RunConfig(method="iterand", method_inits=False).key() != RunConfig(method="iterand").key()


@pytest.mark.parametrize("ranking, period, expected", [
    ("raw", 4, [3, 7, 11]),  # before steps 4, 8 and 12: after 3, 7 and 11 updates
    ("abs", 4, [4, 8, 12]),  # after the 4th, 8th and 12th update
    ("raw", 1, list(range(12))),  # before every step, the first included, none after the last
    ("raw", 5, [4, 9]),
])
def test_redraws_happen_on_the_released_clock(ranking, period, expected, monkeypatch):
    done = []
    real = iterand.rerandomize

    def spy(search, rate, rng):
        done.append(search.step)  # updates taken so far
        return real(search, rate, rng)

    monkeypatch.setattr(iterand, "rerandomize", spy)
    config = RunConfig(method="iterand", iterand_period=period, iterand_ranking=ranking, **TINY)
    search = build_search(config)
    cycle = METHODS["iterand"].run(search)[0]
    assert done == expected and cycle.extra["rerandomizations"] == len(expected)


def test_a_redraw_uses_the_mask_the_next_step_will_use(monkeypatch):
    # at a raw redraw the scores are those step K's forward pass ranks: the redrawn edges are
    # exactly outside the mask that step K then selects
    seen = []
    real = iterand.rerandomize

    def spy(search, rate, rng):
        chosen = real(search, 1.0, rng)
        seen.append(chosen)
        return chosen

    monkeypatch.setattr(iterand, "rerandomize", spy)
    search = build_search(RunConfig(method="iterand", iterand_period=5, iterand_rate=1.0, **TINY))
    masks = []
    original = search.select_masks

    def recording(history=None):
        original(history)
        if history is not None:
            masks.append([p.mask.reshape(-1).copy() for p in search.searched])

    search.select_masks = recording
    METHODS["iterand"].run(search)
    for j, chosen in zip((5, 10), seen):  # redraws before steps 5 and 10 (1-based)
        for c, m in zip(chosen, masks[j - 1]):
            np.testing.assert_array_equal(c, m == 0)


def test_raw_iterand_records_are_deterministic_and_redraw():
    config = RunConfig(method="iterand", iterand_period=5, **TINY)
    first, second = run_search(config), run_search(config)
    assert first["cycles"][0]["rerandomizations"] == 2 and first["cycles"][0]["redrawn_weights"] > 0
    assert first["test_acc"] == second["test_acc"] and first["loss"] == second["loss"]


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1), prune_rates)
def test_the_raw_gradient_is_the_central_difference_along_theta0_and_torch_autograd(seed, k):
    # the identity straight-through gives dL/ds_i = theta0_i * dL/dw_eff_i: the derivative of the
    # loss along w_eff + theta0 * delta s with the mask held fixed. Reference 1: float64 central
    # differences of exactly that; reference 2: torch autograd through an identity-backward mask.
    import torch

    from sltsim.torch_backend.supermask import StraightThrough
    from tests.gradcheck import assert_close, sampled_numerical_grad, smooth_entries

    config = RunConfig(method="iterand", model="mlp:64,12,10", data="digits", dtype="float64", prune_rate=k,
                       momentum=0.0, weight_decay=0.0, seed=seed % 1000)
    search = build_search(config)
    X, y = search.data.X_train[:32], search.data.y_train[:32]
    select_raw(search.params)
    out, backprop = search.model.forward(X)
    backprop(search.loss(out, y)[1])
    before = [p.scores.copy() for p in search.searched]
    grads = [p.grad.copy() for p in search.searched]
    identity_step(search, 1.0)
    ste = [b - p.scores for b, p in zip(before, search.searched)]  # lr 1: the gradient itself
    rng = np.random.default_rng(seed)
    compared = 0
    for p, s0, g, expected in zip(search.searched, before, grads, ste):
        delta = np.zeros(p.size)

        def loss():
            np.copyto(p.flat("w_eff"), p.flat("mask") * p.flat("theta0") + p.flat("theta0") * delta)
            return search.loss(search.model.forward(X, train=True)[0], y)[0]

        index = rng.choice(p.size, size=min(12, p.size), replace=False)
        # leave out edges at a kink: a hidden unit with no kept edge has ReLU input exactly 0
        index = index[smooth_entries(loss, delta, index)]
        compared += index.size
        assert_close(expected.reshape(-1)[index], sampled_numerical_grad(loss, delta, index), rtol=1e-5, atol=1e-8)
        np.copyto(p.flat("w_eff"), p.flat("mask") * p.flat("theta0"))
        s = torch.tensor(s0, requires_grad=True)
        w = torch.from_numpy(p.theta0) * StraightThrough.apply(s, torch.from_numpy(p.mask.astype(np.float64)))
        (w * torch.from_numpy(g)).sum().backward()  # dL/dw_eff held fixed: the chain rule's last link
        np.testing.assert_allclose(s.grad.numpy(), expected, rtol=1e-12, atol=1e-15)
    assert compared > 0  # the central differences checked some edges
