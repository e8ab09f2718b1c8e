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
from sltsim.figures import save_figure
from sltsim.studies.aggregate import (checked, dataset_configs, excludes_zero, format_ci, group_by, mean_ci,
                                      mean_std, mean_std_row, ok_records, paired_differences, pm, slope)
from sltsim.studies.columns import control_role, derived, quality
from sltsim.studies.study import Study

NAME = "width_scaling"
STUDY_KEYS = {"widths": list[int], "cycles": int, "datasets": dict, "seeds": int, "controls": list[str]}
SOFT = "soft-lr"
#: method label -> how the paper's figures name it (Fig. 3 legends: EP, soft iEP)
LABELS = {"ep": "EP", "ep_budget": "EP (C·E epochs)", "soft": "soft iEP"}
#: the planted controls a preset may ask for (``controls``), run on the E-epoch EP cell's teacher
CONTROLS = {"ticket_start": "EP from P", "random_mask": "random mask", "dense": "dense training"}
COLUMNS = ("quality", "test_acc", "dying_ratio", "false_negative_dying", "true_negative_dying", "recall", "ticket_remaining",
           "enrichment", "recall_above_chance")
GAINS = ("quality", "dying_ratio", "false_negative_dying", "true_negative_dying", "enrichment")
#: a trend is called when the 95% t-interval of the slope excludes 0
TREND_LEVEL = 0.95


def widen(model: str, width: int) -> str:
    """``mlp:IN,H1,...,OUT`` with every hidden width set to ``width``."""
    spec = parse_model_spec(model)
    if spec.family != "mlp" or len(spec.widths) < 3:
        raise ValueError(f"width_scaling needs an mlp with at least one hidden layer, got model {model!r}")
    return "mlp:" + ",".join(map(str, (spec.widths[0], *[width] * (len(spec.widths) - 2), spec.widths[-1])))


def grid(study: dict, configs: dict) -> list[RunConfig]:
    """Per data set, width and seed: EP (E epochs), EP (C*E epochs), soft iEP (C cycles of E); on a
    planted data set also the preset's ``controls`` of the E-epoch EP cell (EP started from P, a random
    mask at k, dense training of the student on the same teacher)."""
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
                if study.get("controls") and config.data == "planted":
                    from sltsim.studies.planted_controls import control_configs

                    out += control_configs(base.replace(method="ep"), study["controls"])
    return out


def _width(record: dict) -> int:
    return max(parse_model_spec(record["config"]["model"]).widths[1:-1])


def _label(record: dict, ep_epochs: int) -> str:
    role = control_role(record)
    if role is not None:
        return role
    if record["config"]["method"] == SOFT:
        return "soft"
    return "ep" if record["config"]["epochs"] == ep_epochs else "ep_budget"


def table(records: list[dict]) -> list[dict]:
    """One row per (data set, width): each method's means, and soft iEP's paired gains.

    ``<method>_<col>`` (and ``_std``) for method in ep, ep_budget, soft; ``gain_<col>`` =
    soft - EP and ``gain_budget_<col>`` = soft - EP (C·E), mean, std and 95% half-width
    (``_ci``) over seeds of the per-seed differences; for ``quality`` (columns.quality) the
    difference is signed so that a positive gain is soft iEP doing better (accuracy: soft -
    EP; 1 - R^2: EP - soft). ``edges``: the searched edges of the student.
    """
    rows = []
    ok = [derived(r) for r in ok_records(records) if r["config"]["method"] in ("ep", SOFT) or control_role(r)]
    by_data = group_by(ok, lambda r: r["config"]["data"])
    cells = [(d, w, g) for d, recs in by_data.items() for w, g in sorted(group_by(recs, _width).items())]
    for data, width, group in cells:
        eps = [r["config"]["epochs"] for r in group if r["config"]["method"] == "ep" and control_role(r) is None]
        by = group_by(group, lambda r: _label(r, min(eps) if eps else -1))
        searches = [r for r in group if control_role(r) is None] or group
        _, quality_name, sign = quality(searches[0]["config"])
        row = {"data": data, "width": width, "prune_rate": searches[0]["config"]["prune_rate"],
               "quality_name": quality_name, "quality_sign": sign,
               "edges": sum(layer["size"] for layer in (searches[0].get("per_layer") or {}).values()),
               "cycles": max(r["config"]["cycles"] for r in searches),
               "epochs": min(r["config"]["epochs"] for r in searches),
               "ticket_feasible": all(r.get("ticket_feasible", True) for r in searches),
               "ticket_train_loss": max((r.get("ticket_train_loss") or 0.0) for r in searches)}
        for method in (*LABELS, *CONTROLS):
            summary = mean_std_row(by.get(method, []), COLUMNS)
            row[f"{method}_seeds"] = summary.pop("seeds")
            row.update({f"{method}_{k}": v for k, v in summary.items()})
        for prefix, other in (("gain", "ep"), ("gain_budget", "ep_budget")):
            for col in GAINS:
                diffs = paired_differences(by.get("soft", []), by.get(other, []), col)
                diffs = [sign * d for d in diffs] if col == "quality" else diffs
                row[f"{prefix}_{col}"], row[f"{prefix}_{col}_std"] = mean_std(diffs)
                row[f"{prefix}_{col}_ci"] = mean_ci(diffs)[1]
                row[f"{prefix}_{col}_per_seed"] = diffs
        rows.append(row)
    return rows


