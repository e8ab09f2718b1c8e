"""Private Numba kernels: arrays in, no checks, no allocation.

Public, validating wrappers live in :mod:`sltsim.engine.topk`,
:mod:`sltsim.engine.optim` and :mod:`sltsim.engine.conv`. Every kernel works on
flat (1-D) contiguous views unless its shape comment says otherwise.
"""

from __future__ import annotations

import numpy as np

from sltsim.engine.jit import njit


@njit
def _abs_into(src, dst):
    # dst[i] = |src[i]|, (n,) -> (n,)
    for i in range(src.shape[0]):
        dst[i] = abs(src[i])


_BRANCHY_BELOW = 4096  # ranges shorter than this use the three-way partition


@njit
def _median_of_three(a, b, c):
    if a < b:
        if b < c:
            return b
        return c if a < c else a
    if a < c:
        return a
    return c if b < c else b


@njit
def _kth_largest(buf, kth):
    """Value of the kth largest entry (0-based) of ``buf``; reorders ``buf`` in place.

    Quickselect (Hoare's FIND) with a median-of-three pivot. Long ranges are split
    by branch-free Lomuto passes, first into (> pivot | <= pivot) and, when the answer
    lies right of that, into (== pivot | < pivot): a branch on the comparison would be
    mispredicted half the time on random data. Short ranges use a three-way (Dutch
    flag) partition. Both keep long runs of equal values (zero-initialised scores)
    O(n). Afterwards ``buf[:kth]`` holds values >= the answer.
    """
    lo = 0
    hi = buf.shape[0] - 1
    while lo < hi:
        pivot = _median_of_three(buf[lo], buf[(lo + hi) // 2], buf[hi])
        if hi - lo >= _BRANCHY_BELOW:
            j = lo
            for i in range(lo, hi + 1):  # [lo, j) > pivot; swap unconditionally, advance on the test
                v = buf[i]
                buf[i] = buf[j]
                buf[j] = v
                j += v > pivot
            if kth < j:
                hi = j - 1
                continue
            e = j
            for i in range(j, hi + 1):  # [j, e) == pivot
                v = buf[i]
                buf[i] = buf[e]
                buf[e] = v
                e += v == pivot
            if kth < e:
                return pivot
            lo = e
            continue
        lt = lo
        i = lo
        gt = hi
        # descending: [lo, lt) > pivot, [lt, gt] == pivot, (gt, hi] < pivot
        while i <= gt:
            v = buf[i]
            if v > pivot:
                buf[i] = buf[lt]
                buf[lt] = v
                lt += 1
                i += 1
            elif v < pivot:
                buf[i] = buf[gt]
                buf[gt] = v
                gt -= 1
            else:
                i += 1
        if kth < lt:
            hi = lt - 1
        elif kth > gt:
            lo = gt + 1
        else:
            return pivot
    return buf[kth]


@njit
def _count_greater_abs(scores, threshold):
    # number of i with |scores[i]| > threshold
    count = 0
    for i in range(scores.shape[0]):
        if abs(scores[i]) > threshold:
            count += 1
    return count


@njit
def _apply_threshold(scores, theta0, threshold, ties_allowed, mask, w_eff, ever, track):
    """Build mask, masked weights and the ever-selected bitmap in one pass.

    An edge is kept when |s| > threshold, or when |s| == threshold and fewer than
    ``ties_allowed`` tied edges with a lower index were kept (ties go to the lower
    index). Returns (ties_used, kept, newly_ever_selected, mask_flips, nonfinite),
    where ``nonfinite`` counts NaN or infinite scores (a diverged search).
    Branch-free on the common path: keep/drop is data-dependent and close to a coin
    flip, so a branch per edge would be mispredicted half the time.
    """
    ties_used = 0
    kept = 0
    nonfinite = 0
    new_ever = 0
    flips = 0
    for i in range(scores.shape[0]):
        a = abs(scores[i])
        nonfinite += not a < np.inf  # NaN or inf
        tie = a == threshold
        if tie:  # rare: only edges exactly at the threshold
            tie = ties_used < ties_allowed
            ties_used += tie
        k = np.uint8((a > threshold) | tie)
        kept += k
        flips += mask[i] != k
        mask[i] = k
        w_eff[i] = theta0[i] * k
    if track:
        for i in range(scores.shape[0]):
            e = ever[i]
            m = mask[i]
            new_ever += m & (e ^ np.uint8(1))
            ever[i] = e | m
    return ties_used, kept, new_ever, flips, nonfinite


@njit
def _apply_threshold_untied(scores, theta0, threshold, mask, w_eff, ever, track):
    """:func:`_apply_threshold` when every edge tied at the threshold is kept (keep = |s| >= t).

    The common case (``ties_allowed`` equals the number of tied edges, usually one)
    needs no tie counter, so the single pass that builds the mask, the masked
    weights and the ever-selected bitmap has no branch and no serial dependency:
    LLVM vectorises it. Returns (kept, newly_ever_selected, mask_flips, nonfinite).
    """
    kept = 0
    nonfinite = 0
    new_ever = 0
    flips = 0
    n = scores.shape[0]
    if track:
        for i in range(n):
            a = abs(scores[i])
            nonfinite += not a < np.inf  # NaN or inf
            k = np.uint8(a >= threshold)
            kept += k
            flips += mask[i] != k
            mask[i] = k
            w_eff[i] = theta0[i] * k
            e = ever[i]
            new_ever += k & (e ^ np.uint8(1))
            ever[i] = e | k
    else:
        for i in range(n):
            a = abs(scores[i])
            nonfinite += not a < np.inf
            k = np.uint8(a >= threshold)
            kept += k
            flips += mask[i] != k
            mask[i] = k
            w_eff[i] = theta0[i] * k
    return kept, new_ever, flips, nonfinite


@njit
def _relu_forward(x, y):
    # y = max(x, 0) as np.maximum: NaN propagates, -0.0 becomes +0.0; (n,) -> (n,)
    zero = y.dtype.type(0)
    for i in range(x.shape[0]):
        v = x[i]
        y[i] = v if (v > 0) | (v != v) else zero


@njit
def _relu_backward(dy, y, dx):
    # dx = dy where y > 0, else +0.0 (np.where(y > 0, dy, 0)); (n,) -> (n,)
    zero = dx.dtype.type(0)
    for i in range(dy.shape[0]):
        dx[i] = dy[i] if y[i] > 0 else zero


@njit
def _sgd_scores(scores, grad_eff, theta0, velocity, lr, momentum, weight_decay, nesterov):
    """One SGD step on the scores through the straight-through estimator.

    The mask is ranked by |s|, so dL/ds = sign(s) * dL/dW_eff * theta0 (the mask is
    the identity in backward, abs is not; sign(0) = 0 as in torch autograd).
    """
    n = scores.shape[0]
    # sign(s) as a multiplier (+1, -1 or 0) instead of a branch on the sign of s, which
    # would be mispredicted half the time; (g * -1) == -g and g * 0 as before, exactly.
    # The momentum/Nesterov choice is made once, outside the loops.
    if momentum == 0:
        for i in range(n):
            s = scores[i]
            g = grad_eff[i] * theta0[i] * ((s > 0) - (s < 0))
            scores[i] = s - lr * (g + weight_decay * s)
    elif nesterov:
        for i in range(n):
            s = scores[i]
            g = grad_eff[i] * theta0[i] * ((s > 0) - (s < 0)) + weight_decay * s
            v = momentum * velocity[i] + g
            velocity[i] = v
            scores[i] = s - lr * (g + momentum * v)
    else:
        for i in range(n):
            s = scores[i]
            g = grad_eff[i] * theta0[i] * ((s > 0) - (s < 0)) + weight_decay * s
            v = momentum * velocity[i] + g
            velocity[i] = v
            scores[i] = s - lr * v


@njit
def _sgd_plain(param, grad, velocity, lr, momentum, weight_decay, nesterov):
    """One SGD step on a dense parameter (torch.optim.SGD semantics, no dampening)."""
    for i in range(param.shape[0]):
        p = param[i]
        g = grad[i] + weight_decay * p
        if momentum != 0:
            v = momentum * velocity[i] + g
            velocity[i] = v
            if nesterov:
                g = g + momentum * v
            else:
                g = v
        param[i] = p - lr * g


# -- hard-pruning search space: selection restricted to allowed edges --------------


@njit
def _abs_allowed_into(src, allowed, dst):
    # dst[:m] = |src[i]| for the m edges with allowed[i] == 1, in index order; returns m.
    # Branch-free: writes dst[m] for every i (m <= i, so dst needs src's length).
    m = 0
    for i in range(src.shape[0]):
        dst[m] = abs(src[i])
        m += allowed[i]
    return m


@njit
def _count_greater_abs_allowed(scores, allowed, threshold):
    # number of i with allowed[i] == 1 and |scores[i]| > threshold
    count = 0
    for i in range(scores.shape[0]):
        count += (abs(scores[i]) > threshold) & (allowed[i] != 0)
    return count


@njit
def _apply_threshold_allowed(scores, allowed, theta0, threshold, ties_allowed, mask, w_eff, ever, track):
    """:func:`_apply_threshold` where only edges with ``allowed[i] == 1`` (uint8 0/1) may be kept.

    Ties at the threshold go to the lower index among allowed edges. Every score,
    allowed or not, is checked for NaN/inf. Returns (ties_used, kept,
    newly_ever_selected, mask_flips, nonfinite). Branch-free on the common path,
    as :func:`_apply_threshold`.
    """
    ties_used = 0
    kept = 0
    nonfinite = 0
    new_ever = 0
    flips = 0
    for i in range(scores.shape[0]):
        a = abs(scores[i])
        nonfinite += not a < np.inf  # NaN or inf
        ok = allowed[i]
        tie = a == threshold
        if tie:  # rare: only edges exactly at the threshold
            tie = ok != 0 and ties_used < ties_allowed
            ties_used += tie
        k = np.uint8((a > threshold) | tie) & ok
        kept += k
        flips += mask[i] != k
        mask[i] = k
        w_eff[i] = theta0[i] * k
    if track:
        for i in range(scores.shape[0]):
            e = ever[i]
            m = mask[i]
            new_ever += m & (e ^ np.uint8(1))
            ever[i] = e | m
    return ties_used, kept, new_ever, flips, nonfinite
