"""Study ``init_effects``: the analogue of the paper's Table 2, weight init x score init at k = 0.7.

Every weight init theta0 of :data:`sltsim.init.WEIGHT_INITS` is crossed with every score
init s0 of :data:`sltsim.init.SCORE_INITS`, and EP is run on each data set of the preset
(digits, and a planted MLP whose dying edges split into false negatives, in the planted
ticket P, and true negatives, not in P). The table gives test accuracy and the final
dying ratio d_T (mean ± std over seeds), with the paper's Table 2 numbers (Conv8 and
ResNet-18 on CIFAR-10 and SVHN) beside the four rows it has. Table 2's column header
reads "s0, theta0", but its caption's defaults (score, weight) = (Kaiming uniform,
signed Kaiming constant) and its row "sc | uniform" show that the first column is the
weight init: its rows are (theta0, s0) = (scaled sc, uniform), (scaled sc, normal),
(sc, uniform) [the default], (normal, uniform).

On a planted target the teacher is f(x; P * theta0) (:mod:`sltsim.planted`): a weight
init changes the target too, so planted rows compare searches of different targets.

Run ``python -m sltsim.studies.init_effects [--quick | --preset paper]``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from sltsim.config import RunConfig
from sltsim import figstyle
from sltsim.figures import save_figure
from sltsim.init import SCORE_INITS, WEIGHT_INITS
from sltsim.studies.aggregate import checked, dataset_configs, group_by, mean_std_row, ok_records, pm
from sltsim.studies.columns import derived, quality
from sltsim.studies.study import Study

NAME = "init_effects"
STUDY_KEYS = {"weight_inits": list[str], "score_inits": list[str], "datasets": dict, "seeds": int}
DEFAULT_WEIGHT_INIT = RunConfig.__dataclass_fields__["weight_init"].default
DEFAULT_SCORE_INIT = RunConfig.__dataclass_fields__["score_init"].default
COLUMNS = ("quality", "test_acc", "dying_ratio", "k_minus_d", "false_negative_dying", "true_negative_dying",
           "ticket_remaining", "recall", "aligned_recall", "enrichment", "recall_above_chance")
# Table 2 of the Soft iEP paper, k = 0.7: (theta0, s0) -> test accuracy / dying ratio,
# in %, for Conv8 CIFAR-10, Conv8 SVHN, ResNet-18 CIFAR-10, ResNet-18 SVHN.
PAPER_SETTINGS = ("Conv8 CIFAR-10", "Conv8 SVHN", "ResNet18 CIFAR-10", "ResNet18 SVHN")
PAPER_TABLE2 = {
    ("scaled_signed_constant", "kaiming_uniform"): ((89.61, 41.77), (96.16, 34.07), (93.19, 52.31), (96.77, 50.64)),
    ("scaled_signed_constant", "normal"): ((87.45, 50.11), (95.76, 45.47), (92.62, 59.18), (96.42, 57.98)),
    ("signed_kaiming_constant", "kaiming_uniform"): ((88.02, 42.01), (95.92, 35.70), (93.22, 52.85), (96.78, 51.37)),
    ("kaiming_normal", "kaiming_uniform"): ((87.52, 46.38), (95.63, 40.81), (92.43, 54.57), (96.73, 52.69)),
}
# "on par": within this many standard errors of the difference of two means
ON_PAR_SE = 2.0


def grid(study: dict, configs: dict) -> list[RunConfig]:
    """One config per (data set, weight init, score init, seed), in that nesting order."""
    weights = study.get("weight_inits", list(WEIGHT_INITS))
    scores = study.get("score_inits", list(SCORE_INITS))
    return [config.replace(weight_init=w, score_init=s, seed=seed)
            for config in configs.values() for w in weights for s in scores for seed in range(study.get("seeds", 1))]


def _order(names, registry) -> list:
    known = list(registry)
    return sorted(set(names), key=lambda n: (known.index(n) if n in known else len(known), n))


def table(records: list[dict]) -> list[dict]:
    """One row per (data set, weight init, score init): mean and std of each column over seeds.

    Rows of the paper's Table 2 carry ``paper`` (four (accuracy %, dying ratio %) pairs,
    see :data:`PAPER_SETTINGS`); the default pair carries ``default = True``.
    """
    ok = [derived(r) for r in ok_records(records)]
    rows = []
    for data, by_data in group_by(ok, lambda r: r["config"]["data"]).items():
        _, quality_name, sign = quality(by_data[0]["config"])
        cells = group_by(by_data, lambda r: (r["config"]["weight_init"], r["config"]["score_init"]))
        for w in _order([w for w, _ in cells], WEIGHT_INITS):
            for s in _order([s for ww, s in cells if ww == w], SCORE_INITS):
                group = cells[(w, s)]
                row = {"data": data, "weight_init": w, "score_init": s, "quality_name": quality_name,
                       "quality_sign": sign, "prune_rate": group[0]["config"]["prune_rate"],
                       "default": w == DEFAULT_WEIGHT_INIT and s == DEFAULT_SCORE_INIT}
                row.update(mean_std_row(group, COLUMNS))
                d, fn = row["dying_ratio"], row["false_negative_dying"]
                row["false_negative_share"] = fn / d if d and fn is not None and math.isfinite(fn) else math.nan
                if (w, s) in PAPER_TABLE2:
                    row["paper"] = [list(pair) for pair in PAPER_TABLE2[(w, s)]]
                rows.append(row)
    return rows


def _compare(default: dict, best: dict, col: str) -> tuple[float, float]:
    """(default - best, standard error of that difference) for column ``col``."""
    se = math.sqrt(sum(r[col + "_std"] ** 2 / max(r["seeds"], 1) for r in (default, best)))
    return default[col] - best[col], se


def _standing(rows: list[dict], col: str, higher_is_better: bool) -> dict:
    ranked = sorted(rows, key=lambda r: -r[col] if higher_is_better else r[col])
    default = next(r for r in rows if r["default"])
    best = ranked[0]
    gap, se = _compare(default, best, col)
    if best is default:
        status = "best"
    elif abs(gap) <= ON_PAR_SE * se:
        status = "on par"
    else:
        status = "worse"
    return {"rank": ranked.index(default) + 1, "of": len(ranked), "best": (best["weight_init"], best["score_init"]),
            "best_value": best[col], "default_value": default[col], "gap": gap, "se": se, "status": status}


def verdict(rows: list[dict]) -> dict:
    """Per data set: where the default (signed Kaiming constant, Kaiming uniform) stands.

    ``{data: {"quality": standing, "dying_ratio": standing}}``; a standing gives the
    default's rank (1 = best quality: highest accuracy or lowest 1 - R^2 / lowest dying ratio), the best pair, the gap and
    its standard error, and ``status``: ``best``, ``on par`` (|gap| <= 2 SE) or ``worse``.
    Data sets without the default pair are left out.
    """
    out = {}
    for data, group in group_by(rows, lambda r: r["data"]).items():
        group = [r for r in group if math.isfinite(r["quality"]) and math.isfinite(r["dying_ratio"])]
        if any(r["default"] for r in group):
            table2 = [r for r in group if "paper" in r]
            higher = group[0]["quality_sign"] > 0
            out[data] = {"quality": _standing(group, "quality", higher),
                         "dying_ratio": _standing(group, "dying_ratio", False),
                         "table2_quality": _standing(table2, "quality", higher),
                         "table2_dying_ratio": _standing(table2, "dying_ratio", False),
                         "quality_name": group[0]["quality_name"]}
    return out


def paper_ranks() -> dict:
    """The default's rank among the paper's own four Table 2 rows, per setting:
    ``{"test_acc": [rank per PAPER_SETTINGS], "dying_ratio": [...]}`` (1 = best)."""
    default = (DEFAULT_WEIGHT_INIT, DEFAULT_SCORE_INIT)
    ranks: dict = {"test_acc": [], "dying_ratio": []}
    for i in range(len(PAPER_SETTINGS)):
        acc = {pair: values[i][0] for pair, values in PAPER_TABLE2.items()}
        dying = {pair: values[i][1] for pair, values in PAPER_TABLE2.items()}
        ranks["test_acc"].append(1 + sum(a > acc[default] for a in acc.values()))
        ranks["dying_ratio"].append(1 + sum(d < dying[default] for d in dying.values()))
    return ranks


def _describe(s: dict, digits: int = 3) -> str:
    if s["status"] == "best":
        return f"rank {s['rank']}/{s['of']}: best"
    gap = f", gap {s['gap']:+.{digits}f} = {s['gap'] / s['se']:+.1f} SE" if s["se"] > 0 else ""
    return (f"rank {s['rank']}/{s['of']}: {s['status']} (best {s['best'][0]} / {s['best'][1]} "
            f"{s['best_value']:.{digits}f}{gap})")


def format_verdict(verdicts: dict) -> str:
    """One line per data set over all pairs, one over Table 2's four pairs, and the paper's own ranks."""
    lines = []
    for data, v in verdicts.items():
        for prefix, scope in (("", "all pairs"), ("table2_", "Table 2's four pairs")):
            acc, dying = v[prefix + "quality"], v[prefix + "dying_ratio"]
            lines.append(f"verdict {data}, {scope}: default (signed_kaiming_constant / kaiming_uniform) {v['quality_name']} "
                         f"{acc['default_value']:.3f} {_describe(acc)}; dying ratio {dying['default_value']:.3f} "
                         f"{_describe(dying)}")
    ranks = paper_ranks()
    lines.append("paper Table 2, the default's rank among its four pairs (" + ", ".join(PAPER_SETTINGS) + "): "
                 f"accuracy {ranks['test_acc']}, dying ratio {ranks['dying_ratio']} (1 = best)")
    return "\n".join(lines)


def format_table(rows: list[dict]) -> str:
    """The rows as text: one block per data set, the paper's Table 2 beside its four rows."""
    paper_head = "paper acc/DR %: " + ", ".join(PAPER_SETTINGS)
    lines = []
    for data, group in group_by(rows, lambda r: r["data"]).items():
        head = (f"  {'weight init theta0':<24} {'score init s0':<22} | {group[0]['quality_name']:>11} {'d_T':>11} "
                f"{'k-d_T':>11} | {'fn':>11} {'tn':>11} {'fn/d_T':>6} {'enrichment':>11} {'rac':>12} | {paper_head}")
        k = group[0]["prune_rate"]
        share = group[0]["ticket_remaining"]
        extra = f", ticket |P|/n = {share:.3f}" if share is not None and math.isfinite(share) else ""
        lines += [f"{data} (k = {k:g}{extra}; * = default)", head, "-" * len(head)]
        for r in group:
            paper = " ".join(f"{a:.2f}/{d:.2f}" for a, d in r["paper"]) if "paper" in r else ""
            share = f"{r['false_negative_share']:.3f}" if math.isfinite(r["false_negative_share"]) else "-"
            lines.append(f"{'*' if r['default'] else ' '} {r['weight_init']:<24} {r['score_init']:<22} | "
                         f"{pm(r, 'quality'):>11} {pm(r, 'dying_ratio'):>11} {pm(r, 'k_minus_d'):>11} | "
                         f"{pm(r, 'false_negative_dying'):>11} {pm(r, 'true_negative_dying'):>11} {share:>6} "
                         f"{pm(r, 'enrichment'):>11} {pm(r, 'recall_above_chance', '+.3f'):>12} | {paper}")
        lines.append("")
    return "\n".join(lines).rstrip()