def slope_half_width(se: float, n: int) -> float:
    """Half-width of the 95% t-interval of a least-squares slope fitted to n points (n - 2 degrees
    of freedom); NaN when n < 3 or the standard error is not finite."""
    if n < 3 or not math.isfinite(se):
        return math.nan
    from scipy.stats import t

    return float(t.ppf(0.5 + TREND_LEVEL / 2, n - 2)) * se


def verdict(rows: list[dict]) -> list[dict]:
    """Per data set and per baseline: the least-squares slope of soft iEP's per-seed accuracy
    gain against log2(width), its standard error, the half-width ``ci`` of its 95% t-interval
    (n - 2 degrees of freedom, n the (width, seed) pairs) and ``trend``: ``grows`` / ``shrinks``
    when that interval excludes 0, else ``no trend``; the same for the changes in d_T, fn and
    tn dying edges and enrichment, whose trends read ``rises`` / ``falls`` (signed changes)."""
    out = []
    for data, group in group_by(rows, lambda r: r["data"]).items():
        for prefix, baseline in (("gain", "EP"), ("gain_budget", "EP (C·E epochs)")):
            entry = {"data": data, "baseline": baseline, "quality_name": group[0]["quality_name"]}
            for col in GAINS:
                x = [math.log2(r["width"]) for r in group for _ in r[f"{prefix}_{col}_per_seed"]]
                y = [d for r in group for d in r[f"{prefix}_{col}_per_seed"]]
                b, se = slope(x, y)
                half = slope_half_width(se, len(x))
                up, down = ("grows", "shrinks") if col == "quality" else ("rises", "falls")
                trend = "no trend" if not excludes_zero(b, half) else up if b > 0 else down
                entry[col] = {"slope_per_doubling": b, "se": se, "ci": half, "trend": trend,
                              "first": group[0][f"{prefix}_{col}"], "last": group[-1][f"{prefix}_{col}"],
                              "widths": (group[0]["width"], group[-1]["width"])}
            out.append(entry)
    return out


def format_verdict(verdicts: list[dict]) -> str:
    lines = []
    for v in verdicts:
        a = v["quality"]
        trend = "shows no trend" if a["trend"] == "no trend" else a["trend"]
        line = (f"verdict {v['data']}: soft iEP's gain in {v['quality_name']} over {v['baseline']} {trend} with width "
                f"({a['first']:+.3f} at {a['widths'][0]} -> {a['last']:+.3f} at {a['widths'][1]}; slope "
                f"{format_ci(a['slope_per_doubling'], a['ci'], '+.4f')} per doubling, 95% interval)")
        fn, tn, enr = v["false_negative_dying"], v["true_negative_dying"], v["enrichment"]
        if math.isfinite(fn["first"]):
            line += (f"; change in fn dying {fn['first']:+.4f} -> {fn['last']:+.4f} ({_slope_words(fn['trend'])}), "
                     f"tn dying {tn['first']:+.4f} -> {tn['last']:+.4f} ({_slope_words(tn['trend'])}), "
                     f"enrichment {enr['first']:+.3f} -> {enr['last']:+.3f} ({_slope_words(enr['trend'])})")
        lines.append(line)
    return "\n".join(lines)


