"""Study ``score_ranks``: where sampled edges' scores rank, cycle after cycle (the paper's Fig. 5b).

Hard and soft iterative edge-popup (``hard-lr`` and ``soft-lr`` by default) search the
same setting from the same seed, so they follow the same fixed random sample of edges
(:class:`sltsim.search.iterative.RankSample`, 200 edges, drawn first from the run's
``"method"`` stream). At the end of every cycle i the record holds each sampled edge's
normalised rank in its layer's selection order (0 = kept first) and the layer's kept
fraction 1 - k_i: an edge is in m*_i exactly when ``rank < threshold``.

The table counts, per method (mean ± std over seeds), the sampled edges that

- are selected at the end (in m*_C),
- *revive*: cross the threshold upward after cycle 1 (below it at the end of cycle
  i - 1, above it at the end of cycle i, for some i >= 2). Hard pruning cannot revive
  an edge by construction; soft pruning can (Sec. 4.2),
- are selected at the end but were below the threshold at some earlier cycle end,

and, over *all* searched edges, the mean share of each later cycle's mask that was
outside the previous cycle's (``revived_ratio`` of the records).

Run ``python -m sltsim.studies.score_ranks [--quick | --preset paper]``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from sltsim import figstyle
from sltsim.config import RunConfig
from sltsim.figures import save_figure
from sltsim.studies.aggregate import mean_std_row, pm
from sltsim.studies.iterative_tables import ITERATIVE_METHODS, METHOD_LABELS, cycle_prune_rates, setting_label
from sltsim.studies.study import Study

NAME = "score_ranks"
STUDY_KEYS = {"methods": list[str], "seeds": int}
DEFAULT_METHODS = ("hard-lr", "soft-lr")
COUNTS = ("sampled", "selected_final", "revived", "late_selected", "revived_ratio_all")


def grid(study: dict, config: RunConfig) -> list[RunConfig]:
    """One run per (method, seed): every cycle's snapshot comes from the same run."""
    methods = study.get("methods", list(DEFAULT_METHODS))
    bad = [m for m in methods if m not in ITERATIVE_METHODS]
    if bad:
        raise ValueError(f"methods must be iterative methods ({', '.join(ITERATIVE_METHODS)}); got {bad[0]!r}")
    return [config.replace(method=m, seed=seed) for m in methods for seed in range(study["seeds"])]


def trajectories(record: dict) -> tuple[np.ndarray, np.ndarray]:
    """(rank, threshold), each (cycles, sampled edges): the snapshots of one record, in cycle order."""
    snaps = [c["score_ranks"] for c in record["cycles"]]
    return (np.array([s["rank"] for s in snaps], float), np.array([s["threshold"] for s in snaps], float))


def edge_counts(record: dict) -> dict:
    """The counts of the module docstring for one record."""
    rank, threshold = trajectories(record)
    above = rank < threshold  # (C, m) selected at the end of each cycle
    crossed_up = ~above[:-1] & above[1:]  # (C-1, m)
    ratios = [c.get("revived_ratio") for c in record["cycles"][1:]]
    ratios = [r for r in ratios if r is not None]
    return {"sampled": int(rank.shape[1]), "selected_final": int(above[-1].sum()),
            "revived": int(crossed_up.any(axis=0).sum()),
            "late_selected": int((above[-1] & ~above[:-1].all(axis=0)).sum()),
            "revived_ratio_all": float(np.mean(ratios)) if ratios else math.nan}


def table(records: list[dict]) -> list[dict]:
    """Mean ± std over seeds of :func:`edge_counts`, per setting x method."""
    groups: dict = defaultdict(list)
    for r in records:
        if r.get("status") == "ok" and r["cycles"] and "score_ranks" in r["cycles"][0]:
            cfg = r["config"]
            groups[(setting_label(cfg), cfg["method"], len(r["cycles"]), 1.0 - cycle_prune_rates(cfg)[-1])].append(r)
    rows = []
    order = list(METHOD_LABELS)
    for (label, method, cycles, remaining), group in sorted(groups.items(), key=lambda kv: (kv[0][0], order.index(kv[0][1]))):
        row = {"setting": label, "method": method, "cycles": cycles, "final_remaining": remaining,
               "seeds": len(group)}
        row.update(mean_std_row([edge_counts(r) for r in group], COUNTS))
        rows.append(row)
    return rows


