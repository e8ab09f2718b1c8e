"""Study ``hyperparams``: learning rate, batch size and weight decay against the dying ratio (paper App. A.2).

One factor at a time around the preset's ``[config]``: the learning rate runs through
``lrs`` with batch size and weight decay at their base values, then the batch size, then
the weight decay, each for every seed and every data set of the preset (digits, and a
planted MLP where the dying edges split into false and true negatives). The base point
is shared by the three sweeps and runs once. Epochs are fixed, so a smaller batch also
takes more steps (ceil(n_train / B) per epoch), as in the usual practice the paper follows.

A note for reading the results: the mask depends only on the ranking of |s|, and the
straight-through gradient dL/ds = sign(s) * dL/dW_eff * theta0 does not depend on |s|.
With SGD (momentum buffer b <- mu b + g + wd s, s <- s - lr b), scaling s0 by c, the
learning rate by c and the weight decay by 1/c scales every later s by c and leaves every
mask unchanged: what matters is the learning rate relative to the score init's scale.
Weight decay shrinks every score by (1 - lr * wd) per step, which leaves the ranking
alone but makes the later gradient steps larger relative to |s|.

Run ``python -m sltsim.studies.hyperparams [--quick | --preset paper]``.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np

from sltsim import figstyle
from sltsim.config import RunConfig
from sltsim.figures import save_figure
from sltsim.studies.aggregate import (checked, dataset_configs, group_by, mean_std_row, ok_records, pm,
                                      spearman)
from sltsim.studies.columns import derived, quality
from sltsim.studies.study import Study

NAME = "hyperparams"
STUDY_KEYS = {"lrs": list[float], "batch_sizes": list[int], "weight_decays": list[float], "datasets": dict,
              "seeds": int}
#: (config field, [study] key, words)
FACTORS = (("lr", "lrs", "learning rate"), ("batch_size", "batch_sizes", "batch size"),
           ("weight_decay", "weight_decays", "weight decay"))
COLUMNS = ("quality", "test_acc", "dying_ratio", "k_minus_d", "false_negative_dying", "true_negative_dying", "recall",
           "enrichment", "recall_above_chance")
# |Spearman rho| at least this much is called a direction; below it, "no clear trend"
TREND_RHO = 0.5


def grid(study: dict, configs: dict) -> list[RunConfig]:
    """Per data set, per factor, per value, per seed: the data set's config with that one factor changed."""
    out = []
    for config in configs.values():
        for field, key, _ in FACTORS:
            for value in study.get(key, [getattr(config, field)]):
                value = float(value) if field != "batch_size" else int(value)
                out += [config.replace(**{field: value}, seed=seed) for seed in range(study.get("seeds", 1))]
    return out


def _base(records: list[dict]) -> dict:
    """The base value of each factor: its most common value among the records (ties: the smallest).

    In a one-factor-at-a-time grid every cell of the other sweeps holds a factor at its
    base value, so the base is the mode whenever another sweep has any cell."""
    out = {}
    for field, _, _ in FACTORS:
        counts = Counter(r["config"][field] for r in records)
        out[field] = min(counts, key=lambda v: (-counts[v], v))
    return out


def table(records: list[dict]) -> list[dict]:
    """One row per (data set, factor, value), the other two factors at their base values.

    The base row appears once per factor with ``base = True``.
    """
    unique = {r["key"]: derived(r) for r in ok_records(records)}.values()
    rows = []
    for data, group in group_by(unique, lambda r: r["config"]["data"]).items():
        base = _base(group)
        _, quality_name, sign = quality(group[0]["config"])
        for field, _, words in FACTORS:
            others = [f for f, _, _ in FACTORS if f != field]
            sweep = [r for r in group if all(r["config"][f] == base[f] for f in others)]
            for value, cell in sorted(group_by(sweep, lambda r: r["config"][field]).items()):
                row = {"data": data, "factor": field, "factor_words": words, "value": value,
                       "base": value == base[field], "prune_rate": cell[0]["config"]["prune_rate"],
                       "quality_name": quality_name, "quality_sign": sign,
                       "epochs": cell[0]["config"]["epochs"]}
                row.update(mean_std_row(cell, COLUMNS))
                row["per_seed_dying_ratio"] = [r["dying_ratio"] for r in cell]
                row["per_seed_quality"] = [r["quality"] for r in cell]
                rows.append(row)
    return rows


