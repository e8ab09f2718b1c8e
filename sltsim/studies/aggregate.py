"""Aggregation over seeds, for every study's tables (the one copy of each helper).

- mean ± sample std over seeds: :func:`mean_std`, :func:`mean_std_row` (a row of them),
  :func:`pm` (as text);
- mean ± the half-width of its 95% t-interval: :func:`mean_ci`, :func:`interval_row`,
  :func:`format_ci` and :func:`ci` (as text), :func:`excludes_zero` (a verdict's test);
- grouping and pairing records: :func:`ok_records`, :func:`group_by`,
  :func:`paired_differences`, and two trends, :func:`slope` and :func:`spearman`;
- per-dataset configs from a preset (:func:`dataset_configs`) and the rows of the cells
  that diverged (:func:`diverged_rows`), which carry no metrics, so the means skip them.

The intervals. The study verdicts compare methods seed by seed (the runs of one seed share
theta0, s0, the data and the batches), so what a verdict rests on is the mean of a handful
of paired differences. With n seeds that mean's 95% interval is

    mean ± t_{0.975, n-1} * std / sqrt(n)        (std: the sample std, ddof 1),

Student's t-interval. It assumes nothing about the sign of the effect and widens quickly
when n is small (t = 3.18 at n = 4, 2.78 at n = 5): a difference whose interval excludes 0
is one the seeds agree on, not one that merely has the right mean. With one value the
half-width of :func:`mean_ci` is infinite (no spread can be estimated), so no single-seed
difference is ever called.

A study that runs on several data sets names them in its preset as sub-tables of
``[study]``, each holding the :class:`~sltsim.config.RunConfig` fields that differ from
the preset's ``[config]`` for that data set::

    [study.datasets.digits]
    model = "mlp:64,256,256,10"

    [study.datasets.planted]
    model = "mlp:32,256,256,10"
    n_train = 4000

The table's name is the ``data`` field itself (digits, mnist1d, planted), so the
records of each data set are told apart by ``config["data"]`` alone.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Callable, Hashable, Iterable, Mapping, Sequence

import numpy as np

from sltsim.config import RunConfig

#: two-sided coverage of every interval the studies print
LEVEL = 0.95


def mean_std(values: Iterable) -> tuple[float, float]:
    """(mean, sample std with ddof=1) of the finite values; (nan, nan) for none, std 0 for one."""
    arr = np.asarray([v for v in values if v is not None and math.isfinite(v)], float)
    if arr.size == 0:
        return math.nan, math.nan
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else 0.0


def ok_records(records: Iterable[dict]) -> list[dict]:
    """The records whose status is ``"ok"`` (failed and diverged cells carry no metrics)."""
    return [r for r in records if r.get("status") == "ok"]


def group_by(records: Iterable[dict], key: Callable[[dict], Hashable]) -> dict:
    """``{key(record): [records]}``, keys in first-seen order."""
    groups: dict = defaultdict(list)
    for r in records:
        groups[key(r)].append(r)
    return dict(groups)


def mean_std_row(group: Sequence[dict], columns: Sequence[str]) -> dict:
    """``{"seeds": n, col: mean, col + "_std": std}`` of each column over ``group``'s records."""
    row: dict = {"seeds": len(group)}
    for col in columns:
        row[col], row[col + "_std"] = mean_std(r.get(col) for r in group)
    return row


def pm(row: Mapping, col: str, fmt: str = ".3f") -> str:
    """``"mean±std"`` of a summarised column; ``"-"`` when it has no value."""
    mean, std = row.get(col), row.get(col + "_std")
    if mean is None or not math.isfinite(mean):
        return "-"
    return f"{mean:{fmt}}±{std:{fmt.lstrip('+')}}"


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


def interval_row(records: Sequence[dict], columns: Sequence[str]) -> dict:
    """``{"seeds": n, col: mean, col + "_ci": half-width of the 95% t-interval, col + "_n": count}``
    of each column over ``records`` (:func:`sltsim.metrics.recovery.interval`: a NaN half-width
    for one value, which :func:`ci` prints as ``±inf``)."""
    from sltsim.metrics.recovery import interval

    out = {"seeds": len(records)}
    for col in columns:
        mean, half, n = interval(r.get(col) for r in records)
        out[col], out[col + "_ci"], out[col + "_n"] = mean, half, n
    return out


def ci(row: Mapping, col: str, digits: int = 2) -> str:
    """``"m±h"`` of an :func:`interval_row` column, ``"m±inf"`` with one seed (as :func:`format_ci`:
    no spread can be estimated), ``"-"`` when missing."""
    m, h = row.get(col, math.nan), row.get(col + "_ci", math.nan)
    if m is None or (isinstance(m, float) and math.isnan(m)):
        return "-"
    if h is None or (isinstance(h, float) and math.isnan(h)):
        return f"{m:.{digits}f}±inf"
    return f"{m:.{digits}f}±{h:.{digits}f}"


