"""Study ``recovery``: where does each method stop recovering a feasible planted ticket?

A phase diagram over overparameterization rho (student hidden width W over the ticket's
``ticket_units`` hidden units) and the prune rate k. The student is ``model_template``
with hidden width W (``mlp:16,W,4`` by default); the ticket keeps ``ticket_units`` of its
hidden units and exactly the final mask's keep count of edges in every layer (a feasible
ticket), so P fills a share ``fill = (1 - k) rho`` of the block between its units. Cells
where no such ticket exists (fill > 1, or too few edges to give every ticket unit one)
are listed as infeasible and left blank. The task is regression on the teacher's
outputs, so P is a zero-loss mask inside the search space.

Methods: EP, hard iEP (LR) and soft iEP (LR), the paper's Table 3 rows, with ``cycles``
cycles of ``epochs`` epochs each for the iterative methods and EP at the same total
epochs (cycles x epochs), so that no method wins by training longer. Per cell, over the
seeds: the train loss as 1 - R^2 (0 at P), recall and aligned recall above chance
(``(recall - c) / (1 - c)``, c the recall of a random mask at the same per-layer counts, here
1 - k; aligned: hidden units matched by activations, exact replicas
count as recovered), enrichment of P among the dying edges, and the false-negative
dying edges of the final answer. Controls on the same teachers
(:mod:`sltsim.studies.planted_controls`): a random mask at the same budget (the null),
EP started from P, dense weight training (learnability), and the basin of attraction
(each method started from a mask holding a fraction q of P) at two overparameterizations.
A replica-free student (``replica_free_init``, Gaussian theta0: no exact replica)
repeats the diagram for ``replica_free_methods``.

Run ``python -m sltsim.studies.recovery [--quick]``.
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

NAME = "recovery"
STUDY_KEYS = {"model_template": str, "ticket_units": int, "overparameterizations": list[int],
              "prune_rates": list[float], "methods": list[str], "seeds": int, "controls": list[str],
              "basin_cells": list[list], "basin_overlaps": list[float], "replica_free_init": str,
              "replica_free_methods": list[str]}
METHOD_NAMES = {"ep": "EP", "hard-lr": "hard iEP (LR)", "soft-lr": "soft iEP (LR)"}
#: A cell "recovers P" when its mean aligned recall above chance reaches this.
RECOVERED = 0.9
COLUMNS = ("aligned_recall_above_chance", "recall_above_chance", "aligned_recall", "recall", "enrichment",
           "aligned_enrichment", "train_unexplained", "test_unexplained", "false_negative_dying",
           "ticket_dying_ratio", "non_ticket_dying_ratio", "ticket_remaining", "start_recall",
           "mean_ticket_unit_replicas", "ticket_train_unexplained")
STANDARD, REPLICA_FREE = "signed constant", "Gaussian (replica-free)"


def _width(study: dict, rho: int) -> int:
    return int(study.get("ticket_units", 8)) * int(rho)


def cell_config(study: dict, config: RunConfig, method: str, rho: int, k: float, seed: int) -> RunConfig:
    """One search: ``method`` on the student of hidden width ticket_units * rho at prune rate k."""
    width = _width(study, rho)
    base = config.replace(model=study.get("model_template", "mlp:16,{width},4").format(width=width),
                          ticket_width=int(study.get("ticket_units", 8)) / width, prune_rate=float(k), seed=seed)
    if method == "ep":
        return base.replace(method="ep", cycles=1, shrinkage=None, epochs=config.epochs * config.cycles)
    return base.replace(method=method)


def cells(study: dict, config: RunConfig) -> tuple[list, list]:
    """(feasible (rho, k) cells, [(rho, k, reason)] infeasible ones)."""
    feasible, infeasible = [], []
    for rho in study["overparameterizations"]:
        for k in study["prune_rates"]:
            try:
                check_ticket(cell_config(study, config, "ep", rho, k, 0))
            except ValueError as e:
                infeasible.append((rho, float(k), str(e)))
            else:
                feasible.append((rho, float(k)))
    return feasible, infeasible


def grid(study: dict, config: RunConfig) -> list[RunConfig]:
    """Searches of every method at every feasible cell and seed, the replica-free searches,
    then the controls: random mask, EP from P and dense training at every cell, and the
    basin (every method from each start overlap q) at ``basin_cells``."""
    if config.cycles < 2:
        raise ValueError(f"recovery needs cycles >= 2 in [config] for the iterative methods, got {config.cycles}")
    controls = check_controls(study.get("controls", []))
    methods = study["methods"]
    for m in methods + study.get("replica_free_methods", []):
        if m not in METHOD_NAMES:
            raise ValueError(f"method must be one of {', '.join(METHOD_NAMES)} in recovery; got {m!r}")
    feasible, _ = cells(study, config)
    basin = {(int(rho), round(float(k), 6)) for rho, k in study.get("basin_cells", [])}
    for rho, k in basin:
        if (rho, k) not in {(r, round(kk, 6)) for r, kk in feasible}:
            raise ValueError(f"basin_cells holds [{rho}, {k}], which is not a feasible cell of the diagram")
    seeds = range(study["seeds"])
    out, extra = [], []
    for rho, k in feasible:
        for seed in seeds:
            for m in methods:
                cell = cell_config(study, config, m, rho, k, seed)
                out.append(cell)
                # random mask, EP from P and dense training share the EP cell's teacher: once per cell
                here = [c for c in controls if c != "basin" and m == "ep"]
                if "basin" in controls and (rho, round(k, 6)) in basin:
                    here.append("basin")
                extra += control_configs(cell, here, study.get("basin_overlaps", ()))
            if "replica_free_init" in study:
                for m in study.get("replica_free_methods", []):
                    cell = cell_config(study, config.replace(weight_init=study["replica_free_init"]), m, rho, k, seed)
                    out.append(cell)
                    extra += control_configs(cell, [c for c in controls if c == "random_mask"])
    return out + extra


def _rho(record: dict) -> int:
    """rho = W / ticket_units = 1 / ticket_width."""
    return int(round(1.0 / record["config"]["ticket_width"]))


def table(records: list[dict]) -> list[dict]:
    """One row per (student init, method, rho, k): the searches' statistics and their controls."""
    def key(r):
        c = r["config"]
        init = REPLICA_FREE if c["weight_init"] != "signed_kaiming_constant" else STANDARD
        name, q = role(r)
        method = c["method"] if name in (SEARCH, "ticket_start", "basin") else None
        return init, method, _rho(r), searched_prune_rate(r), name, q

    groups = group_by(ok_records(records), key)
    rows = []
    for (init, method, rho, k, name, q) in sorted(g for g in groups if g[4] == SEARCH):
        search = groups[(init, method, rho, k, name, q)]
        row = {"init": init, "method": method, "overparameterization": rho, "prune_rate": k,
               "fill": round((1 - k) * rho, 6), **interval_row(search, COLUMNS)}
        cell = list(search)
        for control, m, qq in (("random_mask", None, None), ("dense", None, None), ("ticket_start", method, 1.0)):
            got = groups.get((init, m, rho, k, control, qq), [])
            row[control] = interval_row(got, COLUMNS) if got else None
            cell += got
        qs = sorted(g[5] for g in groups if g[:4] == (init, method, rho, k) and g[4] == "basin")
        row["basin"] = [{"start_overlap": qq, **interval_row(groups[(init, method, rho, k, "basin", qq)], COLUMNS)}
                        for qq in qs]
        for qq in qs:
            cell += groups[(init, method, rho, k, "basin", qq)]
        row["same_teachers"] = same_teacher(cell)
        row["ticket_feasible"] = all(r.get("ticket_feasible") for r in search)
        row["recovered"] = bool(row["aligned_recall_above_chance"] >= RECOVERED)
        rows.append(row)
    return rows


