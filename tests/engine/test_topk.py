"""Top-k invariants: exact count, deterministic ties, consistency with the |s| ordering."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sltsim.engine.supermask import MaskedParam, select
from sltsim.engine.topk import keep_count, masked_count, topk_mask
from tests.naive import naive_keep_count, naive_masked_count, naive_topk_mask
from tests.strategies import prune_rates, score_vectors


@given(score_vectors(), prune_rates)
def test_topk_matches_sorted_reference(scores, k):
    np.testing.assert_array_equal(topk_mask(scores, k), naive_topk_mask(scores, k))


@given(score_vectors(), prune_rates)
def test_exact_count_and_ordering(scores, k):
    mask = topk_mask(scores, k).astype(bool)
    assert mask.sum() == naive_keep_count(scores.size, k)
    assert (~mask).sum() == naive_masked_count(scores.size, k)
    a = np.abs(scores)
    if mask.any() and (~mask).any():
        assert a[mask].min() >= a[~mask].max()


@given(score_vectors(), prune_rates)
def test_ties_go_to_the_lower_index(scores, k):
    mask = topk_mask(scores, k).astype(bool)
    a = np.abs(scores)
    if mask.any() and (~mask).any():
        t = a[mask].min()
        tied = np.flatnonzero(a == t)
        kept = mask[tied]
        # among tied edges the kept ones form a prefix in index order
        assert not np.any(kept[1:] & ~kept[:-1])


def test_all_zero_scores_keep_the_first_edges():
    mask = topk_mask(np.zeros(10, np.float32), 0.3)
    np.testing.assert_array_equal(mask, [1] * 7 + [0] * 3)


@given(st.integers(0, 10**9), prune_rates)
def test_keep_and_masked_counts_match_the_formula(n, k):
    assert masked_count(n, k) == naive_masked_count(n, k)
    assert keep_count(n, k) == naive_keep_count(n, k) == n - masked_count(n, k)


def test_rounding_halves_up():
    assert masked_count(10, 0.25) == 3  # 2.5 -> 3
    assert masked_count(4, 0.125) == 1  # 0.5 -> 1
    with pytest.raises(ValueError, match="prune_rate must be in"):
        masked_count(10, 1.0)


def _params(sizes, k, rng, dtype=np.float32):
    params = []
    for i, n in enumerate(sizes):
        p = MaskedParam(f"l{i}.weight", (n,), fan_in=n, dtype=dtype)
        p.theta0[...] = rng.standard_normal(n)
        p.scores[...] = rng.standard_normal(n)
        p.prune_rate = k
        params.append(p)
    return params


@given(st.lists(st.integers(1, 60), min_size=1, max_size=4), prune_rates, st.integers(0, 2**31))
def test_select_builds_mask_and_masked_weights(sizes, k, seed):
    params = _params(sizes, k, np.random.default_rng(seed))
    select(params)
    for p in params:
        np.testing.assert_array_equal(p.mask, naive_topk_mask(p.scores, k))
        np.testing.assert_array_equal(p.w_eff, p.theta0 * p.mask)


@given(st.lists(st.integers(1, 60), min_size=1, max_size=4), prune_rates, st.integers(0, 2**31))
def test_global_topk_is_one_threshold_over_all_layers(sizes, k, seed):
    params = _params(sizes, k, np.random.default_rng(seed))
    select(params, global_topk=True, global_buffer=np.empty(sum(sizes), np.float32))
    all_scores = np.concatenate([p.scores for p in params])
    expected = naive_topk_mask(all_scores, k)
    np.testing.assert_array_equal(np.concatenate([p.mask for p in params]), expected)


def test_unsearched_params_stay_dense():
    params = _params([5, 5], 0.6, np.random.default_rng(0))
    params[1].searched = False
    select(params)
    assert params[0].mask.sum() == 2
    np.testing.assert_array_equal(params[1].w_eff, params[1].theta0)


def test_nonfinite_scores_are_reported_as_divergence():
    from sltsim.errors import Diverged

    params = _params([8], 0.5, np.random.default_rng(0))
    params[0].scores[3] = np.nan
    with pytest.raises(Diverged, match="NaN or inf"):
        select(params)


def test_large_layer_with_many_ties_is_exact():
    rng = np.random.default_rng(1)
    s = rng.integers(-3, 4, size=200_000).astype(np.float32)
    mask = topk_mask(s, 0.7)
    assert int(mask.sum()) == naive_keep_count(s.size, 0.7)