def _slope_words(trend: str) -> str:
    return trend if trend == "no trend" else f"{trend} with width"


def _ci(row: dict, col: str, fmt: str = "+.3f") -> str:
    return format_ci(row[col], row[col + "_ci"], fmt)


def format_table(rows: list[dict]) -> str:
    """Per data set: accuracy, dying ratio, enrichment (``enr``) and recall of P above chance
    (``rac``, (recall - c) / (1 - c), c a random mask's recall at the same per-layer counts) of each
    method, and soft iEP's gains with their intervals."""
    head = (f"{'width':>6} {'edges':>8} | {'EP':>11} {'EP(CE)':>11} {'soft':>11} | "
            f"{'gain vs EP':>13} {'vs EP(CE)':>13} | {'d_T EP':>11} {'d_T EP(CE)':>11} {'d_T soft':>11} | "
            f"{'fn soft-EP':>15} {'tn soft-EP':>15} | {'enr EP':>11} {'enr EP(CE)':>11} {'enr soft':>11} | "
            f"{'rac EP':>12} {'rac soft':>12}")
    lines = []
    for data, group in group_by(rows, lambda r: r["data"]).items():
        g = group[0]
        better = "soft - baseline" if g["quality_sign"] > 0 else "baseline - soft"
        lines += [f"{data} ({g['quality_name']} of EP, EP(CE) and soft iEP; k = {g['prune_rate']:g}; EP: {g['epochs']} "
                  f"epochs, EP(CE): {g['cycles'] * g['epochs']} epochs, soft iEP: {g['cycles']} cycles x {g['epochs']} "
                  f"epochs; gains in {g['quality_name']} = {better} (positive: soft iEP better), fn/tn changes = soft "
                  "- EP, paired by seed, ± the 95% t-interval; other columns mean ± std over seeds)",
                  head, "-" * len(head)]
        for r in group:
            lines.append(f"{r['width']:>6} {r['edges']:>8} | {pm(r, 'ep_quality'):>11} "
                         f"{pm(r, 'ep_budget_quality'):>11} {pm(r, 'soft_quality'):>11} | "
                         f"{_ci(r, 'gain_quality'):>13} {_ci(r, 'gain_budget_quality'):>13} | "
                         f"{pm(r, 'ep_dying_ratio'):>11} {pm(r, 'ep_budget_dying_ratio'):>11} "
                         f"{pm(r, 'soft_dying_ratio'):>11} | "
                         f"{_ci(r, 'gain_false_negative_dying', '+.4f'):>15} "
                         f"{_ci(r, 'gain_true_negative_dying', '+.4f'):>15} | "
                         f"{pm(r, 'ep_enrichment'):>11} {pm(r, 'ep_budget_enrichment'):>11} "
                         f"{pm(r, 'soft_enrichment'):>11} | "
                         f"{pm(r, 'ep_recall_above_chance', '+.3f'):>12} {pm(r, 'soft_recall_above_chance', '+.3f'):>12}")
        lines += _format_controls(group) + [""]
    return "\n".join(lines).rstrip()


def _format_controls(group: list[dict]) -> list[str]:
    """The planted controls of one data set, per width: P's own loss and feasibility, EP started from P,
    a random mask at k, dense training (learnability); mean ± std over seeds."""
    if not any(r[f"{c}_seeds"] for r in group for c in CONTROLS):
        return []
    q = group[0]["quality_name"]
    head = (f"{'width':>6} | {'feasible':>8} {'P loss':>8} | {'EP from P ' + q:>22} {'rac':>12} | "
            f"{'random mask ' + q:>24} {'rac':>12} {'enrichment':>11} | {'dense ' + q:>18}")
    lines = ["controls (same teacher as the E-epoch EP run): P's own train loss, EP started from P (stays: "
             "0 and rac 1), a random mask at k (rac 0, enrichment 1), dense training of the student (learnability)",
             head, "-" * len(head)]
    for r in group:
        lines.append(f"{r['width']:>6} | {'yes' if r['ticket_feasible'] else 'NO':>8} {r['ticket_train_loss']:>8.1e} | "
                     f"{pm(r, 'ticket_start_quality'):>22} {pm(r, 'ticket_start_recall_above_chance', '+.3f'):>12} | "
                     f"{pm(r, 'random_mask_quality'):>24} {pm(r, 'random_mask_recall_above_chance', '+.3f'):>12} "
                     f"{pm(r, 'random_mask_enrichment'):>11} | {pm(r, 'dense_quality'):>18}")
    return lines


