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

from sltsim.config import RunConfig
from sltsim.figures import load_records, register, save_figure
from sltsim.search import run_search
from sltsim.studies.cli import preset_from_args, print_json, run_grid_from_args, run_study, study_parser

STUDY = "dying_edges"
# Table 1 of the Soft iEP paper (seed 000): EP on ResNet-18 / CIFAR-10, mean of 4 seeds.
PAPER_PRUNE_RATES = (0.200, 0.360, 0.488, 0.590, 0.672, 0.738, 0.790, 0.832)
PAPER_DYING_RATIO = (0.028, 0.166, 0.293, 0.395, 0.479, 0.540, 0.606, 0.656)
PAPER_K_MINUS_D = (0.172, 0.194, 0.195, 0.195, 0.193, 0.190, 0.184, 0.176)
STUDY_KEYS = {"prune_rates": list[float], "seeds": int}
COLUMNS = ("dying_ratio", "k_minus_d", "false_negative_dying", "true_negative_dying", "recall",
           "aligned_recall", "teacher_agreement", "test_acc")


def grid(study: dict, config: RunConfig) -> list[RunConfig]:
    """One config per (prune rate, seed), prune rate outermost."""
    return [config.replace(prune_rate=float(k), seed=seed)
            for k in study["prune_rates"] for seed in range(study["seeds"])]


def _mean_std(values) -> tuple[float, float]:
    arr = np.asarray([v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))], float)
    if arr.size == 0:
        return math.nan, math.nan
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else 0.0


def table(records: list[dict]) -> list[dict]:
    """Aggregate finished records by prune rate: mean and sample std of each column."""
    by_k: dict[float, list[dict]] = defaultdict(list)
    for r in records:
        if r.get("status") == "ok":
            by_k[round(r["config"]["prune_rate"], 6)].append(r)
    rows = []
    for k in sorted(by_k):
        group = by_k[k]
        row = {"prune_rate": k, "seeds": len(group)}
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
            f"{'recall':>11} {'acc':>11} | {'paper d_T':>9} {'k-d_T':>6}")
    lines = [head, "-" * len(head)]
    for row in rows:
        paper = (f"{row['paper_dying_ratio']:>9.3f} {row['paper_k_minus_d']:>6.3f}"
                 if "paper_dying_ratio" in row else f"{'':>9} {'':>6}")
        lines.append(f"{row['prune_rate']:>5.3f} | {pm(row, 'dying_ratio'):>11} {pm(row, 'k_minus_d'):>11} | "
                     f"{pm(row, 'false_negative_dying'):>11} {pm(row, 'true_negative_dying'):>11} "
                     f"{row['false_negative_share']:>6.3f} | {pm(row, 'recall'):>11} {pm(row, 'test_acc'):>11} | "
                     f"{paper}")
    return "\n".join(lines)


@register(STUDY)
def draw(records_dir: Path, out_dir: Path) -> list[Path]:
    """figures/dying_edges.png: d_T and k - d_T against k (with the paper's CIFAR-10 row),
    and d_T split into false- and true-negative dying edges."""
    return plot(table(load_records(records_dir, STUDY)), out_dir)


def plot(rows: list[dict], out_dir: Path) -> list[Path]:
    """Draw the rows of :func:`table` into ``out_dir``/dying_edges.{png,svg}."""
    import matplotlib.pyplot as plt

    if not rows:
        return []
    k = np.array([r["prune_rate"] for r in rows])
    get = lambda col: np.array([r[col] for r in rows])  # noqa: E731
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    ax1.errorbar(k, get("dying_ratio"), yerr=get("dying_ratio_std"), marker="o", label=r"$d_T$ (planted MLP)")
    ax1.errorbar(k, get("k_minus_d"), yerr=get("k_minus_d_std"), marker="s", label=r"$k - d_T$ (planted MLP)")
    ax1.plot(PAPER_PRUNE_RATES, PAPER_DYING_RATIO, "o--", color="C0", alpha=0.5, label=r"$d_T$ (paper, CIFAR-10)")
    ax1.plot(PAPER_PRUNE_RATES, PAPER_K_MINUS_D, "s--", color="C1", alpha=0.5, label=r"$k - d_T$ (paper, CIFAR-10)")
    ax1.plot([0, 1], [0, 1], ":", color="grey", lw=1, label=r"$d = k$ (no edge ever revived)")
    ax1.set(xlabel="prune rate $k$", ylabel="fraction of all edges", xlim=(0.15, 0.88), ylim=(0, 0.9),
            title="EP's dying ratio after training")
    ax1.legend(fontsize=8)
    width = 0.035
    fn, tn = get("false_negative_dying"), get("true_negative_dying")
    ax2.bar(k, tn, width, label="true-negative dying (not in ticket $P$)", color="C2")
    ax2.bar(k, fn, width, bottom=tn, label="false-negative dying (in ticket $P$)", color="C3")
    ax2.set(xlabel="prune rate $k$", ylabel="fraction of all edges",
            title=r"$d_T$ = false + true negatives (planted target)")
    ax2.legend(fontsize=8)
    return save_figure(fig, Path(out_dir) / f"{STUDY}.png", formats=("png", "svg"))


def main(args) -> int:
    preset = preset_from_args(args, allowed=STUDY_KEYS)
    config = RunConfig.from_dict(preset["config"], source=str(preset["path"]))
    records = run_grid_from_args(args, grid(preset["study"], config), run_search)
    rows = table(records)
    print(format_table(rows))
    for figure in plot(rows, Path(args.figures)):
        print(f"figure: {figure}")
    if args.json:
        print_json(rows)
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(run_study(main, sys.argv[1:], parser=study_parser(STUDY, __doc__)))