def format_table(rows: list[dict]) -> str:
    head = (f"{'setting':<28} {'method':<15} {'C':>3} {'final 1-k':>9} {'seeds':>5} | {'sampled':>7} "
            f"{'selected at end':>15} {'revived':>11} {'late selected':>13} | {'revived/cycle, all edges':>24}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['setting']:<28} {METHOD_LABELS[r['method']]:<15} {r['cycles']:>3} "
                     f"{r['final_remaining']:>9.4f} {r['seeds']:>5} | {r['sampled']:>7.0f} "
                     f"{pm(r, 'selected_final', '.1f'):>15} {pm(r, 'revived', '.1f'):>11} "
                     f"{pm(r, 'late_selected', '.1f'):>13} | {pm(r, 'revived_ratio_all', '.5f'):>24}")
    return "\n".join(lines)


def plot(records: list[dict], out_dir: Path) -> list[Path]:
    """Rank of each sampled edge at each cycle end (red: in the final mask), with the threshold."""
    from matplotlib.lines import Line2D

    ok = [r for r in records if r.get("status") == "ok" and r["cycles"] and "score_ranks" in r["cycles"][0]]
    if not ok:
        return []
    seed = min(r["config"]["seed"] for r in ok)
    order = list(METHOD_LABELS)
    shown = sorted((r for r in ok if r["config"]["seed"] == seed), key=lambda r: order.index(r["config"]["method"]))
    fig, axes = figstyle.subplots(1, len(shown), width=figstyle.DOUBLE_COLUMN, height=3.2, squeeze=False,
                                  sharey=True)
    unselected, selected = figstyle.OKABE_ITO["sky_blue"], figstyle.OKABE_ITO["vermillion"]
    for ax, record in zip(axes[0], shown):
        rank, threshold = trajectories(record)
        cycles = np.arange(1, rank.shape[0] + 1)
        final = rank[-1] < threshold[-1]
        for j in np.flatnonzero(~final):
            ax.plot(cycles, rank[:, j], color=unselected, alpha=0.3, lw=0.8)
        for j in np.flatnonzero(final):
            ax.plot(cycles, rank[:, j], color=selected, alpha=0.9, lw=1.3)
        ax.plot(cycles, threshold.mean(axis=1), color="black", lw=2.2)
        ax.set_ylim(1.0, 0.0)  # rank 0 (highest |s|) at the top
        remaining = [1.0 - k for k in cycle_prune_rates(record["config"])]
        ax.set_xticks(cycles)
        every = -(-len(cycles) // 8)  # at most 8 labels, so that they stay apart at this width
        ax.set_xticklabels([f"{i}\n{100 * r:.2g}%" if (i - 1) % every == 0 else "" for i, r in zip(cycles, remaining)])
        ax.set_xlabel("cycle $i$ / remaining $1-k_i$ at its end")
        ax.set_title(f"{METHOD_LABELS[record['config']['method']]}, {setting_label(record['config'])}, seed {seed}")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("normalised rank of $|s|$ in its layer (0 = top)")
    handles = [Line2D([], [], color=selected, lw=1.3, label="selected at the end (in $m^*_C$)"),
               Line2D([], [], color=unselected, alpha=0.6, label="not selected at the end"),
               Line2D([], [], color="black", lw=2.2, label="threshold: kept fraction $1-k_i$ (selected above it)")]
    fig.legend(handles=handles, loc="outside lower center", ncol=2)
    n = rank.shape[1]
    fig.suptitle(f"Score rank of {n} randomly sampled edges at the end of each cycle (the same edges in "
                 "every panel):\nan edge is selected while its line is above the threshold")
    figstyle.finish(fig)
    return save_figure(fig, Path(out_dir) / f"{NAME}.png", formats=("png", "svg"))


def _grid(preset: dict) -> list[RunConfig]:
    return grid(preset["study"], RunConfig.from_dict(preset["config"], source=str(preset["path"])))


def _format(rows: list[dict], records: list[dict], preset: dict) -> str:
    return format_table(rows)


def figures(records: list[dict], out_dir: Path) -> list[Path]:
    """figures/score_ranks.{png,svg}: rank trajectories of the lowest seed, one panel per method."""
    return plot(records, out_dir)


STUDY = Study(name=NAME, keys=STUDY_KEYS, grid=_grid, table=table, format=_format, figures=figures,
              doc=__doc__)
main = STUDY.main

if __name__ == "__main__":
    import sys

    sys.exit(STUDY.cli(sys.argv[1:]))
