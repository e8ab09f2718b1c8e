"""Top-k selection of edges by |score|: the public, validating wrappers.

Selection is O(n): the threshold comes from the layer's previous threshold as a
bracket (warm start) or, failing that, from a sampled bracket narrowed in place, and
quickselect on the few values inside (:mod:`sltsim.engine.topk_kernels`); then one
fused pass builds the mask, the masked weights and the ever-selected bitmap. Exactly
``round(k * n)`` edges are masked (``floor(k * n + 0.5)``: halves round up), and
edges whose |s| ties at the threshold are kept in index order, so the mask is a
deterministic function of the scores.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from sltsim.engine.topk_kernels import (_abs_into, _apply_threshold, _count_greater_abs, _kth_largest,
                                        _threshold_and_greater)


def masked_count(n: int, prune_rate: float) -> int:
    """Number of edges masked out of ``n`` at prune rate k: round(k * n), halves up."""
    if not 0.0 <= prune_rate < 1.0:
        raise ValueError(f"prune_rate must be in [0, 1), got {prune_rate}")
    return int(math.floor(prune_rate * n + 0.5))


def keep_count(n: int, prune_rate: float) -> int:
    """Number of edges kept out of ``n`` at prune rate k."""
    return n - masked_count(n, prune_rate)


def threshold_for(scores: np.ndarray, n_keep: int, buffer: np.ndarray) -> tuple[float, int]:
    """The |s| threshold that keeps ``n_keep`` edges, and how many ties may pass it.

    Parameters
    ----------
    scores : (n,) float array, flat.
    n_keep : edges to keep, 0 <= n_keep <= n.
    buffer : (n,) scratch array of the scores' dtype; overwritten.

    Returns
    -------
    threshold : float, the n_keep-th largest |s| (inf when n_keep == 0).
    ties_allowed : edges with |s| == threshold that may be kept.
    """
    threshold, ties_allowed, _ = threshold_and_ties(scores, n_keep, buffer)
    return threshold, ties_allowed


def threshold_and_ties(scores: np.ndarray, n_keep: int, buffer: np.ndarray) -> tuple[float, int, int]:
    """:func:`threshold_for` and the number of edges tied at the threshold.

    Returns
    -------
    threshold, ties_allowed : as :func:`threshold_for`.
    n_tied : edges with |s| == threshold (0 when n_keep == 0). When it equals
        ``ties_allowed`` every tied edge is kept and the mask is simply |s| >= threshold.
    """
    if n_keep <= 0:
        return math.inf, 0, 0
    threshold, greater, tied = _threshold_and_greater(scores, buffer, n_keep - 1)
    return float(threshold), n_keep - int(greater), int(tied)


def topk_mask(scores: np.ndarray, prune_rate: float) -> np.ndarray:
    """The EP mask of one layer: 1 for the top-(1-k) of |s|, as a uint8 array of the scores' shape.

    A convenience for tests and analysis; the training step uses
    :func:`sltsim.engine.supermask.select` which reuses buffers.
    """
    scores = np.ascontiguousarray(scores)
    if not np.all(np.isfinite(scores)):
        raise ValueError("scores must be finite, got NaN or inf")
    flat = scores.reshape(-1)
    n_keep = keep_count(flat.size, prune_rate)
    mask = np.zeros(flat.size, dtype=np.uint8)
    w_eff = np.zeros(flat.size, dtype=flat.dtype)
    threshold, ties = threshold_for(flat, n_keep, np.empty_like(flat))
    ever = np.zeros(0, dtype=np.uint8)
    _apply_threshold(flat, np.ones_like(flat), flat.dtype.type(threshold), ties, mask, w_eff, ever, False)
    return mask.reshape(scores.shape)


def global_threshold(scores: Sequence[np.ndarray], n_keep: int, buffer: np.ndarray) -> tuple[float, int]:
    """Threshold and tie budget for one top-k over the concatenation of ``scores`` (in order).

    ``buffer`` holds at least n (the total size) values; with 2n the sampled kernel of
    :func:`threshold_for` runs on the gathered |s| (the second half is its scratch),
    otherwise quickselect over all of them.
    """
    n = sum(s.size for s in scores)
    if n_keep <= 0:
        return math.inf, 0
    offset = 0
    for s in scores:
        _abs_into(s, buffer[offset : offset + s.size])
        offset += s.size
    if buffer.size >= 2 * n:
        threshold, greater, _ = _threshold_and_greater(buffer[:n], buffer[n : 2 * n], n_keep - 1)
        return float(threshold), n_keep - int(greater)
    threshold = float(_kth_largest(buffer[:n], n_keep - 1))
    greater = sum(int(_count_greater_abs(s, s.dtype.type(threshold))) for s in scores)
    return threshold, n_keep - greater
