"""What the study tables share: per-dataset configs from a preset, mean ± std over seeds,
and the rows of the cells that diverged (which carry no metrics, so the tables' means skip them).

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


def summarise(group: Sequence[dict], columns: Sequence[str]) -> dict:
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