def plot(rows: list[dict], out_dir: Path) -> list[Path]:
    """Draw the rows of :func:`table` into ``out_dir``."""
    from matplotlib.patches import Rectangle

    if not rows:
        return []
    by_data = group_by(rows, lambda r: r["data"])
    fig, axes = figstyle.subplots(len(by_data), 2, width=figstyle.DOUBLE_COLUMN, height=2.9 * len(by_data) + 0.3,
                                  squeeze=False)
    for (data, group), ax_row in zip(by_data.items(), axes):
        weights = _order([r["weight_init"] for r in group], WEIGHT_INITS)
        scores = _order([r["score_init"] for r in group], SCORE_INITS)
        regression = group[0]["quality_sign"] < 0
        first = ((ax_row[0], "quality", "1 - R^2 against the teacher, test split (x 100)", "viridis_r") if regression
                 else (ax_row[0], "quality", "test accuracy (%)", "viridis"))
        for ax, col, label, cmap in (first,
                                     (ax_row[1], "dying_ratio", "dying ratio $d_T$ (% of edges)", "magma_r")):
            grid_values = np.full((len(weights), len(scores)), np.nan)
            for r in group:
                grid_values[weights.index(r["weight_init"]), scores.index(r["score_init"])] = 100 * r[col]
            image = ax.imshow(grid_values, cmap=cmap, aspect="auto")
            finite = grid_values[np.isfinite(grid_values)]
            middle = (finite.min() + finite.max()) / 2 if finite.size else 0
            for (i, j), value in np.ndenumerate(grid_values):
                if np.isfinite(value):
                    dark = (value < middle) if cmap == "viridis" else (value > middle)
                    ax.text(j, i, f"{value:.1f}", ha="center", va="center", fontsize=8,
                            color="white" if dark else "black")
            if DEFAULT_WEIGHT_INIT in weights and DEFAULT_SCORE_INIT in scores:
                corner = (scores.index(DEFAULT_SCORE_INIT) - 0.5, weights.index(DEFAULT_WEIGHT_INIT) - 0.5)
                ax.add_patch(Rectangle(corner, 1, 1, fill=False, lw=2, ec=figstyle.OKABE_ITO["sky_blue"]))
            left = ax is ax_row[0]  # the rows' names once, on the left
            ax.set_xticks(range(len(scores)), [s.replace("_", "\n") for s in scores])
            ax.set_yticks(range(len(weights)), [w.replace("_", " ") for w in weights] if left else [])
            ax.set(xlabel=r"score init $s_0$", ylabel=r"weight init $\theta_0$" if left else "",
                   title=f"EP on {data}, k = {group[0]['prune_rate']:g}: {label.split(' (')[0]}")
            fig.colorbar(image, ax=ax, label=label)
    fig.suptitle("Initialisation vs accuracy and dying ratio (blue box: the EP default)")
    figstyle.finish(fig)
    paths = save_figure(fig, Path(out_dir) / f"{NAME}.png", formats=("png", "svg"))
    planted = [r for r in rows if r["data"] == "planted" and math.isfinite(r["false_negative_dying"])]
    if planted:
        paths += _plot_split(planted, Path(out_dir))
    return paths