def _phase_map(rows, init, method, col, digits=2) -> list[str]:
    sub = [r for r in rows if r["init"] == init and r["method"] == method]
    rhos = sorted({r["overparameterization"] for r in sub})
    ks = sorted({r["prune_rate"] for r in sub})
    at = {(r["overparameterization"], r["prune_rate"]): r for r in sub}
    corner = "k \\ rho"
    lines = [f"{corner:>8} " + " ".join(f"{rho:>11}" for rho in rhos)]
    for k in ks:
        cells = []
        for rho in rhos:
            r = at.get((rho, k))
            cells.append(f"{(ci(r, col, digits) + ('*' if r['recovered'] else ' ')) if r else '·':>11}")
        lines.append(f"{k:>8.4f} " + " ".join(cells))
    return lines


def format_table(rows: list[dict], infeasible=()) -> str:
    lines = []
    n = max((r["seeds"] for r in rows), default=0)
    for init in dict.fromkeys(r["init"] for r in rows):
        for method in dict.fromkeys(r["method"] for r in rows if r["init"] == init):
            sub = [r for r in rows if r["init"] == init and r["method"] == method]
            head = (f"{'rho':>4} {'k':>7} {'fill':>5} | {'aligned r>c':>11} {'recall>c':>10} | "
                    f"{'enrichment':>10} {'aligned':>10} | {'1-R2 train':>10} {'held out':>10} | "
                    f"{'fn':>6} {'|P|/n':>6} | {'random: aligned r>c':>19} {'enrich.':>9} | "
                    f"{'from P: recall':>14} | {'dense 1-R2':>10} | {'replicas':>8}")
            lines += [f"{METHOD_NAMES[method]} on planted students, theta0 {init} "
                      f"(mean ± 95% interval over {n} seeds; * = recovered: aligned r>c >= {RECOVERED})",
                      head, "-" * len(head)]
            for r in sub:
                rm, p, d = r.get("random_mask"), r.get("ticket_start"), r.get("dense")
                lines.append(
                    f"{r['overparameterization']:>4} {r['prune_rate']:>7.4f} {r['fill']:>5.3f} | "
                    f"{ci(r, 'aligned_recall_above_chance') + ('*' if r['recovered'] else ' '):>11} "
                    f"{ci(r, 'recall_above_chance'):>10} | {ci(r, 'enrichment'):>10} {ci(r, 'aligned_enrichment'):>10} | "
                    f"{ci(r, 'train_unexplained'):>10} {ci(r, 'test_unexplained'):>10} | "
                    f"{r['false_negative_dying']:>6.3f} {r['ticket_remaining']:>6.3f} | "
                    f"{(ci(rm, 'aligned_recall_above_chance') if rm else '-'):>19} {(ci(rm, 'enrichment') if rm else '-'):>9} | "
                    f"{(ci(p, 'recall') if p else '-'):>14} | {(ci(d, 'test_unexplained', 3) if d else '-'):>10} | "
                    f"{r['mean_ticket_unit_replicas']:>8.2f}")
            lines.append("")
    for init in dict.fromkeys(r["init"] for r in rows):
        for method in dict.fromkeys(r["method"] for r in rows if r["init"] == init):
            lines += [f"phase map, {METHOD_NAMES[method]}, theta0 {init}: aligned recall above chance "
                      f"(* = recovered, · = no feasible ticket)"] + _phase_map(rows, init, method,
                                                                              "aligned_recall_above_chance") + [""]
    for r in (r for r in rows if r["basin"]):
        head = f"{'start':>9} | {'P in first mask':>15} | {'aligned recall':>14} {'recall':>10} | {'1-R2 train':>10}"
        lines += [f"basin of attraction: {METHOD_NAMES[r['method']]}, rho = {r['overparameterization']}, "
                  f"k = {r['prune_rate']:.4f} (fill {r['fill']:.3f}), theta0 {r['init']}", head, "-" * len(head)]
        starts = [{"start_overlap": None, **r}] + r["basin"]
        if r.get("ticket_start"):
            starts.append({"start_overlap": 1.0, **r["ticket_start"]})
        for b in starts:
            name = "random" if b["start_overlap"] is None else f"q = {b['start_overlap']:.2f}"
            lines.append(f"{name:>9} | {ci(b, 'start_recall'):>15} | {ci(b, 'aligned_recall'):>14} "
                         f"{ci(b, 'recall'):>10} | {ci(b, 'train_unexplained'):>10}")
        lines.append("")
    if infeasible:
        lines.append("cells without a feasible ticket (left out):")
        lines += [f"  rho = {rho}, k = {k:.4f}: {reason}" for rho, k, reason in infeasible]
        lines.append("")
    lines.append(
        "rho: student hidden width / ticket hidden units; fill = (1-k) rho: share of the block between the ticket's "
        "units that P holds; r>c: recall above chance (recall - c) / (1 - c), c = a random mask's recall at the same "
        "per-layer counts, here 1-k (0 = blind to P, 1 = P found); aligned: on the image of P under the unit "
        "alignment (exact replicas count as recovered); enrichment: share of P dying / share of the rest dying (1 = "
        "blind); 1-R2: loss / variance of the teacher's outputs (0 at P); fn: false-negative dying edges of the "
        "final answer (last cycle), beside |P|/n; random: a uniform mask at the same budget; from P: EP started with "
        "P on top; dense: weight training of the student on the same data (held out); replicas: exact replicas per "
        "ticket unit.")
    return "\n".join(lines)


