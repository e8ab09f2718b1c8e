"""Statistics of recovering a planted ticket that cannot restate a base rate (DESIGN.md "Planted targets").

A search blind to P (a random mask at the same budget) kills P's edges and the others at
the same rate, keeps a share 1 - k of P, and leaves fn / d = |P| / n. So:

- enrichment = (share of P dying) / (share of the rest dying) = (fn / |P|) / (tn / (n - |P|));
  1 for a blind search, 0 when no edge of P dies;
- recall above chance = (recall - chance) / (1 - chance), chance = sum_l |P_l| |M_l| / n_l / |P|
  (the recall of a mask of M's per-layer counts placed at random; 1 - k when every layer
  is pruned at k): 0 for a blind search, 1 for M = P;
- unexplained = 1 - R^2 = sum (y_hat - y)^2 / sum (y - mean y)^2, pooled over outputs: the
  train loss normalised by the targets' variance, comparable across widths (0 at P);
- a 95% interval over seeds: mean +- t_{0.975, n-1} s / sqrt(n).
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np


def _finite(values: Iterable) -> np.ndarray:
    return np.asarray([v for v in values if v is not None and isinstance(v, (int, float)) and math.isfinite(v)],
                      np.float64)


def enrichment(fn: int, tn: int, n_ticket: int, n_total: int) -> float:
    """(fn / |P|) / (tn / (n - |P|)); NaN when undefined (no edge outside P dies, or P is empty or all)."""
    if n_ticket <= 0 or n_total <= n_ticket or (tn <= 0 and fn <= 0):
        return math.nan
    if tn <= 0:
        return math.inf
    return (fn / n_ticket) / (tn / (n_total - n_ticket))


def enrichment_of_shares(ticket_dying: float, true_negative_dying: float, ticket_share: float) -> float:
    """:func:`enrichment` from shares instead of counts, as a cycle summary stores them: P's dying
    share, the true-negative dying edges as a fraction of all edges and ``ticket_share`` = |P| / n;
    NaN when any is missing or no edge outside P is dying."""
    if any(v is None or not math.isfinite(v) for v in (ticket_dying, true_negative_dying, ticket_share)):
        return math.nan
    rest_dying = true_negative_dying / (1.0 - ticket_share) if ticket_share < 1.0 else math.nan
    return ticket_dying / rest_dying if rest_dying and math.isfinite(rest_dying) else math.nan


def recall_chance(ticket_edges: Iterable[int], kept: Iterable[int], sizes: Iterable[int]) -> float:
    """sum_l |P_l| |M_l| / n_l / |P|: the recall of a random mask with M's per-layer counts."""
    t, m, n = (np.asarray(list(a), np.float64) for a in (ticket_edges, kept, sizes))
    return float((t * m / n).sum() / t.sum()) if t.sum() > 0 else math.nan


def above_chance(recall, chance: float):
    """(recall - chance) / (1 - chance); None when recall is None, NaN when chance is 1."""
    if recall is None:
        return None
    return (recall - chance) / (1.0 - chance) if chance < 1 else math.nan


def unexplained(predicted: np.ndarray, target: np.ndarray) -> float:
    """1 - R^2 of ``predicted`` (N, D) against ``target`` (N, D), pooled over outputs."""
    t = np.asarray(target, np.float64)
    spread = (t - t.mean(axis=0)) ** 2
    spread[:, np.ptp(t, axis=0) == 0] = 0.0  # a constant output has no spread (its float mean may be off by an ulp)
    total = float(spread.sum())
    residual = float(((np.asarray(predicted, np.float64) - t) ** 2).sum())
    return residual / total if total > 0 else math.nan


def interval(values: Iterable, level: float = 0.95) -> tuple[float, float, int]:
    """(mean, half-width of the t interval over the finite values, their count); half-width NaN below 2."""
    from scipy.stats import t as student_t

    arr = _finite(values)
    if arr.size == 0:
        return math.nan, math.nan, 0
    if arr.size == 1:
        return float(arr[0]), math.nan, 1
    half = float(student_t.ppf(0.5 + level / 2, arr.size - 1) * arr.std(ddof=1) / math.sqrt(arr.size))
    return float(arr.mean()), half, int(arr.size)


__all__ = ["enrichment", "enrichment_of_shares", "recall_chance", "above_chance", "unexplained", "interval"]