def _plot_split(rows: list[dict], out_dir: Path) -> list[Path]:
    labels = [f"{r['weight_init'].replace('_', ' ')} / {r['score_init'].replace('_', ' ')}"
              + (" (default)" if r["default"] else "") for r in rows]
    y = np.arange(len(rows))[::-1]
    fn = np.array([r["false_negative_dying"] for r in rows])
    tn = np.array([r["true_negative_dying"] for r in rows])
    fig, ax = figstyle.subplots(1, 1, width=figstyle.DOUBLE_COLUMN, height=0.2 * len(rows) + 1.6)
    ax.barh(y, tn, color=figstyle.OKABE_ITO["sky_blue"], label="true-negative dying (not in ticket $P$)")
    ax.barh(y, fn, left=tn, color=figstyle.OKABE_ITO["vermillion"], hatch="///", edgecolor="white", lw=0,
            label="false-negative dying (in ticket $P$)")
    ax.errorbar(tn + fn, y, xerr=[r["dying_ratio_std"] for r in rows], fmt="none", ecolor="black", lw=1,
                capsize=2, label=r"$d_T$ ± std over seeds")
    share = np.array([r["ticket_remaining"] for r in rows])
    ax.plot((tn + fn) * (1 - share), y, "|", color="black", ms=14, mew=1.5,
            label=r"boundary if dying were blind to $P$ (fn $= d_T \cdot |P|/n$)")
    k = rows[0]["prune_rate"]
    dying = fn + tn
    shares = fn[dying > 0] / dying[dying > 0]  # pairs where no edge dies have no share
    figstyle.reference_line(ax, x=k, linestyle=":", label=f"prune rate k = {k:g} (the most $d_T$ can be)")
    ax.set_yticks(y, labels, fontsize=8)
    ax.set(xlabel="fraction of all searched edges", ylabel=r"weight init $\theta_0$ / score init $s_0$",
           title=f"Planted MLP, EP at k = {k:g}: dying edges = false + true negatives\n"
                 f"false-negative share of $d_T$ {shares.min():.3f} to {shares.max():.3f}, "
                 f"ticket share $|P|/n$ = {np.mean(share):.3f}")
    fig.legend(loc="outside lower center", ncol=2)
    return save_figure(fig, out_dir / f"{NAME}_planted.png", formats=("png", "svg"))


def _grid(preset: dict) -> list[RunConfig]:
    configs = dataset_configs(preset)
    return checked(preset["path"], lambda: grid(preset["study"], configs))


def _format(rows: list[dict], records: list[dict], preset: dict) -> str:
    return format_table(rows) + "\n" + format_verdict(verdict(rows))


def figures(records: list[dict], out_dir: Path) -> list[Path]:
    """figures/init_effects.png (accuracy and dying ratio per init pair) and, with planted
    records, figures/init_effects_planted.png (the dying ratio split into fn and tn)."""
    return plot(table(records), out_dir)


STUDY = Study(name=NAME, keys=STUDY_KEYS, grid=_grid, table=table, format=_format, figures=figures,
              doc=__doc__)
main = STUDY.main

if __name__ == "__main__":
    import sys

    sys.exit(STUDY.cli(sys.argv[1:]))
