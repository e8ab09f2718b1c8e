"""The hot-path kernels against the plain NumPy version of the same computation.

Sizes reach past the top-k kernel's small-array cutoff so that the sampled bracket,
the in-place narrowing and the exact fallback all run.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sltsim.engine.supermask import MaskedParam, select
from sltsim.engine.topk import threshold_and_ties
from sltsim.engine.topk_kernels import (_BRANCHY_BELOW, _SMALL, _apply_threshold, _apply_threshold_untied,
                                        _kth_largest, _sample_size, _threshold_and_greater, _threshold_warm)
from sltsim.metrics.history import MaskHistory
from tests.naive import naive_keep_count, naive_mask_pass, naive_topk_mask
from tests.strategies import prune_rates, seeds

SIZES = st.sampled_from([1, 7, 1000, _SMALL, _SMALL + 1, 3 * _SMALL + 5, 70_000])
KINDS = st.sampled_from(["uniform", "few_values", "zeros", "sorted", "reversed", "normal64"])


def _scores(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "uniform":
        return rng.uniform(-1, 1, n).astype(np.float32)
    if kind == "few_values":  # heavy ties
        return rng.integers(-3, 4, n).astype(np.float32)
    if kind == "zeros":
        return np.zeros(n, np.float32)
    if kind == "sorted":  # the strided sample sees a skewed picture
        return np.sort(rng.uniform(0, 1, n)).astype(np.float32)
    if kind == "reversed":
        return -np.sort(rng.uniform(0, 1, n))[::-1].astype(np.float32)
    return rng.standard_normal(n)  # float64


@given(SIZES, KINDS, st.floats(0.0, 1.0), seeds)
def test_threshold_kernel_matches_a_sort(n, kind, quantile, seed):
    scores = _scores(kind, n, np.random.default_rng(seed))
    kth = min(int(quantile * n), n - 1)
    t, greater, tied = _threshold_and_greater(scores, np.empty_like(scores), kth)
    a = np.sort(np.abs(scores))[::-1]
    assert t == a[kth]
    assert greater == np.count_nonzero(a > a[kth])
    assert tied == np.count_nonzero(a == a[kth])


@given(st.sampled_from([5, _BRANCHY_BELOW - 1, _BRANCHY_BELOW + 1, 20_000]), KINDS, st.floats(0.0, 1.0), seeds)
def test_quickselect_matches_a_sort_and_partitions(n, kind, quantile, seed):
    values = np.abs(_scores(kind, n, np.random.default_rng(seed)))
    kth = min(int(quantile * n), n - 1)
    buf = values.copy()
    answer = _kth_largest(buf, kth)
    assert answer == np.sort(values)[::-1][kth]
    assert np.all(buf[:kth] >= answer)  # the sampled bracket relies on this
    np.testing.assert_array_equal(np.sort(buf), np.sort(values))  # a permutation


@given(st.sampled_from([_SMALL + 1, 70_000]), st.floats(0.0, 1.0))
def test_threshold_kernel_falls_back_when_the_sample_lies(n, quantile):
    # every value the strided sample reads is huge, so the bracket misses the answer
    scores = np.random.default_rng(0).uniform(-1, 1, n).astype(np.float32)
    scores[:: n // _sample_size(n)] = 100.0
    kth = min(int(quantile * n), n - 1)
    t, greater, tied = _threshold_and_greater(scores, np.empty_like(scores), kth)
    a = np.sort(np.abs(scores))[::-1]
    assert (t, greater, tied) == (a[kth], np.count_nonzero(a > a[kth]), np.count_nonzero(a == a[kth]))


def test_threshold_kernel_survives_nan():
    scores = np.random.default_rng(0).uniform(-1, 1, 50_000).astype(np.float32)
    scores[::7] = np.nan
    t, greater, tied = _threshold_and_greater(scores, np.empty_like(scores), 20_000)
    assert greater + tied >= 0  # terminates; select() reports the NaN as divergence


@given(SIZES, KINDS, prune_rates, seeds, st.booleans())
def test_untied_apply_matches_numpy(n, kind, k, seed, track):
    rng = np.random.default_rng(seed)
    scores = _scores(kind, n, rng)
    theta0 = rng.standard_normal(n).astype(scores.dtype)
    n_keep = naive_keep_count(n, k)
    threshold, ties, n_tied = threshold_and_ties(scores, n_keep, np.empty_like(scores))
    mask = rng.integers(0, 2, n).astype(np.uint8)
    ever = rng.integers(0, 2, n).astype(np.uint8) if track else np.zeros(0, np.uint8)
    w_eff = np.full(n, 7.0, scores.dtype)
    old_mask, old_ever = mask.copy(), ever.copy()
    t = scores.dtype.type(threshold)
    new_ever, flips, nonfinite = _apply_threshold_untied(scores, theta0, t, mask, w_eff, ever, track)
    ref_mask, ref_w, ref_ever, ref_new, ref_flips = naive_mask_pass(
        scores, theta0, t, old_mask, old_ever if track else np.zeros(n, np.uint8))
    expected = ref_mask
    np.testing.assert_array_equal(mask, ref_mask)
    np.testing.assert_array_equal(w_eff, ref_w)
    assert np.array_equal(np.signbit(w_eff), np.signbit(ref_w))  # -0.0 where theta0 < 0
    assert flips == ref_flips and nonfinite == 0
    if track:
        np.testing.assert_array_equal(ever, ref_ever)
        assert new_ever == ref_new
    if ties == n_tied and n_keep > 0:  # where select uses it, it agrees with the tie-counting kernel
        mask2, w2, ever2 = old_mask.copy(), np.full(n, 7.0, scores.dtype), old_ever.copy()
        out = _apply_threshold(scores, theta0, t, ties, mask2, w2, ever2, track)
        assert out[1:] == (expected.sum(), new_ever, flips, nonfinite)
        np.testing.assert_array_equal(mask2, mask)
        np.testing.assert_array_equal(w2.view(np.uint8), w_eff.view(np.uint8))


@given(SIZES, KINDS, prune_rates, seeds)
def test_select_on_large_layers_matches_a_stable_sort(n, kind, k, seed):
    rng = np.random.default_rng(seed)
    scores = _scores(kind, n, rng).astype(np.float32)
    p = MaskedParam("fc.weight", (n,), fan_in=n)
    p.scores[...] = scores
    p.theta0[...] = rng.standard_normal(n)
    p.prune_rate = k
    history = MaskHistory([p], 2)
    select([p], history=history)
    expected = naive_topk_mask(scores, k)
    np.testing.assert_array_equal(p.mask, expected)
    np.testing.assert_array_equal(p.w_eff, p.theta0 * expected)
    np.testing.assert_array_equal(history.ever[0], expected)
    assert history.n_ever[0] == expected.sum()


def test_nan_in_a_large_layer_is_divergence():
    from sltsim.errors import Diverged

    p = MaskedParam("fc.weight", (20_000,), fan_in=100)
    p.scores[...] = np.random.default_rng(0).uniform(-1, 1, 20_000)
    p.scores[5] = np.nan
    p.prune_rate = 0.5
    with pytest.raises(Diverged, match="NaN or inf"):
        select([p])


SPECIAL = np.array([-0.0, 0.0, np.nan, np.inf, -np.inf, -1.5, 2.5, 1e-30, -1e-30], np.float32)


@given(st.integers(0, 300), seeds, st.sampled_from([np.float32, np.float64]))
def test_relu_matches_numpy_maximum_and_where(n, seed, dtype):
    from sltsim.engine.activation import ReLU

    rng = np.random.default_rng(seed)
    X = np.concatenate([rng.standard_normal(n), SPECIAL]).astype(dtype)
    rng.shuffle(X)
    X = X.reshape(1, -1)
    dY = np.concatenate([rng.standard_normal(n), SPECIAL[::-1]]).astype(dtype).reshape(1, -1)
    Y, backprop = ReLU().forward(X)
    expected = np.maximum(X, 0)
    np.testing.assert_array_equal(Y.view(np.uint8), expected.view(np.uint8))  # bitwise: -0.0 and NaN too
    dX = backprop(dY)
    assert dX.dtype == dY.dtype
    np.testing.assert_array_equal(dX.view(np.uint8), np.where(expected > 0, dY, 0).view(np.uint8))


def _sgd_scores_numpy(s, grad, theta0, v, lr, momentum, wd, nesterov):
    """torch.optim.SGD on the scores with the straight-through gradient, in float64 like the kernel."""
    g = (grad * theta0).astype(np.float64) * np.sign(s)
    g = g + wd * s.astype(np.float64)
    if momentum != 0:
        v64 = momentum * v.astype(np.float64) + g
        v[...] = v64
        g = g + momentum * v64 if nesterov else v64
    s[...] = s - lr * g


@given(st.integers(1, 300), seeds, st.sampled_from([0.0, 0.9]), st.booleans(), st.sampled_from([0.0, 5e-4]))
def test_score_sgd_matches_numpy(n, seed, momentum, nesterov, wd):
    from sltsim.engine.kernels import _sgd_scores

    nesterov = nesterov and momentum > 0
    rng = np.random.default_rng(seed)
    s = rng.standard_normal(n).astype(np.float32)
    s[rng.random(n) < 0.2] = 0.0  # sign(0) = 0: no gradient step on a zero score
    grad, theta0 = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    v = rng.standard_normal(n).astype(np.float32)
    s2, v2 = s.copy(), v.copy()
    _sgd_scores(s, grad, theta0, v, 0.1, momentum, wd, nesterov)
    _sgd_scores_numpy(s2, grad, theta0, v2, 0.1, momentum, wd, nesterov)
    np.testing.assert_array_equal(s, s2)
    np.testing.assert_array_equal(v, v2)


@given(st.lists(SIZES, min_size=1, max_size=3), KINDS, prune_rates, seeds, st.booleans())
def test_global_select_with_a_double_buffer_matches_a_stable_sort(sizes, kind, k, seed, double):
    rng = np.random.default_rng(seed)
    params = []
    for i, n in enumerate(sizes):
        p = MaskedParam(f"fc{i}.weight", (n,), fan_in=n)
        p.scores[...] = _scores(kind, n, rng)
        p.theta0[...] = rng.standard_normal(n)
        p.prune_rate = k
        params.append(p)
    total = sum(sizes)
    select(params, global_topk=True, global_buffer=np.empty(total * (2 if double else 1), np.float32))
    expected = naive_topk_mask(np.concatenate([p.scores for p in params]), k)
    np.testing.assert_array_equal(np.concatenate([p.mask for p in params]), expected)


HINTS = st.sampled_from(["none", "exact", "near", "tiny", "wide", "wrong", "zero_width"])


def _hint(kind: str, a_sorted: np.ndarray, kth: int) -> np.ndarray:
    t = float(a_sorted[kth])
    return {"none": [np.nan, 0.0], "exact": [t, 1e-6], "near": [t * 1.001, t * 0.003 + 1e-9],
            "tiny": [t * 1.01, 1e-12], "wide": [t, 10.0], "wrong": [t * 3 + 1, 0.01],
            "zero_width": [t, 0.0]}[kind]


@given(SIZES, KINDS, st.floats(0.0, 1.0), HINTS, seeds)
def test_warm_threshold_is_exact_for_any_hint(n, kind, quantile, hint_kind, seed):
    scores = _scores(kind, n, np.random.default_rng(seed))
    kth = min(int(quantile * n), n - 1)
    a = np.sort(np.abs(scores))[::-1]
    hint = np.array(_hint(hint_kind, a, kth), np.float64)
    t, greater, tied = _threshold_warm(scores, np.empty_like(scores), kth, hint)
    assert (t, greater, tied) == (a[kth], np.count_nonzero(a > a[kth]), np.count_nonzero(a == a[kth]))
    assert hint[0] == t and hint[1] >= 0


@given(st.sampled_from([300, 5000, 40_000]), st.sampled_from(["uniform", "few_values", "normal64"]),
       prune_rates, seeds)
def test_select_stays_exact_over_steps_that_drift_and_jump(n, kind, k, seed):
    # the warm start carries a hint from step to step; small moves, a jump, a prune-rate change
    rng = np.random.default_rng(seed)
    p = MaskedParam("fc.weight", (n,), fan_in=n)
    p.scores[...] = _scores(kind, n, rng)
    p.theta0[...] = rng.standard_normal(n)
    p.prune_rate = k
    history = MaskHistory([p], 8)
    ever = np.zeros(n, np.uint8)
    flips, previous = 0, None
    for step in range(8):
        if step == 4:
            p.scores *= 5.0  # a jump: the bracket misses
        elif step == 6:
            p.prune_rate = min(0.9, k + 0.3)
        elif step:
            p.scores += rng.standard_normal(n).astype(np.float32) * 1e-3 * (np.abs(p.scores).max() + 1e-6)
        select([p], history=history)
        expected = naive_topk_mask(p.scores, p.prune_rate)
        ever |= expected
        np.testing.assert_array_equal(p.mask, expected)
        np.testing.assert_array_equal(history.ever[0], ever)
        flips += 0 if previous is None else int(np.count_nonzero(previous != expected))
        previous = expected
        # the kernel writes the history's counts: m_t size, ever-selected, flips after the first step
        assert (history.n_selected[0], history.n_ever[0], history.flips[0]) == (expected.sum(), ever.sum(), flips)


def _cross_entropy_numpy(logits, labels):
    """The plain NumPy softmax cross-entropy the engine computed before its Numba passes."""
    B = logits.shape[0]
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    sum_exp = exp.sum(axis=1, keepdims=True)
    log_probs = shifted - np.log(sum_exp)
    loss = -float(log_probs[np.arange(B), labels].mean())
    grad = exp / sum_exp
    grad[np.arange(B), labels] -= 1
    grad /= B
    return loss, grad.astype(logits.dtype, copy=False)


@given(st.integers(1, 300), st.integers(1, 20), seeds, st.sampled_from([np.float32, np.float64]),
       st.sampled_from([1.0, 30.0, 1e4]))
def test_cross_entropy_is_bitwise_the_numpy_expression(batch, n_classes, seed, dtype, scale):
    from sltsim.engine.loss import softmax_cross_entropy

    rng = np.random.default_rng(seed)
    logits = (rng.standard_normal((batch, n_classes)) * scale).astype(dtype)
    logits[rng.random(logits.shape) < 0.05] = rng.choice([np.inf, -np.inf, 0.0, -0.0])  # rare specials
    labels = rng.integers(0, n_classes, batch)
    with np.errstate(all="ignore"):
        loss, grad = softmax_cross_entropy(logits, labels)
        ref_loss, ref_grad = _cross_entropy_numpy(logits, labels)
    assert grad.dtype == logits.dtype
    assert np.array_equal(np.float64(loss), np.float64(ref_loss), equal_nan=True)
    np.testing.assert_array_equal(grad.view(np.uint8), ref_grad.view(np.uint8))


def test_cross_entropy_rejects_bad_labels():
    from sltsim.engine.loss import softmax_cross_entropy

    with pytest.raises(IndexError, match=r"in \[0, 3\)"):
        softmax_cross_entropy(np.zeros((2, 3), np.float32), np.array([0, 3]))
    with pytest.raises(ValueError, match="labels must have shape"):
        softmax_cross_entropy(np.zeros((2, 3), np.float32), np.array([0]))
