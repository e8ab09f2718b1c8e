"""Private Numba kernel for the top-k threshold: sample, bracket, gather, select.

Finding the n_keep-th largest |s| of a big layer with quickselect alone walks the
whole array several times. Following Floyd & Rivest (1975, "Expected time bounds
for selection", CACM 18(3)), a sample first brackets the answer between two values;
one pass counts the edges above the bracket and gathers those inside it into the
scratch buffer (a few sqrt(n) of them), and quickselect runs on that small buffer
only. The sample is a fixed stride through the array, so the result and its cost
are deterministic; when the bracket misses (adversarial orderings), the kernel
falls back to quickselect over all |s|. The answer is exact either way.
"""

from __future__ import annotations

import numpy as np

from sltsim.engine.jit import njit
from sltsim.engine.kernels import _abs_into, _kth_largest

_SMALL = 8192  # below this, plain quickselect is as fast
_SAMPLE = 4096


@njit
def _threshold_and_greater(scores, buffer, kth):
    """(value of the kth largest |s| (0-based), number of |s| strictly greater than it).

    ``buffer`` is an (n,) scratch array of the scores' dtype; overwritten.
    """
    n = scores.shape[0]
    if n <= _SMALL:
        _abs_into(scores, buffer)
        t = _kth_largest(buffer, kth)
        greater = 0
        for i in range(n):
            if abs(scores[i]) > t:
                greater += 1
        return t, greater
    stride = n // _SAMPLE
    m = n // stride
    sample = np.empty(m, scores.dtype)
    for j in range(m):
        sample[j] = abs(scores[j * stride])
    sample.sort()  # ascending, m log m with m ~ 4096
    # position of the kth largest in the ascending sample, and a bracket of ~3 sigma
    centre = m - 1 - (kth * m) // n
    half = int(3.0 * np.sqrt(m)) + 2
    lo_i = max(centre - half, 0)
    hi_i = min(centre + half, m - 1)
    low = sample[lo_i] if lo_i > 0 else -np.inf
    high = sample[hi_i] if hi_i < m - 1 else np.inf
    above = 0
    inside = 0
    for i in range(n):  # branchless: a mispredicted branch per edge costs more than the write
        a = abs(scores[i])
        buffer[inside] = a
        inside += (a >= low) & (a <= high)
        above += a > high
    if above <= kth < above + inside:
        t = _kth_largest(buffer[:inside], kth - above)
        greater = above
        for i in range(inside):
            if buffer[i] > t:
                greater += 1
        return t, greater
    _abs_into(scores, buffer)  # the bracket missed: exact fallback
    t = _kth_largest(buffer, kth)
    greater = 0
    for i in range(n):
        if abs(scores[i]) > t:
            greater += 1
    return t, greater