def verdict(rows: list[dict]) -> list[dict]:
    """Per (data set, factor): Spearman rho of the factor's value against d_T and against the quality
    (test accuracy, or 1 - R^2 on planted regression) over every (value, seed) cell, the direction it
    names, and the best value (highest accuracy or lowest 1 - R^2)."""
    out = []
    for (data, field), group in group_by(rows, lambda r: (r["data"], r["factor"])).items():
        values = [r["value"] for r in group for _ in r["per_seed_dying_ratio"]]
        rho_d = spearman(values, [d for r in group for d in r["per_seed_dying_ratio"]])
        rho_a = spearman(values, [a for r in group for a in r["per_seed_quality"]])
        sign = group[0]["quality_sign"]
        best = max(group, key=lambda r: sign * r["quality"])
        lowest = min(group, key=lambda r: r["dying_ratio"])
        out.append({"data": data, "factor": field, "factor_words": group[0]["factor_words"],
                    "quality_name": group[0]["quality_name"], "rho_dying_ratio": rho_d, "rho_quality": rho_a,
                    "dying_ratio_direction": _direction(rho_d, group, "dying_ratio"),
                    "quality_direction": _direction(rho_a, group, "quality"),
                    "dying_ratio_range": (min(r["dying_ratio"] for r in group), max(r["dying_ratio"] for r in group)),
                    "best_quality_value": best["value"], "lowest_dying_ratio_value": lowest["value"]})
    return out


def _direction(rho: float, group: list[dict], col: str) -> str:
    """"rises"/"falls" when |rho| >= TREND_RHO and the means span more than twice the largest
    std over seeds (so seed noise alone cannot make the trend); else "no clear trend"."""
    means = [r[col] for r in group]
    span, noise = max(means) - min(means), max(r[col + "_std"] for r in group)
    if not math.isfinite(rho) or abs(rho) < TREND_RHO or span <= 2 * noise:
        return "no clear trend"
    return "rises" if rho > 0 else "falls"


def format_verdict(verdicts: list[dict]) -> str:
    lines = []
    for v in verdicts:
        lo, hi = v["dying_ratio_range"]
        lines.append(f"verdict {v['data']}, {v['factor_words']}: as it grows d_T {v['dying_ratio_direction']} "
                     f"(rho {v['rho_dying_ratio']:+.2f}, d_T from {lo:.3f} to {hi:.3f}), {v['quality_name']} "
                     f"{v['quality_direction']} (rho {v['rho_quality']:+.2f}); best {v['quality_name']} at "
                     f"{v['best_quality_value']:g}, lowest d_T at {v['lowest_dying_ratio_value']:g}")
    return "\n".join(lines)


def format_table(rows: list[dict]) -> str:
    lines = []
    for data, group in group_by(rows, lambda r: r["data"]).items():
        head = (f"  {'factor':<13} {'value':>8} | {group[0]['quality_name']:>11} {'d_T':>11} {'k-d_T':>11} | "
                f"{'fn':>11} {'tn':>11} {'recall':>11} {'enrichment':>11} {'rac':>12}")
        lines += [f"{data} (k = {group[0]['prune_rate']:g}, {group[0]['epochs']} epochs; * = base point)",
                  head, "-" * len(head)]
        for r in group:
            lines.append(f"{'*' if r['base'] else ' '} {r['factor_words']:<13} {r['value']:>8g} | "
                         f"{pm(r, 'quality'):>11} {pm(r, 'dying_ratio'):>11} {pm(r, 'k_minus_d'):>11} | "
                         f"{pm(r, 'false_negative_dying'):>11} {pm(r, 'true_negative_dying'):>11} "
                         f"{pm(r, 'recall'):>11} {pm(r, 'enrichment'):>11} {pm(r, 'recall_above_chance', '+.3f'):>12}")
        lines.append("")
    return "\n".join(lines).rstrip()


