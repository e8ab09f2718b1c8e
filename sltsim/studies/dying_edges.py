"""Study ``dying_edges``: the analogue of the paper's Table 1, on a planted target.

For each prune rate k of Table 1 and each seed, EP searches a planted MLP student
(:mod:`sltsim.planted`). The table reports the final dying ratio d_T, k - d_T (the
edges first masked but selected since), and the split of d_T into false-negative
dying edges (in the planted ticket P: they should have been selected) and
true-negative ones (not in P), with recall of P and accuracy, beside the paper's
CIFAR-10 row (Table 1 of Soft iEP: ResNet-18, 100 epochs, mean of 4 seeds).

Run ``python -m sltsim.studies.dying_edges [--quick | --preset paper]``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from sltsim import figstyle
from sltsim.config import RunConfig
from sltsim.figures import load_records, register, save_figure
from sltsim.search import run_search
from sltsim.studies.cli import preset_from_args, report, run_grid_from_args, run_study, study_parser

STUDY = "dying_edges"
# Table 1 of the Soft iEP paper: EP on ResNet-18 / CIFAR-10, mean of 4 seeds.
PAPER_PRUNE_RATES = (0.200, 0.360, 0.488, 0.590, 0.672, 0.738, 0.790, 0.832)
PAPER_DYING_RATIO = (0.028, 0.166, 0.293, 0.395, 0.479, 0.540, 0.606, 0.656)
PAPER_K_MINUS_D = (0.172, 0.194, 0.195, 0.195, 0.193, 0.190, 0.184, 0.176)
STUDY_KEYS = {"prune_rates": list[float], "seeds": int, "models": list[str]}
COLUMNS = ("dying_ratio", "k_minus_d", "false_negative_dying", "true_negative_dying", "ticket_dying_ratio",
           "non_ticket_dying_ratio", "recall", "aligned_recall", "teacher_agreement", "test_acc")


def grid(study: dict, config: RunConfig) -> list[RunConfig]:
    """One config per (model, prune rate, seed), in that order; ``models`` defaults to the config's."""
    models = study.get("models", [config.model])
    return [config.replace(model=model, prune_rate=float(k), seed=seed)
            for model in models for k in study["prune_rates"] for seed in range(study["seeds"])]


def _mean_std(values) -> tuple[float, float]:
    arr = np.asarray([v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))], float)
    if arr.size == 0:
        return math.nan, math.nan
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else 0.0


def _non_ticket_dying(record: dict):
    """Fraction of the edges outside the ticket P that are dying: tn / (1 - |P| / n)."""
    r = record.get("ticket_remaining")
    tn = record.get("true_negative_dying")
    return None if r is None or tn is None or r >= 1 else tn / (1.0 - r)


def table(records: list[dict]) -> list[dict]:
    """Aggregate finished records by (model, prune rate): mean and sample std of each column.

    ``ticket_dying_ratio`` is the fraction of P's edges that are dying and
    ``non_ticket_dying_ratio`` that of the other edges: a search blind to P kills both
    at the same rate, one that finds P kills fewer of P's.
    """
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        if r.get("status") == "ok":
            r = dict(r, non_ticket_dying_ratio=_non_ticket_dying(r))
            groups[(r["config"]["model"], round(r["config"]["prune_rate"], 6))].append(r)
    rows = []
    for (model, k) in sorted(groups, key=lambda mk: (len(mk[0]), mk[0], mk[1])):
        group = groups[(model, k)]
        row = {"model": model, "prune_rate": k, "seeds": len(group)}
        for col in COLUMNS:
            row[col], row[col + "_std"] = _mean_std(r.get(col) for r in group)
        d, fn = row["dying_ratio"], row["false_negative_dying"]
        row["false_negative_share"] = fn / d if d > 0 else math.nan
        if k in PAPER_PRUNE_RATES:
            i = PAPER_PRUNE_RATES.index(k)
            row["paper_dying_ratio"], row["paper_k_minus_d"] = PAPER_DYING_RATIO[i], PAPER_K_MINUS_D[i]
        rows.append(row)
    return rows


