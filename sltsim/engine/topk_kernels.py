"""Private Numba kernel for the top-k threshold: sample, bracket, gather, repeat, select.

Finding the n_keep-th largest |s| of a big layer with quickselect alone walks the
whole array several times, with a mispredicted branch per element. Following Floyd
& Rivest (1975, "Expected time bounds for selection", CACM 18(3)), a sample of about
n^(2/3) values brackets the answer between two of its order statistics; one
branch-free pass counts the edges above the bracket and gathers those inside it
(a few percent of n) into the scratch buffer. The same step then runs in place on
the gathered values until a few thousand are left, and quickselect finishes on
those. Samples are fixed strides and their order statistics come from quickselect
(O(m), no sort), so the result and its cost are deterministic; when a bracket
misses (adversarial orderings, NaN), the kernel falls back to quickselect over all
|s|. The answer is exact either way.
"""

from __future__ import annotations

import numpy as np

from sltsim.engine.jit import njit
from sltsim.engine.kernels import _abs_into, _apply_threshold, _apply_threshold_untied, _kth_largest

_SMALL = 4096  # below this, plain quickselect is as fast
_SPREAD = 2.5  # bracket half-width in sample ranks, in units of sqrt(m) (5 sample sigmas)


@njit
def _sample_size(n):
    m = int(n ** (2.0 / 3.0))
    return max(256, min(m, n // 8))


@njit
def _bracket(sample, rank, n):
    """(low, high): sample order statistics around the rank-th largest (0-based) of n values.

    ``sample`` (m,) holds values drawn at a fixed stride from the n; it is reordered.
    low = -inf / high = inf when the bracket reaches past the sample's ends.
    """
    m = sample.shape[0]
    r = (rank * m) // n
    d = int(_SPREAD * np.sqrt(m)) + 1
    top = m
    low = sample.dtype.type(-np.inf)
    high = sample.dtype.type(np.inf)
    if r + d < m:
        top = r + d
        low = _kth_largest(sample, top)  # afterwards sample[:top] >= low
    if r - d >= 0:
        high = _kth_largest(sample[:top], r - d)
    return low, high


@njit
def _narrow(scores, buffer, kth):
    """Gather a short run of |s| that holds the kth largest into ``buffer``.

    Returns (size, rank, above): the kth largest |s| is the rank-th largest of
    ``buffer[:size]``, and ``above`` values of |s| exceed every value there except
    those in ``buffer[:size]`` themselves. size = -1 when a bracket missed.
    """
    n = scores.shape[0]
    m = _sample_size(n)
    stride = n // m
    for j in range(m):
        buffer[j] = abs(scores[j * stride])
    low, high = _bracket(buffer[:m], kth, n)
    above = 0
    inside = 0
    for i in range(n):  # branch-free: a branch on |s| would be mispredicted half the time
        a = abs(scores[i])
        buffer[inside] = a
        inside += (a >= low) & (a <= high)
        above += a > high
    if not above <= kth < above + inside:
        return -1, 0, 0
    size = inside
    rank = kth - above
    while size > _SMALL:
        m = _sample_size(size)
        stride = size // m
        sample = np.empty(m, buffer.dtype)
        for j in range(m):
            sample[j] = buffer[j * stride]
        low, high = _bracket(sample, rank, size)
        inside = 0
        more = 0
        for i in range(size):  # in place: inside <= i
            a = buffer[i]
            buffer[inside] = a
            inside += (a >= low) & (a <= high)
            more += a > high
        if not more <= rank < more + inside:
            return -1, 0, 0  # values outside the bracket are gone: start over
        above += more
        rank -= more
        shrunk = inside <= size // 2
        size = inside
        if not shrunk:  # many equal values: quickselect's three-way partition takes over
            break
    return size, rank, above


@njit
def _threshold_and_greater(scores, buffer, kth):
    """(kth largest |s| (0-based), number of |s| strictly greater, number equal to it).

    ``scores`` (n,) and ``buffer`` (n,) scratch of the scores' dtype (overwritten).
    """
    n = scores.shape[0]
    size, rank, above = -1, kth, 0
    if n > _SMALL:
        size, rank, above = _narrow(scores, buffer, kth)
    if size < 0:  # small, or the bracket missed: exact quickselect over all |s|
        _abs_into(scores, buffer)
        size, rank, above = n, kth, 0
    run = buffer[:size]
    t = _kth_largest(run, rank)
    greater = above
    tied = 0
    for i in range(size):
        a = run[i]
        greater += a > t
        tied += a == t
    return t, greater, tied


@njit
def _select_layer(scores, theta0, buffer, n_keep, mask, w_eff, ever, track):
    """Top-k of one layer in one call: threshold, then the fused mask / w_eff / history pass.

    Keeps the ``n_keep`` largest |s| (ties to the lower index), as
    ``threshold_and_ties`` followed by :func:`_apply_threshold_untied` (every tied edge
    kept, the usual case) or :func:`_apply_threshold` (a tie budget to count).
    Returns (kept, newly_ever_selected, mask_flips, nonfinite).
    """
    if n_keep <= 0:
        _, kept, new_ever, flips, nonfinite = _apply_threshold(
            scores, theta0, scores.dtype.type(np.inf), 0, mask, w_eff, ever, track)
        return kept, new_ever, flips, nonfinite
    t, greater, tied = _threshold_and_greater(scores, buffer, n_keep - 1)
    ties = n_keep - greater
    if ties == tied:
        return _apply_threshold_untied(scores, theta0, t, mask, w_eff, ever, track)
    _, kept, new_ever, flips, nonfinite = _apply_threshold(scores, theta0, t, ties, mask, w_eff, ever, track)
    return kept, new_ever, flips, nonfinite