def plot(rows: list[dict], out_dir: Path) -> list[Path]:
    """Draw the rows of :func:`table` into ``out_dir``/hyperparams.{png,svg}."""
    from matplotlib.ticker import ScalarFormatter

    if not rows:
        return []
    fig, axes = figstyle.subplots(2, len(FACTORS), width=figstyle.DOUBLE_COLUMN, height=4.8, sharey="row")
    units = {"lr": "learning rate $\\gamma$ (log scale)", "batch_size": "batch size $B$ (log scale)",
             "weight_decay": "weight decay on the scores (symlog scale)"}
    k = rows[0]["prune_rate"]
    for j, (field, _, words) in enumerate(FACTORS):
        for i, (col, label) in enumerate((("dying_ratio", "dying ratio $d_T$ (fraction of edges)"),
                                          ("quality", "accuracy, or $1 - R^2$ (planted)"))):
            ax = axes[i, j]
            for n, (data, group) in enumerate(group_by([r for r in rows if r["factor"] == field],
                                                       lambda r: r["data"]).items()):
                x = np.array([r["value"] for r in group], float)
                ax.errorbar(x, [r[col] for r in group], yerr=[r[col + "_std"] for r in group],
                            **figstyle.series(n), label=f"EP on {data} ({group[0]['quality_name']})")
                base = [r["value"] for r in group if r["base"]]
                if base and n == 0:
                    figstyle.reference_line(ax, x=base[0], label="base value", linestyle=":")
            if field == "weight_decay":
                positive = [r["value"] for r in rows if r["factor"] == field and r["value"] > 0]
                linthresh = min(positive) if positive else 1e-5
                ax.set_xscale("symlog", linthresh=linthresh)
                ax.set_xlim(-0.5 * linthresh, 1.6 * max(positive, default=linthresh))
            else:
                ax.set_xscale("log", base=2 if field == "batch_size" else 10)
                if field == "batch_size":
                    ax.xaxis.set_major_formatter(ScalarFormatter())
            if col == "dying_ratio":
                figstyle.reference_line(ax, y=k, label=f"$d = k$ = {k:g} (never revived)")
                ax.set_title(f"dying ratio vs {words}")
            else:
                ax.set_title(f"quality of the mask vs {words}")
            ax.set_xlabel(units[field])
            if j == 0:
                ax.set_ylabel(label)
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside lower center", ncol=4)
    fig.suptitle(f"EP at k = {k:g}, one factor at a time around the base point (mean ± std over seeds)")
    figstyle.finish(fig)
    return save_figure(
fig, Path(out_dir) / f"{NAME}.png", formats=("png", "svg"))


def _grid(preset: dict) -> list[RunConfig]:
    configs = dataset_configs(preset)
    return checked(preset["path"], lambda: grid(preset["study"], configs))


def _format(rows: list[dict], records: list[dict], preset: dict) -> str:
    return format_table(rows) + "\n" + format_verdict(verdict(rows))


def figures(records: list[dict], out_dir: Path) -> list[Path]:
    """figures/hyperparams.png: d_T and test accuracy against each factor, one line per data set."""
    return plot(table(records), out_dir)


STUDY = Study(name=NAME, keys=STUDY_KEYS, grid=_grid, table=table, format=_format, figures=figures,
              doc=__doc__)
main = STUDY.main

if __name__ == "__main__":
    import sys

    sys.exit(STUDY.cli(sys.argv[1:]))
