"""Study ``dying_edges``: the analogue of the paper's Table 1, on a sound planted target.

For each prune rate k of Table 1 and each seed, EP searches a planted MLP student
(:mod:`sltsim.planted`) whose ticket P is feasible at k (exactly the final mask's edge
count per layer, so P is a zero-loss mask EP could return) on regression targets (the
teacher's outputs, MSE: P is a global minimum). The table reports the final dying ratio
d_T and k - d_T beside the paper's CIFAR-10 row (Table 1 of Soft iEP: ResNet-18, 100
epochs, mean of 4 seeds), and the statistics that cannot restate a base rate:

- enrichment = (share of P dying) / (share of the rest dying), raw and on the aligned
  image of P (hidden units matched by activations; exact replicas count as recovered);
- recall above chance, (recall - c) / (1 - c) with c the recall of a random mask at the same
  per-layer counts (1 - k here: one k per layer), raw and aligned;
- the train and held-out loss as 1 - R^2;
- fn / d_T only beside its base rate |P| / n.

Every row sits beside its controls on the same teachers (:mod:`sltsim.studies.planted_controls`):
P itself (its 1 - R^2, 0), EP started from P, a random mask at the same budget (the
null: enrichment 1, recall above chance 0), dense weight training (learnability), and the
basin of attraction (EP started from a mask holding a fraction q of P) at one k. Intervals
are 95% t intervals over seeds.

Run ``python -m sltsim.studies.dying_edges [--quick | --preset paper]``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from sltsim import figstyle
from sltsim.config import RunConfig
from sltsim.figures import save_figure
from sltsim.planted import check_ticket
from sltsim.studies.aggregate import ci, group_by, interval_row, ok_records
from sltsim.studies.planted_controls import (SEARCH, check_controls, control_configs, role, same_teacher,
                                             searched_prune_rate)
from sltsim.studies.study import Study

NAME = "dying_edges"
# Table 1 of the Soft iEP paper: EP on ResNet-18 / CIFAR-10, mean of 4 seeds.
PAPER_PRUNE_RATES = (0.200, 0.360, 0.488, 0.590, 0.672, 0.738, 0.790, 0.832)
PAPER_DYING_RATIO = (0.028, 0.166, 0.293, 0.395, 0.479, 0.540, 0.606, 0.656)
PAPER_K_MINUS_D = (0.172, 0.194, 0.195, 0.195, 0.193, 0.190, 0.184, 0.176)
STUDY_KEYS = {"prune_rates": list[float], "seeds": int, "models": list[str], "controls": list[str],
              "control_prune_rates": list[float], "basin_overlaps": list[float], "basin_prune_rate": float}
COLUMNS = ("dying_ratio", "k_minus_d", "false_negative_dying", "true_negative_dying", "fn_share",
           "ticket_remaining", "ticket_dying_ratio", "non_ticket_dying_ratio", "enrichment", "aligned_enrichment",
           "recall", "recall_above_chance", "aligned_recall", "aligned_recall_above_chance", "train_unexplained",
           "test_unexplained", "ticket_train_unexplained", "start_recall", "mean_ticket_unit_replicas",
           "ticket_width")


def grid(study: dict, config: RunConfig) -> list[RunConfig]:
    """EP per (model, prune rate, seed), then its controls: the random mask (the null of every
    statistic) at every prune rate, the other controls at ``control_prune_rates`` (default:
    every prune rate), and the basin cells at ``basin_prune_rate``."""
    models = study.get("models", [config.model])
    controls = check_controls(study.get("controls", []))
    control_ks = {round(k, 6) for k in study.get("control_prune_rates", study["prune_rates"])}
    basin_k = study.get("basin_prune_rate")
    out, extra = [], []
    for model in models:
        for k in study["prune_rates"]:
            for seed in range(study["seeds"]):
                cell = config.replace(model=model, prune_rate=float(k), seed=seed)
                out.append(cell)
                here = [c for c in controls if (c == "random_mask" or (c != "basin" and round(k, 6) in control_ks)
                                                or (c == "basin" and basin_k is not None
                                                    and round(k, 6) == round(basin_k, 6)))]
                extra += control_configs(cell, here, study.get("basin_overlaps", ()))
    for cell in out:  # an infeasible ask is refused before anything runs
        check_ticket(cell)
    return out + extra


def _with_shares(r: dict) -> dict:
    d, fn = r.get("dying_ratio"), r.get("false_negative_dying")
    return dict(r, fn_share=fn / d if d and fn is not None else None)


def table(records: list[dict]) -> list[dict]:
    """One row per (model, prune rate): EP's statistics and every control's, means and 95% intervals."""
    groups = group_by(ok_records(_with_shares(r) for r in records),
                      lambda r: (r["config"]["model"], searched_prune_rate(r), *role(r)))
    keys = sorted({(m, k) for (m, k, *_ ) in groups}, key=lambda mk: (len(mk[0]), mk[0], mk[1]))
    rows = []
    for model, k in keys:
        search = groups.get((model, k, SEARCH, None), [])
        if not search:
            continue
        row = {"model": model, "prune_rate": k, **interval_row(search, COLUMNS)}
        cell = list(search)
        for name in ("ticket_start", "random_mask", "dense"):
            got = groups.get((model, k, name, None) if name != "ticket_start" else (model, k, name, 1.0), [])
            cell += got
            row[name] = interval_row(got, COLUMNS) if got else None
        basin = sorted(q for (m, kk, name, q) in groups if (m, kk, name) == (model, k, "basin"))
        row["basin"] = [{"start_overlap": q, **interval_row(groups[(model, k, "basin", q)], COLUMNS)} for q in basin]
        for q in basin:
            cell += groups[(model, k, "basin", q)]
        row["same_teachers"] = same_teacher(cell)
        row["ticket_feasible"] = all(r.get("ticket_feasible") for r in search)
        if k in PAPER_PRUNE_RATES:
            i = PAPER_PRUNE_RATES.index(k)
            row["paper_dying_ratio"], row["paper_k_minus_d"] = PAPER_DYING_RATIO[i], PAPER_K_MINUS_D[i]
        rows.append(row)
    return rows


def _num(value, digits=3) -> str:
    """A number, or '-' when it is undefined (NaN: e.g. fn / d_T where nothing dies)."""
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _get(row, name, col, digits=2):
    sub = row.get(name)
    return ci(sub, col, digits) if sub else "-"


def format_table(rows: list[dict]) -> str:
    lines = []
    for model in dict.fromkeys(r["model"] for r in rows):
        sub = [r for r in rows if r["model"] == model]
        n = max(r["seeds"] for r in sub)
        head = (f"{'k':>5} | {'d_T':>9} {'k-d_T':>9} | {'fn/d_T':>6} {'|P|/n':>5} | {'P dying':>7} {'rest':>5} | "
                f"{'enrichment':>10} {'aligned':>10} | {'recall>chance':>13} {'aligned':>10} | "
                f"{'1-R2 train':>10} {'held out':>10} | {'paper d_T':>9} {'k-d_T':>5}")
        lines += [f"EP on a planted {model}: feasible ticket, regression (mean ± 95% interval over {n} seeds)",
                  head, "-" * len(head)]
        for r in sub:
            paper = (f"{r['paper_dying_ratio']:>9.3f} {r['paper_k_minus_d']:>5.3f}" if "paper_dying_ratio" in r
                     else f"{'':>9} {'':>5}")
            lines.append(
                f"{r['prune_rate']:>5.3f} | {ci(r, 'dying_ratio', 3):>9} {ci(r, 'k_minus_d', 3):>9} | "
                f"{_num(r['fn_share']):>6} {r['ticket_remaining']:>5.3f} | {r['ticket_dying_ratio']:>7.3f} "
                f"{r['non_ticket_dying_ratio']:>5.3f} | {ci(r, 'enrichment'):>10} {ci(r, 'aligned_enrichment'):>10} | "
                f"{ci(r, 'recall_above_chance'):>13} {ci(r, 'aligned_recall_above_chance'):>10} | "
                f"{ci(r, 'train_unexplained'):>10} {ci(r, 'test_unexplained'):>10} | {paper}")
        lines.append("")
        head = (f"{'k':>5} | {'P: 1-R2':>7} | {'from P: recall':>14} {'enrich.':>7} {'1-R2':>5} | "
                f"{'random mask: enrich.':>20} {'recall>chance':>13} {'aligned':>10} | {'dense: 1-R2 held out':>20} | "
                f"{'replicas/unit':>13} {'same teachers':>13}")
        lines += [f"controls on the same teachers ({model})", head, "-" * len(head)]
        for r in sub:
            p = r.get("ticket_start")
            p_loss = f"{p['train_unexplained']:.0e}" if p else "-"
            lines.append(
                f"{r['prune_rate']:>5.3f} | {r['ticket_train_unexplained']:>7.1e} | "
                f"{_get(r, 'ticket_start', 'recall'):>14} {_get(r, 'ticket_start', 'enrichment'):>7} "
                f"{p_loss:>5} | "
                f"{_get(r, 'random_mask', 'enrichment'):>20} {_get(r, 'random_mask', 'recall_above_chance'):>13} "
                f"{_get(r, 'random_mask', 'aligned_recall_above_chance'):>10} | {_get(r, 'dense', 'test_unexplained', 3):>20} | "
                f"{r['mean_ticket_unit_replicas']:>13.2f} {'yes' if r['same_teachers'] else 'NO':>13}")
        for r in (r for r in sub if r["basin"]):
            head = (f"{'start':>9} | {'P in first mask':>15} | {'final recall':>12} {'aligned':>10} | "
                    f"{'recall>chance':>13} | {'enrichment':>10} | {'1-R2 train':>10}")
            lines += ["", f"basin of attraction at k = {r['prune_rate']:.3f} ({model}): EP started from a mask "
                      f"holding a fraction q of P", head, "-" * len(head)]
            for b in [{"start_overlap": None, **r}] + r["basin"] + ([{"start_overlap": 1.0, **r["ticket_start"]}]
                                                                     if r.get("ticket_start") else []):
                name = "random" if b["start_overlap"] is None else f"q = {b['start_overlap']:.2f}"
                lines.append(f"{name:>9} | {ci(b, 'start_recall'):>15} | {ci(b, 'recall'):>12} "
                             f"{ci(b, 'aligned_recall'):>10} | {ci(b, 'recall_above_chance'):>13} | "
                             f"{ci(b, 'enrichment'):>10} | {ci(b, 'train_unexplained'):>10}")
        lines.append("")
    lines.append(
        "d_T: dying ratio (Eq. 2); '-': undefined (no edge dies); fn/d_T: share of the dying edges in P, beside its "
        "base rate |P|/n (what a search blind to P gives); P dying / rest: share of P's / the other edges that are "
        "dying; enrichment = P dying / rest (1 = blind to P, 0 = P never dies); aligned: scored on the image of P "
        "under the unit alignment (exact replicas count as recovered); recall>chance = (recall - c) / (1 - c), c = a "
        "random mask's recall at the same per-layer counts, here 1-k (0 = blind, 1 = P found); 1-R2: loss normalised "
        "by the teacher's output variance (0 at P); from P: EP started with P on top; random mask: a uniform mask at "
        "the same budget; dense: weight training of the whole student on the same data; paper: Soft iEP Table 1, "
        "ResNet-18 on CIFAR-10.")
    return "\n".join(lines)


def _series(rows, name, col):
    k, m, h = [], [], []
    for r in rows:
        sub = r if name is None else r.get(name)
        if sub and sub.get(col) is not None and not math.isnan(sub[col]):
            k.append(r["prune_rate"])
            m.append(sub[col])
            h.append(0.0 if math.isnan(sub.get(col + "_ci", math.nan)) else sub[col + "_ci"])
    return np.array(k), np.array(m), np.array(h)


def plot(rows: list[dict], out_dir: Path) -> list[Path]:
    """Draw the rows of :func:`table` into ``out_dir``/dying_edges.{png,svg}."""
    if not rows:
        return []
    models = list(dict.fromkeys(r["model"] for r in rows))
    fig, (ax1, ax2, ax3) = figstyle.subplots(1, 3, width=figstyle.DOUBLE_COLUMN, height=3.2)
    ax1.plot(PAPER_PRUNE_RATES, PAPER_DYING_RATIO, color=figstyle.REFERENCE_COLOUR, marker="o", ls="--",
             alpha=0.7, label=r"$d_T$, paper (CIFAR-10)")
    ax1.plot(PAPER_PRUNE_RATES, PAPER_K_MINUS_D, color=figstyle.REFERENCE_COLOUR, marker="s", ls=":", alpha=0.7,
             label=r"$k - d_T$, paper")
    n = 0
    for model in models:
        sub = [r for r in rows if r["model"] == model]
        tag = f" ({model})" if len(models) > 1 else ""
        for col, label in (("dying_ratio", r"$d_T$"), ("k_minus_d", r"$k - d_T$")):
            k, m, h = _series(sub, None, col)
            ax1.errorbar(k, m, yerr=h, label=f"{label}, EP{tag}", **figstyle.series(n))
            n += 1
        for ax, col in ((ax2, "enrichment"), (ax3, "recall_above_chance")):
            for j, (name, prefix, label) in enumerate(((None, "", "EP"), (None, "aligned_", "EP, aligned"),
                                                        ("random_mask", "", "random mask (null)"),
                                                        ("random_mask", "aligned_", "random mask, aligned (null)"),
                                                        ("ticket_start", "", "EP started from $P$"))):
                k, m, h = _series(sub, name, prefix + col)
                if k.size:
                    ax.errorbar(k, m, yerr=h, label=f"{label}{tag}", **figstyle.series(n + j))
        n += 5
    ax1.set(xlabel="prune rate $k$", ylabel="fraction of all edges", title="EP's dying ratio", ylim=(0, 0.9))
    figstyle.reference_line(ax2, y=1.0, label="blind to $P$ (enrichment 1)")
    ax2.set(xlabel="prune rate $k$", ylabel="share of $P$ dying / of the rest",
            title="Enrichment of $P$ among dying edges")
    figstyle.reference_line(ax3, y=0.0, label="chance (recall $1-k$)")
    ax3.set(xlabel="prune rate $k$", ylabel=r"(recall $-$ (1$-k$)) / $k$", title="Recall of $P$ above chance")
    figstyle.legend_below(fig, (ax1, ax2, ax3), ncol=3)
    figstyle.finish(fig)
    return save_figure(fig, Path(out_dir) / f"{NAME}.png", formats=("png", "svg"))


def _grid(preset: dict) -> list[RunConfig]:
    return grid(preset["study"], RunConfig.from_dict(preset["config"], source=str(preset["path"])))


def _format(rows: list[dict], records: list[dict], preset: dict) -> str:
    return format_table(rows)


def figures(records: list[dict], out_dir: Path) -> list[Path]:
    """figures/dying_edges.png: d_T and k - d_T against k (with the paper's CIFAR-10 row),
    enrichment against k beside its controls, and recall above chance beside its controls."""
    return plot(table(records), out_dir)


STUDY = Study(name=NAME, keys=STUDY_KEYS, grid=_grid, table=table, format=_format, figures=figures,
              doc=__doc__)
main = STUDY.main

if __name__ == "__main__":
    import sys

    sys.exit(STUDY.cli(sys.argv[1:]))