def format_table(rows: list[dict]) -> str:
    def pm(row, col):
        return f"{row[col]:.3f}±{row[col + '_std']:.3f}"

    head = (f"{'k':>5} | {'d_T':>11} {'k-d_T':>11} | {'fn':>11} {'tn':>11} {'fn/d_T':>6} | "
            f"{'P dying':>7} {'rest':>5} | {'recall':>11} {'acc':>11} | {'paper d_T':>9} {'k-d_T':>6}")
    lines = []
    for model in dict.fromkeys(r["model"] for r in rows):
        lines += [f"EP on a planted {model} (mean ± std over seeds)", head, "-" * len(head)]
        for row in (r for r in rows if r["model"] == model):
            paper = (f"{row['paper_dying_ratio']:>9.3f} {row['paper_k_minus_d']:>6.3f}"
                     if "paper_dying_ratio" in row else f"{'':>9} {'':>6}")
            lines.append(
                f"{row['prune_rate']:>5.3f} | {pm(row, 'dying_ratio'):>11} {pm(row, 'k_minus_d'):>11} | "
                f"{pm(row, 'false_negative_dying'):>11} {pm(row, 'true_negative_dying'):>11} "
                f"{row['false_negative_share']:>6.3f} | {row['ticket_dying_ratio']:>7.3f} "
                f"{row['non_ticket_dying_ratio']:>5.3f} | {pm(row, 'recall'):>11} {pm(row, 'test_acc'):>11} | "
                f"{paper}")
        lines.append("")
    lines.append("fn, tn: false/true-negative dying edges as fractions of all edges (fn + tn = d_T); "
                 "P dying / rest: fraction of the ticket's / the other edges that are dying; "
                 "acc: agreement with the teacher's labels on held-out inputs; paper: Soft iEP Table 1, "
                 "ResNet-18 on CIFAR-10.")
    return "\n".join(lines)


@register(STUDY)
def draw(records_dir: Path, out_dir: Path) -> list[Path]:
    """figures/dying_edges.png: d_T and k - d_T against k (with the paper's CIFAR-10 row),
    d_T split into false- and true-negative dying edges, and the dying fraction of the
    ticket's edges against that of the other edges."""
    return plot(table(load_records(records_dir, STUDY)), out_dir)


def plot(rows: list[dict], out_dir: Path) -> list[Path]:
    """Draw the rows of :func:`table` into ``out_dir``/dying_edges.{png,svg}."""
    if not rows:
        return []
    models = list(dict.fromkeys(r["model"] for r in rows))
    fig, (ax1, ax2, ax3) = figstyle.subplots(1, 3, width=figstyle.DOUBLE_COLUMN, height=3.0)
    ax1.plot(PAPER_PRUNE_RATES, PAPER_DYING_RATIO, "o--", color="grey", alpha=0.6, label=r"$d_T$, paper (CIFAR-10)")
    ax1.plot(PAPER_PRUNE_RATES, PAPER_K_MINUS_D, "s:", color="grey", alpha=0.6, label=r"$k - d_T$, paper")
    width = 0.8 * min(np.diff(sorted({r["prune_rate"] for r in rows})), default=0.1) / max(len(models), 1)
    for i, model in enumerate(models):
        sub = [r for r in rows if r["model"] == model]
        k = np.array([r["prune_rate"] for r in sub])
        col = lambda name: np.array([r[name] for r in sub])  # noqa: E731
        colour = figstyle.PALETTE[i % len(figstyle.PALETTE)]
        ax1.errorbar(k, col("dying_ratio"), yerr=col("dying_ratio_std"), marker="o", color=colour,
                     label=rf"$d_T$, {model}")
        ax1.errorbar(k, col("k_minus_d"), yerr=col("k_minus_d_std"), marker="s", ls=":", color=colour,
                     label=rf"$k - d_T$, {model}")
        x = k + (i - (len(models) - 1) / 2) * width
        ax2.bar(x, col("true_negative_dying"), width, color=colour, alpha=0.45,
                label=f"true-negative, {model}")
        ax2.bar(x, col("false_negative_dying"), width, bottom=col("true_negative_dying"), color=colour,
                hatch="//", edgecolor="black", lw=0.3, label=f"false-negative, {model}")
        ax3.plot(k, col("ticket_dying_ratio"), "o-", color=colour, label=f"edges of $P$, {model}")
        ax3.plot(k, col("non_ticket_dying_ratio"), "x--", color=colour, label=f"other edges, {model}")
    ax1.set(xlabel="prune rate $k$", ylabel="fraction of all edges", title="EP's dying ratio after training",
            ylim=(0, 0.9))
    ax2.set(xlabel="prune rate $k$", ylabel="fraction of all edges",
            title=r"$d_T$ split: false + true negatives")
    figstyle.reference_line(ax3, xy=([0, 1], [0, 1]), label="equal shares (blind to $P$)")
    ax3.set(xlabel="prune rate $k$", ylabel="dying fraction of those edges",
            title="Does EP spare the planted ticket?", xlim=(0.15, 0.88), ylim=(0, 0.9))
    figstyle.legend_below(fig, (ax1, ax2, ax3), ncol=3)
    figstyle.finish(fig)

    return save_figure(
fig, Path(out_dir) / f"{STUDY}.png", formats=("png", "svg"))


def main(args) -> int:
    preset = preset_from_args(args, allowed=STUDY_KEYS)
    config = RunConfig.from_dict(preset["config"], source=str(preset["path"]))
    records = run_grid_from_args(args, grid(preset["study"], config), run_search)
    rows = table(records)
    return report(args, format_table(rows), plot(rows, Path(args.figures)), rows)


if __name__ == "__main__":
    import sys

    sys.exit(run_study(main, sys.argv[1:], parser=study_parser(STUDY, __doc__)))
