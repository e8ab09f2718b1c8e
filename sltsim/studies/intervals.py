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

#: two-sided coverage of every interval the studies print
LEVEL = 0.95


def mean_ci(values: Iterable, level: float = LEVEL) -> tuple[float, float, int]:
    """(mean, half-width of its ``level`` t-interval, n) of the finite ``values``
    (:func:`sltsim.metrics.recovery.interval`), with an infinite half-width for one value.

    (nan, nan, 0) when there are none.
    """
    from sltsim.metrics.recovery import interval

    mean, half, n = interval(values, level)
    return mean, (math.inf if n == 1 else half), n


def excludes_zero(mean: float, half: float) -> bool:
    """Whether the interval mean ± half lies entirely on one side of 0."""
    return math.isfinite(mean) and math.isfinite(half) and abs(mean) > half


def format_ci(mean: float, half: float, fmt: str = "+.3f") -> str:
    """``"+0.031±0.012"`` (mean ± half-width); ``"-"`` when there is no value, ``±inf`` for one seed."""
    if mean is None or not math.isfinite(mean):
        return "-"
    width = "inf" if math.isinf(half) else f"{half:{fmt.lstrip('+')}}"
    return f"{mean:{fmt}}±{width}"