def _heatmap(ax, sub, col, vmin, vmax, cmap):
    from matplotlib.patches import Rectangle

    rhos = sorted({r["overparameterization"] for r in sub})
    ks = sorted({r["prune_rate"] for r in sub})
    grid = np.full((len(ks), len(rhos)), np.nan)
    for r in sub:
        grid[ks.index(r["prune_rate"]), rhos.index(r["overparameterization"])] = r[col]
    image = ax.imshow(grid, origin="lower", cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    for (i, j), v in np.ndenumerate(grid):
        if math.isnan(v):
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="//", color="lightgrey", lw=0))
        else:
            r, g, b, _ = image.cmap(image.norm(v))
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=8,
                    color="white" if 0.299 * r + 0.587 * g + 0.114 * b < 0.5 else "black")
    ax.set_xticks(range(len(rhos)), [str(r) for r in rhos])
    ax.set_yticks(range(len(ks)), [f"{k:.4g}" for k in ks])
    ax.set(xlabel=r"overparameterization $\rho$", ylabel="prune rate $k$")
    return image


def plot(rows: list[dict], out_dir: Path) -> list[Path]:
    """Draw figures/recovery_phase.png and figures/recovery_basin.png from the rows of :func:`table`."""
    if not rows:
        return []
    out = []
    std = [r for r in rows if r["init"] == STANDARD]
    methods = list(dict.fromkeys(r["method"] for r in std))
    fig, axes = figstyle.subplots(2, len(methods), width=figstyle.DOUBLE_COLUMN, height=5.6, squeeze=False,
                                  sharex=True, sharey=True)
    for j, m in enumerate(methods):
        sub = [r for r in std if r["method"] == m]
        im1 = _heatmap(axes[0, j], sub, "aligned_recall_above_chance", 0.0, 1.0, "viridis")
        axes[0, j].set_title(f"{METHOD_NAMES[m]}: recall of $P$")
        im2 = _heatmap(axes[1, j], sub, "train_unexplained", 0.0, 1.0, "magma_r")
        axes[1, j].set_title(f"{METHOD_NAMES[m]}: train loss")
        if j:
            for ax in axes[:, j]:
                ax.set_ylabel("")
        axes[0, j].set_xlabel("")
    fig.colorbar(im1, ax=axes[0, :], shrink=0.9, label="aligned recall above chance,\n(recall $-$ (1$-k$)) / $k$").ax.set_label("<colorbar>")
    fig.colorbar(im2, ax=axes[1, :], shrink=0.9, label="train loss as 1 $-$ R$^2$ (0 at $P$)").ax.set_label("<colorbar>")
    figstyle.finish(fig)
    out += save_figure(fig, Path(out_dir) / f"{NAME}_phase.png")
    basin = [r for r in std if r["basin"]]
    if basin:
        cells = list(dict.fromkeys((r["overparameterization"], r["prune_rate"]) for r in basin))
        fig, axes = figstyle.subplots(1, len(cells), width=figstyle.DOUBLE_COLUMN, height=3.0, squeeze=False,
                                      sharey=True)
        for ax, (rho, k) in zip(axes[0], cells):
            for i, r in enumerate(r for r in basin if (r["overparameterization"], r["prune_rate"]) == (rho, k)):
                starts = r["basin"] + ([r["ticket_start"]] if r.get("ticket_start") else [])
                x = np.array([s["start_recall"] for s in starts])
                y = np.array([s["aligned_recall"] for s in starts])
                e = np.array([0.0 if math.isnan(s.get("aligned_recall_ci", math.nan)) else s["aligned_recall_ci"]
                              for s in starts])
                order = np.argsort(x)
                style = figstyle.series(i)
                ax.errorbar(x[order], y[order], yerr=e[order], label=f"{METHOD_NAMES[r['method']]}, start with q of $P$",
                            **style)
                ax.errorbar([r["start_recall"]], [r["aligned_recall"]], yerr=[np.nan_to_num(r["aligned_recall_ci"])],
                            color=style["color"], marker="*", ms=9, ls="none",
                            label=f"{METHOD_NAMES[r['method']]}, random start")
            figstyle.reference_line(ax, xy=([0, 1], [0, 1]), label="end where it started")
            figstyle.reference_line(ax, y=1 - k, label="chance recall $1-k$", linestyle=":")
            ax.set(xlabel="share of $P$ in the first mask", ylabel="final aligned recall of $P$", xlim=(0, 1.03),
                   ylim=(0, 1.03), title=rf"basin: $\rho$ = {rho}, $k$ = {k:.4g}")
        figstyle.legend_below(fig, list(axes[0]), ncol=3)
        figstyle.finish(fig)
        out += save_figure(fig, Path(out_dir) / f"{NAME}_basin.png")
    return out


def _config(preset: dict) -> RunConfig:
    return RunConfig.from_dict(preset["config"], source=str(preset["path"]))


def _grid(preset: dict) -> list[RunConfig]:
    return grid(preset["study"], _config(preset))


def _format(rows: list[dict], records: list[dict], preset: dict) -> str:
    _, infeasible = cells(preset["study"], _config(preset))
    return format_table(rows, infeasible)


def figures(records: list[dict], out_dir: Path) -> list[Path]:
    """figures/recovery_phase.png (heatmaps of aligned recall above chance and of 1 - R^2 over
    rho x k, one column per method) and figures/recovery_basin.png (final aligned recall
    against the share of P in the first mask)."""
    return plot(table(records), out_dir)


STUDY = Study(name=NAME, keys=STUDY_KEYS, grid=_grid, table=table, format=_format, figures=figures,
              doc=__doc__)
main = STUDY.main

if __name__ == "__main__":
    import sys

    sys.exit(STUDY.cli(sys.argv[1:]))
