"""Private Numba kernels of top-k selection: threshold (sample, bracket, gather, select) and mask pass.

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

The same file holds every kernel the selection calls (quickselect, counts, the fused
mask / masked-weight / history pass), so that Numba's on-disk cache, keyed on the
source file of the function it compiles, never keeps a stale inlined callee.
Arrays in, no checks, no allocation beyond the sample; flat (1-D) views.
"""

from __future__ import annotations

import numpy as np

from sltsim.engine.jit import njit

_SMALL = 4096  # below this, plain quickselect is as fast
_SPREAD = 2.5  # bracket half-width in sample ranks, in units of sqrt(m) (5 sample sigmas)
_BRANCHY_BELOW = 16  # quickselect ranges shorter than this use the three-way partition


@njit
def _abs_into(src, dst):
    # dst[i] = |src[i]|, (n,) -> (n,)
    for i in range(src.shape[0]):
        dst[i] = abs(src[i])



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
    LLVM vectorises it. Returns (newly_ever_selected, mask_flips, nonfinite); the kept
    count is not counted: it is the number of |s| >= threshold, which the caller knows.
    """
    nonfinite = 0
    new_ever = 0
    flips = 0
    n = scores.shape[0]
    if track:
        for i in range(n):
            a = abs(scores[i])
            nonfinite += not a < np.inf  # NaN or inf
            k = np.uint8(a >= threshold)
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
            flips += mask[i] != k
            mask[i] = k
            w_eff[i] = theta0[i] * k
    return new_ever, flips, nonfinite


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


# -- warm start: the previous step's threshold as the bracket -------------------------
#
# From one SGD step to the next the threshold of a layer moves by a few 1e-4 of its
# value, so a bracket [t_prev - w, t_prev + w] with w a few times the last move holds
# the new threshold and ~0.1-0.5% of the |s|. One pass counts, chunk by chunk, the
# edges above and inside it (vectorised) and gathers the few chunks that have an edge
# inside; quickselect finishes on those. ``hint`` = [t_prev, w] (float64, NaN: none)
# lives with the layer; when the bracket misses or holds too much, the sampled path
# runs. Only the cost depends on the hint: the threshold is exact either way.

_CHUNK = 64
_WARM_MAX_INSIDE = 8  # give up the warm path when more than n / 8 edges are inside


@njit
def _warm_gather(scores, buffer, mid, half):
    """(above, inside): counts of |s| - mid > half and of |s - mid| <= half; the inside
    |s| gathered into ``buffer[:inside]`` in index order."""
    n = scores.shape[0]
    above = 0
    j = 0
    end = n - n % _CHUNK
    for c0 in range(0, end, _CHUNK):
        count = 0
        for i in range(c0, c0 + _CHUNK):  # vectorised: no store, no branch
            d = abs(scores[i]) - mid
            above += d > half
            count += abs(d) <= half
        if count:  # rare: a few percent of the chunks
            for i in range(c0, c0 + _CHUNK):
                a = abs(scores[i])
                if abs(a - mid) <= half:
                    buffer[j] = a
                    j += 1
    for i in range(end, n):
        a = abs(scores[i])
        d = a - mid
        above += d > half
        if abs(d) <= half:
            buffer[j] = a
            j += 1
    return above, j


@njit
def _threshold_warm(scores, buffer, kth, hint):
    """:func:`_threshold_and_greater`, starting from ``hint`` = [previous threshold, half-width]
    and updating it (the next width: three times this step's move, shrinking by at most
    a quarter per step, doubling after a miss)."""
    n = scores.shape[0]
    guess = hint[0]
    width = hint[1]
    if guess == guess and width > 0:
        above, inside = _warm_gather(scores, buffer, guess, width)
        if above <= kth < above + inside and inside * _WARM_MAX_INSIDE <= n:
            run = buffer[:inside]
            t = _kth_largest(run, kth - above)
            greater = above
            tied = 0
            for i in range(inside):
                a = run[i]
                greater += a > t
                tied += a == t
            hint[0] = t
            hint[1] = max(3.0 * abs(t - guess), 0.75 * width, 1e-7 * abs(t))
            return t, greater, tied
    t, greater, tied = _threshold_and_greater(scores, buffer, kth)
    if guess == guess and width > 0:
        hint[1] = max(3.0 * abs(t - guess), 2.0 * width)
    else:
        hint[1] = 1e-3 * abs(t)
    hint[0] = t
    return t, greater, tied


@njit
def _select_layer(scores, theta0, buffer, n_keep, mask, w_eff, ever, track, hint, counts, index, count_flips):
    """Top-k of one layer in one call: threshold, then the fused mask / w_eff / history pass.

    Keeps the ``n_keep`` largest |s| (ties to the lower index), as
    ``threshold_and_ties`` followed by :func:`_apply_threshold_untied` (every tied edge
    kept, the usual case) or :func:`_apply_threshold` (a tie budget to count). ``hint``:
    the layer's warm-start state for :func:`_threshold_warm`, updated. With ``track``
    and finite scores, row ``index`` of the history's (layers, 3) ``counts`` is
    updated as ``MaskHistory.count`` does: [kept, += newly ever-selected, += flips
    when ``count_flips``]. Returns (kept, newly_ever_selected, mask_flips, nonfinite).
    """
    if n_keep <= 0:
        _, kept, new_ever, flips, nonfinite = _apply_threshold(
            scores, theta0, scores.dtype.type(np.inf), 0, mask, w_eff, ever, track)
    else:
        t, greater, tied = _threshold_warm(scores, buffer, n_keep - 1, hint)
        ties = n_keep - greater
        if ties == tied:
            new_ever, flips, nonfinite = _apply_threshold_untied(scores, theta0, t, mask, w_eff, ever, track)
            kept = n_keep  # greater + tied = n_keep edges have |s| >= t
        else:
            _, kept, new_ever, flips, nonfinite = _apply_threshold(scores, theta0, t, ties, mask, w_eff, ever, track)
    if track and nonfinite == 0:
        counts[index, 0] = kept
        counts[index, 1] += new_ever
        if count_flips:
            counts[index, 2] += flips
    return kept, new_ever, flips, nonfinite
