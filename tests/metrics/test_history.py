"""MaskHistory against an independent replay of the recorded masks (tests/naive.py), and its
invariants over real EP runs: d == k after the first step, d never increases, and dying +
reverted + currently selected == all edges."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sltsim.config import RunConfig
from sltsim.engine.supermask import MaskedParam, select
from sltsim.metrics.history import MaskHistory
from sltsim.search.driver import cycle_summary
from sltsim.search.loop import run_cycle
from sltsim.search.numpy_backend import build_search
from tests.naive import naive_keep_count, naive_mask_history


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
    masked = sum(p.size - naive_keep_count(p.size, p.prune_rate) for p in params) / sum(p.size for p in params)
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
    summary = cycle_summary(cycle)
    # recounted from the arrays the run left (m_T is each param's mask before final_masks),
    # not from the counters the summary reads
    ever = [e.astype(bool) for e in cycle.history.ever]
    masks = [p.mask.reshape(-1).astype(bool) for p in search.searched]
    n = sum(m.size for m in masks)
    assert summary["prune_rate"] == pytest.approx(sum(m.size - naive_keep_count(m.size, 0.6) for m in masks) / n)
    assert [int(m.sum()) for m in masks] == [naive_keep_count(m.size, 0.6) for m in masks]
    assert summary["dying_ratio"] == pytest.approx(sum(int((~e).sum()) for e in ever) / n)
    # k - d = (ever-selected - selected) / n: the edges selected once and masked at the end
    assert summary["k_minus_d"] == pytest.approx(sum(int((e & ~m).sum()) for e, m in zip(ever, masks)) / n)
    assert summary["k_minus_d"] > 0  # an EP search with lr 0.1 does move its masks
    assert set(summary["per_layer"]) == {"fc1.weight", "fc2.weight"}
    for p, e, m in zip(search.searched, ever, masks):
        row = summary["per_layer"][p.name]
        assert row["size"] == m.size and row["dying_ratio"] == pytest.approx(1 - e.mean())
        assert row["k_minus_d"] == pytest.approx((e & ~m).mean())


@settings(max_examples=25)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=3), st.floats(0.0, 0.95), st.integers(0, 2**31),
       st.integers(1, 10))
def test_history_counts_match_a_replay_of_the_recorded_masks(sizes, k, seed, steps):
    params, rng = _random_walk_params(sizes, k, seed)
    history = MaskHistory(params, steps)
    recorded, churn = [], 0.0
    for t in range(steps):
        if t:
            for p in params:
                p.scores += rng.standard_normal(p.size).astype(np.float32)
        select(params, history=history)
        recorded.append([p.mask.reshape(-1).copy() for p in params])
        churn += history.take_mask_churn()
    replay = naive_mask_history(recorded)
    total = sum(sizes)
    np.testing.assert_allclose(history.dying_curve(), replay["dying_ratio"], rtol=0, atol=1e-12)
    assert replay["dying"][0] == sum(size - naive_keep_count(size, k) for size in sizes)  # d_1 = k
    assert all(a >= b for a, b in zip(replay["dying"], replay["dying"][1:]))  # the replay agrees: d never rises
    assert history.dying_ratio() == pytest.approx(replay["dying"][-1] / total, abs=1e-12)
    assert history.reverted_ratio() == pytest.approx(replay["reverted"][-1] / total, abs=1e-12)
    assert int(history.n_selected.sum()) == replay["selected"][-1]
    assert churn == pytest.approx(sum(replay["flips"]) / total, abs=1e-12)  # the first selection is not churn
    for e, r in zip(history.ever, replay["ever"]):
        np.testing.assert_array_equal(e, r)
