"""Intervals over seeds: the mean of a few per-seed values and its 95% t-interval.

The study verdicts compare methods seed by seed (the runs of one seed share theta0, s0,
the data and the batches), so what a verdict rests on is the mean of a handful of paired
differences. With n seeds that mean's 95% interval is

    mean ± t_{0.975, n-1} * std / sqrt(n)        (std: the sample std, ddof 1),

Student's t-interval. It assumes nothing about the sign of the effect and widens quickly
when n is small (t = 3.18 at n = 4, 2.78 at n = 5): a difference whose interval excludes 0
is one the seeds agree on, not one that merely has the right mean. With one value the
half-width is infinite (no spread can be estimated), so no single-seed difference is
ever called.
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

#: two-sided coverage of every interval the studies print
LEVEL = 0.95


def finite(values: Iterable) -> np.ndarray:
    """The finite values among ``values`` (None and NaN dropped), as a float array."""
    return np.asarray([v for v in values if v is not None and math.isfinite(v)], float)


def t_half_width(std: float, n: int, level: float = LEVEL) -> float:
    """Half-width of the t-interval of a mean of ``n`` values with sample std ``std``.

    ``inf`` for n = 1, NaN for n = 0; 0 when every value is equal (std 0, n >= 2).
    """
    if n <= 0:
        return math.nan
    if n == 1:
        return math.inf
    from scipy.stats import t

    return float(t.ppf(0.5 + level / 2, n - 1)) * std / math.sqrt(n)


def mean_ci(values: Iterable, level: float = LEVEL) -> tuple[float, float, int]:
    """(mean, half-width of its ``level`` t-interval, n) of the finite ``values``.

    (nan, nan, 0) when there are none.
    """
    arr = finite(values)
    if arr.size == 0:
        return math.nan, math.nan, 0
    std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return float(arr.mean()), t_half_width(std, int(arr.size), level), int(arr.size)


def excludes_zero(mean: float, half: float) -> bool:
    """Whether the interval mean ± half lies entirely on one side of 0."""
    return math.isfinite(mean) and math.isfinite(half) and abs(mean) > half


def sign_word(mean: float, half: float, above: str = "above", below: str = "below", tie: str = "within") -> str:
    """``above`` / ``below`` when the interval excludes 0 on that side, else ``tie``."""
    if not excludes_zero(mean, half):
        return tie
    return above if mean > 0 else below


def format_ci(mean: float, half: float, fmt: str = "+.3f") -> str:
    """``"+0.031±0.012"`` (mean ± half-width); ``"-"`` when there is no value, ``±inf`` for one seed."""
    if mean is None or not math.isfinite(mean):
        return "-"
    width = "inf" if math.isinf(half) else f"{half:{fmt.lstrip('+')}}"
    return f"{mean:{fmt}}±{width}"
