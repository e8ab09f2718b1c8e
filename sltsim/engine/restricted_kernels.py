"""Private Numba kernels of the hard-pruning search space: selection restricted to searchable edges.

Used by :func:`sltsim.engine.supermask.select` for a param with ``searchable`` set
(:meth:`~sltsim.engine.supermask.MaskedParam.restrict`). Arrays in, no checks, no
allocation; flat (1-D) views. Branch-free on the common path, as the unrestricted
kernels of :mod:`sltsim.engine.topk_kernels`.
"""

from __future__ import annotations

import numpy as np

from sltsim.engine.jit import njit


@njit
def _abs_searchable_into(src, searchable, dst):
    # dst[:m] = |src[i]| for the m edges with searchable[i] == 1, in index order; returns m.
    # Branch-free: writes dst[m] for every i (m <= i, so dst needs src's length).
    m = 0
    for i in range(src.shape[0]):
        dst[m] = abs(src[i])
        m += searchable[i]
    return m


@njit
def _count_greater_abs_searchable(scores, searchable, threshold):
    # number of i with searchable[i] == 1 and |scores[i]| > threshold
    count = 0
    for i in range(scores.shape[0]):
        count += (abs(scores[i]) > threshold) & (searchable[i] != 0)
    return count


@njit
def _apply_threshold_searchable(scores, searchable, theta0, threshold, ties_allowed, mask, w_eff, ever, track):
    """:func:`_apply_threshold` where only edges with ``searchable[i] == 1`` (uint8 0/1) may be kept.

    Ties at the threshold go to the lower index among searchable edges. Every score,
    searchable or not, is checked for NaN/inf. Returns (ties_used, kept,
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
        ok = searchable[i]
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