def plot(rows: list[dict], out_dir: Path) -> list[Path]:
    """Draw the rows of :func:`table` into ``out_dir``/width_scaling.{png,svg}."""
    from matplotlib.ticker import ScalarFormatter

    if not rows:
        return []
    planted = [r for r in rows if r["data"] == "planted" and math.isfinite(r["gain_false_negative_dying"])]
    fig, axes = figstyle.subplots(1, 2 if planted else 1, width=figstyle.DOUBLE_COLUMN if planted
                                  else figstyle.SINGLE_COLUMN, height=4.6, squeeze=False)
    ax = axes[0, 0]
    for n, (data, group) in enumerate(group_by(rows, lambda r: r["data"]).items()):
        w = np.array([r["width"] for r in group], float)
        for prefix, ls, what in (("gain", "-", "EP"), ("gain_budget", "--", "EP (C·E epochs)")):
            ax.errorbar(w * (1.03 if prefix == "gain_budget" else 1), [100 * r[f"{prefix}_quality"] for r in group],
                        yerr=[100 * r[f"{prefix}_quality_ci"] for r in group], ls=ls,
                        **figstyle.series(n, line=False),
                        label=f"{data} ({group[0]['quality_name']}): soft iEP vs {what}")
    figstyle.reference_line(ax, y=0, label="no gain")
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(ScalarFormatter())
    g = rows[0]
    ax.set(xlabel="hidden width of the MLP (units per layer, log scale)",
           ylabel="soft iEP's gain x 100 (accuracy up, or 1 - $R^2$ down; 95% interval)",
           title=f"Soft iEP's gain over EP (k = {g['prune_rate']:g}, {g['cycles']} cycles)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16))  # below: the curves fill the panel
    if planted:
        ax = axes[0, 1]
        x = np.arange(len(planted))
        bar = 0.35
        for j, (col, color, hatch, words) in enumerate((
                ("false_negative_dying", figstyle.OKABE_ITO["vermillion"], "///", "false-negative dying (in $P$)"),
                ("true_negative_dying", figstyle.OKABE_ITO["sky_blue"], None, "true-negative dying (not in $P$)"))):
            ax.bar(x + (j - 0.5) * bar, [r[f"gain_{col}"] for r in planted], bar, hatch=hatch, edgecolor="white",
                   yerr=[r[f"gain_{col}_ci"] for r in planted], color=color, capsize=2, label=words)
        expected = [r["gain_dying_ratio"] * r["ep_ticket_remaining"] for r in planted]
        ax.plot(x - 0.5 * bar, expected, "_", color="black", ms=22, mew=2,
                label=r"fn change if dying ignored $P$ ($|P|/n \cdot \Delta d_T$)")
        figstyle.reference_line(ax, y=0, label="no change")
        ax.set_xticks(x, [str(r["width"]) for r in planted])
        ax.set(xlabel="hidden width of the searched MLP (units per layer)",
               ylabel="soft iEP − EP (fraction of all edges, 95% interval)",
               title="Planted MLP: soft iEP's extra dying edges")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16))
    figstyle.finish(fig)
    return save_figure(fig, Path(out_dir) / f"{NAME}.png", formats=("png", "svg"))


def _grid(preset: dict) -> list[RunConfig]:
    configs = dataset_configs(preset)
    return checked(preset["path"], lambda: grid(preset["study"], configs))


def _format(rows: list[dict], records: list[dict], preset: dict) -> str:
    return format_table(rows) + "\n" + format_verdict(verdict(rows))


def figures(records: list[dict], out_dir: Path) -> list[Path]:
    """figures/width_scaling.png: soft iEP's accuracy gain against width, and (planted) the
    change in false- and true-negative dying edges."""
    return plot(table(records), out_dir)


STUDY = Study(name=NAME, keys=STUDY_KEYS, grid=_grid, table=table, format=_format, figures=figures,
              doc=__doc__)
main = STUDY.main

if __name__ == "__main__":
    import sys

    sys.exit(STUDY.cli(sys.argv[1:]))
