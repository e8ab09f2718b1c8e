"""A selection rule that ranks the raw scores s, not |s| (IteRand as released).

Chijiwa et al. (NeurIPS 2021) release a mask that keeps the largest *raw* scores of
each layer (``GetSubnet`` of ``models/networks/sparse_modules.py`` in dchiji-ntt/iterand
thresholds ``weight_score`` itself), so a large negative score ranks last.
:func:`select_raw` has the contract of :func:`sltsim.engine.supermask.select`; the
identity straight-through that goes with it is ``SGD.identity_straight_through``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from sltsim.engine.supermask import finish_selection
from sltsim.engine.topk import keep_count
from sltsim.errors import Diverged


def keep_top_raw(values: np.ndarray, n_keep: int) -> np.ndarray:
    """(n,) bool: the ``n_keep`` largest entries of a flat array, ties to the lower index.

    The signed values are ranked as they are (a large negative score ranks last).
    """
    n = values.size
    if n_keep <= 0:
        return np.zeros(n, bool)
    if n_keep >= n:
        return np.ones(n, bool)
    threshold = np.partition(values, n - n_keep)[n - n_keep]
    greater = values > threshold
    tied = values == threshold
    return greater | (tied & (np.cumsum(tied) <= n_keep - int(np.count_nonzero(greater))))


def select_raw(params: Sequence, global_topk: bool = False, history=None, global_buffer=None) -> None:
    """:func:`sltsim.engine.supermask.select` with the masks ranked by the raw scores s.

    Same contract: per layer (or one threshold over all searched params at the first
    one's prune rate) the top ``n_keep`` scores are kept, ties in index order, the
    history counts the step, ``after_select`` hooks run, unsearched params stay dense.
    Hard pruning (``searchable``) is not supported; NaN or inf scores raise Diverged.
    """
    searched = [p for p in params if p.searched]
    for p in searched:
        if p.search_space is not None:
            raise ValueError(f"raw-score ranking does not support a restricted search space ({p.name})")
        nonfinite = int(np.count_nonzero(~np.isfinite(p.flat("scores"))))
        if nonfinite:
            raise Diverged(f"{nonfinite} scores of {p.name} are NaN or inf")
    if history is not None:
        history.begin_step()
    if global_topk and searched:
        keep = keep_top_raw(np.concatenate([p.flat("scores") for p in searched]),
                            keep_count(sum(p.size for p in searched), searched[0].prune_rate))
        keeps = np.split(keep, np.cumsum([p.size for p in searched])[:-1])
    else:
        keeps = [keep_top_raw(p.flat("scores"), p.n_keep()) for p in searched]
    for i, (p, keep) in enumerate(zip(searched, keeps)):
        k = keep.astype(np.uint8)
        mask = p.flat("mask")
        flips = int(np.count_nonzero(mask != k))
        mask[:] = k
        np.multiply(p.flat("theta0"), k, out=p.flat("w_eff"))
        if history is not None:
            ever = history.ever[i]
            new_ever = int(np.count_nonzero(k & (ever ^ 1)))
            ever |= k
            history.count(i, int(np.count_nonzero(k)), new_ever, flips)
    finish_selection(params, history)
