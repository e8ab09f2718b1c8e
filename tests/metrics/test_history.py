"""MaskHistory invariants over real EP runs: d == k after the first step, d never
increases, and dying + reverted + currently selected == all edges."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sltsim.config import RunConfig
from sltsim.engine.supermask import MaskedParam, select
from sltsim.metrics.history import MaskHistory
from sltsim.search.loop import build_search, cycle_summary, run_cycle


def _random_walk_params(sizes, k, seed):
    rng = np.random.default_rng(seed)
    params = []
    for i, n in enumerate(sizes):
        p = MaskedParam(f"l{i}.weight", (n,), fan_in=n)
        p.theta0[...] = 1
        p.scores[...] = rng.standard_normal(n)
        p.prune_rate = k
        params.append(p)
    return params, rng


@settings(max_examples=20)
@given(st.lists(st.integers(2, 80), min_size=1, max_size=3), st.floats(0.05, 0.9), st.integers(0, 2**31),
       st.integers(1, 12))
def test_history_invariants_under_random_score_walks(sizes, k, seed, steps):
    params, rng = _random_walk_params(sizes, k, seed)
    history = MaskHistory(params, steps)
    select(params, history=history)
    masked = sum(p.size - p.n_keep() for p in params) / sum(p.size for p in params)
    assert np.isclose(history.dying_ratio(), masked)  # d = k right after the first forward pass
    previous = history.dying_ratio()
    ever = [p.mask.astype(bool).copy() for p in params]
    for _ in range(steps - 1):
        for p in params:
            p.scores += 0.5 * rng.standard_normal(p.size).astype(np.float32)
        select(params, history=history)
        d = history.dying_ratio()
        assert d <= previous
        previous = d
        for e, p in zip(ever, params):
            e |= p.mask.astype(bool)
    for e, p, h_ever in zip(ever, params, history.ever):
        np.testing.assert_array_equal(e, h_ever.astype(bool))  # ever = OR of all masks
    total = sum(p.size for p in params)
    dying = sum(int((h == 0).sum()) for h in history.ever)
    selected = sum(int(p.mask.sum()) for p in params)
    reverted = sum(int(((h == 1) & (p.mask == 0)).sum()) for h, p in zip(history.ever, params))
    assert dying + reverted + selected == total
    assert np.isclose(history.reverted_ratio(), reverted / total)


def test_ep_run_dying_curve_is_monotone_and_starts_at_k():
    config = RunConfig(model="mlp:64,32,10", epochs=3, prune_rate=0.6)
    search = build_search(config)
    cycle = run_cycle(search, config.epochs)
    curve = cycle.history.dying_curve()
    assert np.isclose(curve[0], 0.6, atol=1e-3)
    assert np.all(np.diff(curve) <= 0)
    summary = cycle_summary(search, cycle)
    assert np.isclose(summary["k_minus_d"] + summary["dying_ratio"], summary["prune_rate"])
    assert set(summary["per_layer"]) == {"fc1.weight", "fc2.weight"}