def paired_differences(a: Sequence[dict], b: Sequence[dict], col: str) -> list[float]:
    """``a[col] - b[col]`` for each seed present in both groups (same seed: same theta0, s0, data)."""
    by_seed = {r["config"]["seed"]: r.get(col) for r in b}
    out = []
    for r in a:
        other = by_seed.get(r["config"]["seed"])
        value = r.get(col)
        if other is not None and value is not None and math.isfinite(other) and math.isfinite(value):
            out.append(value - other)
    return out


def slope(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """Least-squares slope of y on x and its standard error (nan when it cannot be estimated)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.size < 3 or np.ptp(x) == 0:
        return math.nan, math.nan
    if np.ptp(y) == 0:
        return 0.0, 0.0
    xc = x - x.mean()
    b = float((xc * (y - y.mean())).sum() / (xc * xc).sum())
    residual = y - y.mean() - b * xc
    se = math.sqrt(float((residual**2).sum()) / (x.size - 2) / float((xc * xc).sum()))
    return b, se


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation (average ranks for ties); nan when either side is constant."""
    from scipy.stats import spearmanr

    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    return float(spearmanr(x, y).statistic)


def dataset_configs(preset: dict, allowed_data: Sequence[str] = ("digits", "mnist1d", "planted")) -> dict:
    """``{data name: RunConfig}`` from the preset's ``[study.datasets.<data>]`` tables.

    Each config is the preset's ``[config]`` with the data set's overrides and ``data``
    set to the table's name. Raises ValueError (one line naming the file and the table)
    for an unknown data set, a ``data`` key inside the table, or a bad field.
    """
    path = preset["path"]
    tables = preset["study"].get("datasets")
    if not tables:
        raise ValueError(f"[study] of {path} must name at least one data set as a table "
                         f"[study.datasets.NAME], NAME one of {', '.join(allowed_data)}")
    out = {}
    for name, overrides in tables.items():
        where = f"[study.datasets.{name}] of {path}"
        if name not in allowed_data:
            raise ValueError(f"{where}: unknown data set {name!r}; known: {', '.join(allowed_data)}")
        if not isinstance(overrides, dict):
            raise ValueError(f"{where} must be a table of config fields, got {overrides!r}")
        if "data" in overrides:
            raise ValueError(f"{where}: the table's name is its data set; remove the key 'data'")
        try:
            out[name] = RunConfig.from_dict({**preset["config"], **overrides, "data": name}, source=where)
        except (TypeError, ValueError) as e:
            message = str(e)
            raise ValueError(message if where in message else f"{where}: {message}") from None
    return out


def checked(path, build: Callable[[], list]) -> list:
    """``build()``, with a ValueError from a config it makes prefixed by the preset's file."""
    try:
        return build()
    except ValueError as e:
        message = str(e)
        raise ValueError(message if str(path) in message else f"{path}: {message}") from None


def diverged_rows(records: Sequence[dict], status: str = "diverged") -> list[dict]:
    """One row per setting with cells of ``status``: the config fields that vary over the grid
    (``seed`` aside), the seeds, their count and the first reason, in first-seen order.

    A study's own table averages its ``ok`` records, so a setting whose every seed diverged
    would leave no row at all; these rows say where it went. Records without a config
    (or with none of ``status``) give no row.
    """
    configs = [r["config"] for r in records if isinstance(r.get("config"), dict)]
    names = sorted({name for c in configs for name in c})
    varying = [n for n in names if n != "seed" and len({_hashable(c.get(n)) for c in configs}) > 1]
    if all(c.get("final_prune_rate") == c.get("prune_rate") for c in configs):  # derived, says nothing new
        varying = [n for n in varying if n != "final_prune_rate"]
    groups = group_by([r for r in records if r.get("status") == status and isinstance(r.get("config"), dict)],
                      lambda r: tuple(_hashable(r["config"].get(n)) for n in varying))
    rows = []
    for group in groups.values():
        row = {n: group[0]["config"].get(n) for n in varying}
        seeds = sorted(r["config"].get("seed") for r in group)
        row.update(status=status, seeds=len(seeds), seed_list=seeds, reason=group[0].get("reason", ""))
        rows.append(row)
    return rows


def format_diverged(rows: Sequence[dict]) -> str:
    """The rows of :func:`diverged_rows` as text, one line each ("" for none)."""
    if not rows:
        return ""
    n = sum(r["seeds"] for r in rows)
    lines = [f"{rows[0]['status']}: {n} cell{'s' * (n != 1)} with no metrics, left out of the means above"]
    for row in rows:
        where = ", ".join(f"{k}={row[k]}" for k in row if k not in ("status", "seeds", "seed_list", "reason"))
        seeds = ",".join(str(s) for s in row["seed_list"])
        lines.append(f"  {row['status']:<8} {where or 'every setting'} | seeds {seeds} | {row['reason']}")
    return "\n".join(lines)


def _hashable(value):
    return tuple(value) if isinstance(value, list) else value
