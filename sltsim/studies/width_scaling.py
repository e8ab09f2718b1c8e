"""Study ``width_scaling``: does soft iEP's gain over EP grow with the width of the searched network?

The paper's Fig. 3a (ImageNet, ResNet-50/101, WRN-50) observes that "the performance
gain over EP expands as the model size increases" (Sec. 5, observation 2). Here MLP
students of increasing hidden width (every hidden layer of each data set's model set to
each of ``widths``) are searched at the same final prune rate k by

- ``EP``: edge-popup for E epochs (E = the preset's ``epochs``), as the paper's Fig. 3
  compares it: the same schedule as one cycle of soft iEP;
- ``EP (C·E)``: edge-popup for C * E epochs, the same total number of epochs (and SGD
  steps) as soft iEP, so a gain cannot come from training longer;
- ``soft iEP``: ``soft-lr`` (the paper's default: LR rewinding, soft pruning), C cycles of
  E epochs each, the remaining ratio falling by (1 - k)^(1/C) per cycle to k, as the
  paper's ImageNet runs (3 cycles to 30 % remaining).

The three runs of a seed share theta0, s0 and the data (same seed), so gains are paired
differences. On a planted target the planted ticket P keeps the same *fractions* of the
student (``ticket_width`` of each hidden layer, ``ticket_remaining`` of each tensor's
edges), so the teacher widens with the student: :mod:`sltsim.planted` takes one
``ticket_remaining`` for every tensor, and a fixed absolute teacher does not fit every
width (a hidden-to-hidden block of w x w ticket units holds at most w^2 = (w/d)^2 * d^2
edges, while the output layer needs at least w edges so that no unit is dead). The
change in dying ratio is split into false-negative (in P) and true-negative (not in P)
dying edges; soft iEP's are counted over its last cycle, as the paper counts per cycle.

Run ``python -m sltsim.studies.width_scaling [--quick | --preset paper]``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from sltsim import figstyle
from sltsim.config import RunConfig
from sltsim.engine.models import parse_model_spec
from sltsim.figures import load_records, register, save_figure
from sltsim.search import run_search
from sltsim.studies.aggregate import (checked, dataset_configs, group_by, mean_std, ok_records,
                                      paired_differences, pm, slope, summarise)
from sltsim.studies.cli import preset_from_args, report, run_grid_from_args, run_study, study_parser

STUDY = "width_scaling"
STUDY_KEYS = {"widths": list[int], "cycles": int, "datasets": dict, "seeds": int}
SOFT = "soft-lr"
#: method label -> how the paper's figures name it (Fig. 3 legends: EP, soft iEP)
LABELS = {"ep": "EP", "ep_budget": "EP (C·E epochs)", "soft": "soft iEP"}
COLUMNS = ("test_acc", "dying_ratio", "false_negative_dying", "true_negative_dying", "recall", "ticket_remaining")
GAINS = ("test_acc", "dying_ratio", "false_negative_dying", "true_negative_dying")
# a trend is called when the slope is at least this many standard errors from zero
TREND_SE = 2.0


def widen(model: str, width: int) -> str:
    """``mlp:IN,H1,...,OUT`` with every hidden width set to ``width``."""
    spec = parse_model_spec(model)
    if spec.family != "mlp" or len(spec.widths) < 3:
        raise ValueError(f"width_scaling needs an mlp with at least one hidden layer, got model {model!r}")
    return "mlp:" + ",".join(map(str, (spec.widths[0], *[width] * (len(spec.widths) - 2), spec.widths[-1])))


def grid(study: dict, configs: dict) -> list[RunConfig]:
    """Per data set, width and seed: EP (E epochs), EP (C*E epochs), soft iEP (C cycles of E)."""
    if not study.get("widths"):
        raise ValueError("[study] needs widths = [W1, W2, ...], the hidden widths to search")
    cycles = study.get("cycles", 3)
    if cycles < 2:
        raise ValueError(f"[study] cycles must be at least 2 (soft iEP with one cycle is EP), got {cycles}")
    out = []
    for config in configs.values():
        for width in study["widths"]:
            for seed in range(study.get("seeds", 1)):
                base = config.replace(model=widen(config.model, width), seed=seed, cycles=1, shrinkage=None)
                out += [base.replace(method="ep"),
                        base.replace(method="ep", epochs=cycles * config.epochs),
                        base.replace(method=SOFT, cycles=cycles)]
    return out


def _width(record: dict) -> int:
    return max(parse_model_spec(record["config"]["model"]).widths[1:-1])


def _label(record: dict, ep_epochs: int) -> str:
    if record["config"]["method"] == SOFT:
        return "soft"
    return "ep" if record["config"]["epochs"] == ep_epochs else "ep_budget"


def table(records: list[dict]) -> list[dict]:
    """One row per (data set, width): each method's means, and soft iEP's paired gains.

    ``<method>_<col>`` (and ``_std``) for method in ep, ep_budget, soft; ``gain_<col>`` =
    soft - EP and ``gain_budget_<col>`` = soft - EP (C·E), mean and std over seeds of
    the per-seed differences. ``edges``: the searched edges of the student.
    """
    rows = []
    ok = [r for r in ok_records(records) if r["config"]["method"] in ("ep", SOFT)]
    by_data = group_by(ok, lambda r: r["config"]["data"])
    cells = [(d, w, g) for d, recs in by_data.items() for w, g in sorted(group_by(recs, _width).items())]
    for data, width, group in cells:
        eps = [r["config"]["epochs"] for r in group if r["config"]["method"] == "ep"]
        by = group_by(group, lambda r: _label(r, min(eps) if eps else -1))
        row = {"data": data, "width": width, "prune_rate": group[0]["config"]["prune_rate"],
               "edges": sum(layer["size"] for layer in (group[0].get("per_layer") or {}).values()),
               "cycles": max(r["config"]["cycles"] for r in group),
               "epochs": min(r["config"]["epochs"] for r in group)}
        for method in LABELS:
            summary = summarise(by.get(method, []), COLUMNS)
            row[f"{method}_seeds"] = summary.pop("seeds")
            row.update({f"{method}_{k}": v for k, v in summary.items()})
        for prefix, other in (("gain", "ep"), ("gain_budget", "ep_budget")):
            for col in GAINS:
                diffs = paired_differences(by.get("soft", []), by.get(other, []), col)
                row[f"{prefix}_{col}"], row[f"{prefix}_{col}_std"] = mean_std(diffs)
                row[f"{prefix}_{col}_per_seed"] = diffs
        rows.append(row)
    return rows


def verdict(rows: list[dict]) -> list[dict]:
    """Per data set and per baseline: the least-squares slope of soft iEP's per-seed accuracy
    gain against log2(width), its standard error, and ``trend``: ``grows`` (slope > 2 SE),
    ``shrinks`` (< -2 SE) or ``no trend``; the same for the changes in d_T, fn and tn dying
    edges, whose trends read ``rises`` / ``falls`` (they are signed changes)."""
    out = []
    for data, group in group_by(rows, lambda r: r["data"]).items():
        for prefix, baseline in (("gain", "EP"), ("gain_budget", "EP (C·E epochs)")):
            entry = {"data": data, "baseline": baseline}
            for col in GAINS:
                x = [math.log2(r["width"]) for r in group for _ in r[f"{prefix}_{col}_per_seed"]]
                y = [d for r in group for d in r[f"{prefix}_{col}_per_seed"]]
                b, se = slope(x, y)
                up, down = ("grows", "shrinks") if col == "test_acc" else ("rises", "falls")
                trend = ("no trend" if not (math.isfinite(b) and math.isfinite(se)) or abs(b) <= TREND_SE * se
                         else up if b > 0 else down)
                entry[col] = {"slope_per_doubling": b, "se": se, "trend": trend,
                              "first": group[0][f"{prefix}_{col}"], "last": group[-1][f"{prefix}_{col}"],
                              "widths": (group[0]["width"], group[-1]["width"])}
            out.append(entry)
    return out


def format_verdict(verdicts: list[dict]) -> str:
    lines = []
    for v in verdicts:
        a = v["test_acc"]
        trend = "shows no trend" if a["trend"] == "no trend" else a["trend"]
        line = (f"verdict {v['data']}: soft iEP's accuracy gain over {v['baseline']} {trend} with width "
                f"({a['first']:+.3f} at {a['widths'][0]} -> {a['last']:+.3f} at {a['widths'][1]}; slope "
                f"{a['slope_per_doubling']:+.4f} ± {a['se']:.4f} per doubling)")
        fn, tn = v["false_negative_dying"], v["true_negative_dying"]
        if math.isfinite(fn["first"]):
            line += (f"; change in fn dying {fn['first']:+.4f} -> {fn['last']:+.4f} ({_slope_words(fn['trend'])}), "
                     f"tn dying {tn['first']:+.4f} -> {tn['last']:+.4f} ({_slope_words(tn['trend'])})")
        lines.append(line)
    return "\n".join(lines)


def _slope_words(trend: str) -> str:
    return trend if trend == "no trend" else f"{trend} with width"


def format_table(rows: list[dict]) -> str:
    head = (f"{'width':>6} {'edges':>8} | {'acc EP':>11} {'acc EP(CE)':>11} {'acc soft':>11} | "
            f"{'gain vs EP':>12} {'vs EP(CE)':>12} | {'d_T EP':>11} {'d_T EP(CE)':>11} {'d_T soft':>11} | "
            f"{'fn soft-EP':>14} {'tn soft-EP':>14} | {'recall EP':>11} {'recall soft':>11}")
    lines = []
    for data, group in group_by(rows, lambda r: r["data"]).items():
        g = group[0]
        lines += [f"{data} (k = {g['prune_rate']:g}; EP: {g['epochs']} epochs, EP(CE): {g['cycles'] * g['epochs']} "
                  f"epochs, soft iEP: {g['cycles']} cycles x {g['epochs']} epochs; gains = soft iEP - baseline, "
                  "paired by seed)", head, "-" * len(head)]
        for r in group:
            lines.append(f"{r['width']:>6} {r['edges']:>8} | {pm(r, 'ep_test_acc'):>11} "
                         f"{pm(r, 'ep_budget_test_acc'):>11} {pm(r, 'soft_test_acc'):>11} | "
                         f"{pm(r, 'gain_test_acc', '+.3f'):>12} {pm(r, 'gain_budget_test_acc', '+.3f'):>12} | "
                         f"{pm(r, 'ep_dying_ratio'):>11} {pm(r, 'ep_budget_dying_ratio'):>11} "
                         f"{pm(r, 'soft_dying_ratio'):>11} | "
                         f"{pm(r, 'gain_false_negative_dying', '+.4f'):>14} "
                         f"{pm(r, 'gain_true_negative_dying', '+.4f'):>14} | "
                         f"{pm(r, 'ep_recall'):>11} {pm(r, 'soft_recall'):>11}")
        lines.append("")
    return "\n".join(lines).rstrip()


@register(STUDY)
def draw(records_dir: Path, out_dir: Path) -> list[Path]:
    """figures/width_scaling.png: soft iEP's accuracy gain against width, and (planted) the
    change in false- and true-negative dying edges."""
    return plot(table(load_records(records_dir, STUDY)), out_dir)


def plot(rows: list[dict], out_dir: Path) -> list[Path]:
    """Draw the rows of :func:`table` into ``out_dir``/width_scaling.{png,svg}."""
    from matplotlib.ticker import ScalarFormatter

    if not rows:
        return []
    planted = [r for r in rows if r["data"] == "planted" and math.isfinite(r["gain_false_negative_dying"])]
    fig, axes = figstyle.subplots(1, 2 if planted else 1, width=figstyle.DOUBLE_COLUMN if planted
                                  else figstyle.SINGLE_COLUMN, height=3.4, squeeze=False)
    ax = axes[0, 0]
    for n, (data, group) in enumerate(group_by(rows, lambda r: r["data"]).items()):
        w = np.array([r["width"] for r in group], float)
        for prefix, ls, what in (("gain", "-", "EP"), ("gain_budget", "--", "EP (C·E epochs)")):
            ax.errorbar(w * (1.03 if prefix == "gain_budget" else 1), [100 * r[f"{prefix}_test_acc"] for r in group],
                        yerr=[100 * r[f"{prefix}_test_acc_std"] for r in group], ls=ls,
                        **figstyle.series(n, line=False), label=f"{data}: soft iEP − {what}")
    figstyle.reference_line(ax, y=0, label="no gain")
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(ScalarFormatter())
    g = rows[0]
    ax.set(xlabel="hidden width of the MLP (units per layer, log scale)",
           ylabel="test accuracy gain (percentage points)",
           title=f"Soft iEP's gain over EP (k = {g['prune_rate']:g}, {g['cycles']} cycles)")
    ax.legend()
    if planted:
        ax = axes[0, 1]
        x = np.arange(len(planted))
        bar = 0.35
        for j, (col, color, hatch, words) in enumerate((
                ("false_negative_dying", figstyle.OKABE_ITO["vermillion"], "///", "false-negative dying (in $P$)"),
                ("true_negative_dying", figstyle.OKABE_ITO["sky_blue"], None, "true-negative dying (not in $P$)"))):
            ax.bar(x + (j - 0.5) * bar, [r[f"gain_{col}"] for r in planted], bar, hatch=hatch, edgecolor="white",
                   yerr=[r[f"gain_{col}_std"] for r in planted], color=color, capsize=2, label=words)
        expected = [r["gain_dying_ratio"] * r["ep_ticket_remaining"] for r in planted]
        ax.plot(x - 0.5 * bar, expected, "_", color="black", ms=22, mew=2,
                label=r"fn change if dying ignored $P$ ($|P|/n \cdot \Delta d_T$)")
        figstyle.reference_line(ax, y=0, label="no change")
        ax.set_xticks(x, [str(r["width"]) for r in planted])
        ax.set(xlabel="hidden width of the searched MLP (units per layer)",
               ylabel="soft iEP − EP (fraction of all edges)",
               title="Planted MLP: soft iEP's extra dying edges")
        ax.legend(loc="upper right")
    figstyle.finish(fig)
    return save_figure(fig, Path(out_dir) / f"{STUDY}.png", formats=("png", "svg"))


def main(args) -> int:
    preset = preset_from_args(args, allowed=STUDY_KEYS)
    configs = dataset_configs(preset)
    records = run_grid_from_args(args, checked(preset["path"], lambda: grid(preset["study"], configs)), run_search)
    rows = table(records)
    text = format_table(rows) + "\n" + format_verdict(verdict(rows))
    return report(args, text, plot(rows, Path(args.figures)), rows)


if __name__ == "__main__":
    import sys

    sys.exit(run_study(main, sys.argv[1:], parser=study_parser(STUDY, __doc__)))
