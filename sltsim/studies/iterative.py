"""Study ``iterative``: EP against every iterative variant of Table 3, across remaining ratios.

The analogue of the paper's Fig. 3b (quality against the remaining ratio 1 - k) and
Fig. 5a (dying ratio against 1 - k) on small settings: each ``[study.settings.NAME]``
table of the preset (digits, a planted MLP, ...) overrides the shared ``[config]``.
Every setting runs, for each seed:

- each iterative method (``hard-ft``, ``hard-lr``, ``hard-srw``, ``hard-sri``,
  ``soft-lr``, ``soft-lr-zero``, ``soft-srw-zero``) once, with the setting's
  ``cycles`` C and ``shrinkage`` p: one run gives the whole curve, one point per cycle
  (``record["cycles"][i]``: m*_i's quality, the cycle's dying ratios, fn/tn);
- ``ep``: a fresh EP run of E epochs at each cycle's target k_i = 1 - (1 - p)^i (Table 3,
  first row; the paper's protocol, in which an iterative method at cycle i has trained
  i times as long);
- ``ep-budget``: EP at k_i for i·E epochs, the epochs the iterative methods have spent
  when they reach k_i: a gain over it cannot come from training longer; with
  ``ep_cycles = [i, ...]`` in ``[study]`` both EP arms run at those cycles' targets only;
- with ``controls``, on planted settings, the controls of the E-epoch EP run at k_C
  (:mod:`sltsim.studies.planted_controls`): EP started from P, a random mask, dense
  training of the student on the same teacher.

On a planted setting every run searches one target: the ticket P is feasible at the last
cycle's k_C, and an EP run at an earlier k_i plants the same P, marked sub-budget
(:func:`same_target`). The quality of a mask is test accuracy, or on planted regression
1 - R^2 against the teacher (:mod:`sltsim.studies.columns`). Cycle 1 of every iterative
method is EP at k_1 from the same s0 and batches, so the first point of every curve
coincides with EP's. The tables (:mod:`sltsim.studies.iterative_tables`) give mean ±
sample std over seeds per setting x remaining ratio x arm and the paired (same seed)
differences with 95% t-intervals; :mod:`sltsim.studies.iterative_claims` reads the
paper's claims off them, against both EP arms.

Run ``python -m sltsim.studies.iterative [--quick | --preset paper]``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from sltsim import figstyle
from sltsim.config import RunConfig
from sltsim.figstyle import OKABE_ITO
from sltsim.figures import save_figure
from sltsim.studies.iterative_claims import claims, final_planted, format_final_planted
from sltsim.studies.iterative_tables import (METHOD_LABELS, PER_CELL_FIELDS, TWINS, comparisons, cycle_prune_rates,
                                             format_comparisons, format_table, identical_points, quality_signs,
                                             setting_key, table)
from sltsim.studies.iterative_tables import (ITERATIVE_METHODS, collect, points,  # noqa: F401 (re-exported)
                                             setting_label, setting_labels)
from sltsim.studies.study import Study

NAME = "iterative"
METHOD_STYLE = {  # the paper's scheme in Okabe-Ito colours: EP green, hard iEP blues/greys, soft iEP reds
    "ep": (OKABE_ITO["bluish_green"], "o", "-"), "ep-budget": (OKABE_ITO["bluish_green"], "h", "--"),
    "hard-ft": (OKABE_ITO["sky_blue"], "v", "--"),
    "hard-lr": (OKABE_ITO["blue"], "s", "-"), "hard-srw": (OKABE_ITO["black"], "^", "-."),
    "hard-sri": ("#999999", "D", ":"), "soft-lr": (OKABE_ITO["vermillion"], "*", "-"),
    "soft-lr-zero": (OKABE_ITO["orange"], "P", "--"), "soft-srw-zero": (OKABE_ITO["reddish_purple"], "X", "-."),
}
STUDY_KEYS = {"methods": list[str], "seeds": int, "settings": dict, "controls": list[str], "ep_cycles": list[int]}


# -- grid -----------------------------------------------------------------------------------
def settings(study: dict, config_values: dict, source: str = "preset") -> dict[str, RunConfig]:
    """Each ``[study.settings.NAME]`` table merged over ``[config]``, as an iterative RunConfig.

    The merged config must be valid for an iterative method (``cycles`` and ``shrinkage``
    or ``prune_rate``); its ``method`` is replaced per cell. Two settings must differ in
    more than :data:`PER_CELL_FIELDS` (the table tells their records apart by the rest).
    Raises ValueError naming the setting.
    """
    tables = study.get("settings") or {}
    if not tables:
        raise ValueError(f"{source}: [study.settings.NAME] tables are missing; give at least one setting")
    out = {}
    seen: dict[str, str] = {}
    for name, overrides in tables.items():
        if not isinstance(overrides, dict):
            raise ValueError(f"{source}: settings.{name} must be a table of RunConfig fields, got {overrides!r}")
        out[name] = RunConfig.from_dict({**config_values, **overrides}, source=f"[study.settings.{name}] of {source}")
        key = setting_key(out[name].to_dict())
        if key in seen:
            raise ValueError(f"{source}: settings.{seen[key]} and settings.{name} differ only in "
                             f"{', '.join(PER_CELL_FIELDS)}; a setting must differ in another field")
        seen[key] = name
    return out


def grid(study: dict, bases: dict[str, RunConfig]) -> list[RunConfig]:
    """Setting x method x seed (setting outermost).

    ``ep``: a fresh EP run of E epochs at each cycle target k_i (Table 3, first row);
    ``ep-budget``: EP at k_i for i·E epochs, the epochs an iterative method has spent when it
    reaches k_i (at i = 1 it is the ``ep`` run, listed once). ``ep_cycles`` (:func:`ep_cycles`)
    keeps both arms to the targets of those cycles only (Fig. 3a runs EP at the last, k_C). With ``controls`` (names of
    :data:`sltsim.studies.planted_controls.CONTROLS`), each planted setting also runs, per seed,
    the controls of the E-epoch EP run at the last cycle's k_C on the same teacher: EP started
    from P, a random mask at that budget, dense weight training of the student.
    """
    methods = study.get("methods", list(METHOD_LABELS))
    unknown = [m for m in methods if m not in METHOD_LABELS]
    if unknown:
        raise ValueError(f"methods must be among {', '.join(METHOD_LABELS)}; got {unknown[0]!r}")
    configs = []
    for name, base in bases.items():
        rates = cycle_prune_rates(base)
        at = ep_cycles(study, name, len(rates))
        for method in methods:
            for seed in range(study["seeds"]):
                fresh = base.replace(method="ep", cycles=1, shrinkage=None, seed=seed)
                if method == "ep":
                    configs += [fresh.replace(prune_rate=rates[i - 1], **same_target(base, rates[i - 1])) for i in at]
                elif method == "ep-budget":
                    configs += [fresh.replace(prune_rate=rates[i - 1], epochs=i * base.epochs,
                                              **same_target(base, rates[i - 1]))
                                for i in at if not (i == 1 and "ep" in methods)]
                else:
                    configs.append(base.replace(method=method, seed=seed))
        if study.get("controls") and base.data == "planted":
            from sltsim.studies.planted_controls import control_configs

            configs += [c for seed in range(study["seeds"]) for c in control_configs(
                base.replace(method="ep", cycles=1, shrinkage=None, seed=seed, prune_rate=rates[-1]),
                study["controls"])]
    return configs


def ep_cycles(study: dict, setting: str, cycles: int) -> list[int]:
    """The cycles i (1 to C) at whose target k_i the EP arms run: ``ep_cycles`` of ``[study]``,
    by default every cycle. One line naming the setting for a cycle out of range or twice."""
    at = study.get("ep_cycles", list(range(1, cycles + 1)))
    for i in at:
        if not 1 <= i <= cycles:
            raise ValueError(f"ep_cycles: setting {setting} has cycles 1 to {cycles}, got {i}")
    if len(set(at)) != len(at):
        raise ValueError(f"ep_cycles must name each cycle once, got {at}")
    return sorted(at)


def same_target(base: RunConfig, prune_rate: float) -> dict:
    """The fields an EP run at ``prune_rate`` needs to search the iterative runs' planted target.

    An iterative run plants a ticket P feasible at its last cycle's k_C (DESIGN.md "Planted
    targets"); a fresh EP run at k_i < k_C would plant a larger P of its own, so a different
    teacher and data. Here it plants the same P (``ticket_remaining`` 1 - k_C, the same seed draws
    the same ticket and data), explicitly below its budget (``sub_budget_ticket``): so EP and
    every iterative method are scored against one target at every k, and an earlier cycle's fn
    counts edges of the final answer. Nothing for digits, for k = k_C, or for a setting that
    sets ``ticket_remaining`` itself (then every run plants that ticket already).
    """
    final = cycle_prune_rates(base)[-1]
    if base.data != "planted" or base.ticket_remaining is not None or prune_rate >= final - 1e-12:
        return {}
    return {"ticket_remaining": 1.0 - final, "sub_budget_ticket": True}


# -- figures --------------------------------------------------------------------------------
def _panels(n: int):
    """n panels on a grid of at most two columns; returns the figure, the panels and the
    cells left over (one, when n is odd: it holds the legend)."""
    cols = min(n, 2)
    rows = -(-n // cols)
    fig, axes = figstyle.subplots(rows, cols, width=figstyle.DOUBLE_COLUMN, height=2.5 * rows + 0.8, squeeze=False)
    return fig, list(axes.flat)[:n], list(axes.flat)[n:]


def _curve(ax, rows, method, col, dodge: float = 0.0, **style):
    """One method's mean ± std against 1 - k; ``dodge`` shifts x by that many percent (so that
    methods with identical values stay visible)."""
    pts = sorted((r["remaining"], r[col], r[col + "_std"]) for r in rows if r["method"] == method)
    pts = [p for p in pts if p[1] is not None and not math.isnan(p[1])]
    if not pts:
        return
    x, y, e = map(np.array, zip(*pts))
    x = x * (1.0 + dodge / 100.0)
    colour, marker, line = METHOD_STYLE[method]
    kw = dict(color=colour, marker=marker, linestyle=line, label=METHOD_LABELS[method])
    kw.update(style)
    ax.errorbar(x, y, yerr=e, **kw)


def _legend(fig, axes, spare) -> None:
    """One legend for all panels: in the spare cell if there is one, else below them."""
    handles, labels = axes[0].get_legend_handles_labels()
    if spare:
        figstyle.legend_panel(spare[0], handles, labels)
    else:
        fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 3))


def _remaining_axis(ax, rows):
    ax.set_xscale("log")
    xs = sorted({r["remaining"] for r in rows})
    ax.set_xticks(xs)
    ax.set_xticklabels([f"{x:.3g}" for x in xs], rotation=45)
    ax.minorticks_off()
    ax.invert_xaxis()
    ax.set_xlabel("remaining ratio $1-k$ (log scale)")


def plot(rows: list[dict], out_dir: Path) -> list[Path]:
    """Draw the rows of :func:`table` into ``out_dir``/iterative_*.{png,svg}."""
    if not rows:
        return []
    labels = list(dict.fromkeys(r["setting"] for r in rows))
    written = []
    # Fig. 3b: accuracy of every method against the remaining ratio
    fig, axes, spare = _panels(len(labels))
    for ax, label in zip(axes, labels):
        block = [r for r in rows if r["setting"] == label]
        for j, method in enumerate(METHOD_LABELS):
            _curve(ax, block, method, "quality", dodge=2.0 * (j - (len(METHOD_LABELS) - 1) / 2))
        _remaining_axis(ax, block)
        regression = block[0]["quality_sign"] < 0
        ax.set(ylabel="$1 - R^2$ vs the teacher, test (log)" if regression else "test accuracy (fraction)",
               title=label)
        if regression:  # before the last cycle no mask of the budget fits the sparse teacher: 1 - R^2 >> 1
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    _legend(fig, axes, spare)
    fig.suptitle("Quality of each cycle's final mask (iEP) or of EP run at that $k$ (E epochs, and the "
                 "$i \\cdot E$ epochs iEP has spent)\n(mean ± std over seeds; points dodged sideways so that "
                 "equal values stay visible)")
    figstyle.finish(fig)
    written += save_figure(fig, Path(out_dir) / f"{NAME}_accuracy.png", formats=("png", "svg"))
    # Fig. 5a: dying ratio of EP, hard iEP (worst case and apparent) and soft iEP
    fig, axes, spare = _panels(len(labels))
    for ax, label in zip(axes, labels):
        block = [r for r in rows if r["setting"] == label]
        _curve(ax, block, "ep", "dying_ratio", dodge=-3)
        _curve(ax, block, "ep-budget", "dying_ratio", dodge=-2)
        _curve(ax, block, "hard-lr", "dying_ratio", dodge=-1, label="hard iEP (LR), worst case")
        _curve(ax, block, "hard-lr", "dying_ratio_apparent", dodge=-1, linestyle="--", mfc="none",
               label="hard iEP (LR), apparent")
        _curve(ax, block, "soft-lr", "dying_ratio", dodge=1)
        _curve(ax, block, "soft-lr-zero", "dying_ratio", dodge=3)
        xs = sorted({r["remaining"] for r in block})
        figstyle.reference_line(ax, xy=(xs, [1 - x for x in xs]), linestyle=":",
                                label="$d = k$ (no edge ever swapped in)")
        _remaining_axis(ax, block)
        ax.set(ylabel="dying ratio $d$ (fraction of all edges)", title=label, ylim=(-0.02, 1.0))
        ax.grid(alpha=0.3)
    _legend(fig, axes, spare)
    fig.suptitle("Dying ratio of each cycle (Eq. 2, history reset at each cycle start); mean ± std over seeds")
    figstyle.finish(fig)
    written += save_figure(fig, Path(out_dir) / f"{NAME}_dying.png", formats=("png", "svg"))
    # new: enrichment of P among each cycle's dying edges (1 = blind to P), planted settings only
    planted = [lb for lb in labels if any(r["setting"] == lb and not math.isnan(r["enrichment"]) for r in rows)]
    if planted:
        fig, axes, spare = _panels(len(planted))
        for ax, label in zip(axes, planted):
            block = [r for r in rows if r["setting"] == label]
            for j, method in enumerate(("ep", "ep-budget", "hard-lr", "soft-lr", "soft-lr-zero")):
                _curve(ax, block, method, "enrichment", dodge=2.0 * (j - 2))
            figstyle.reference_line(ax, y=1.0, linestyle=":", label="1: P dies as often as any edge (blind to P)")
            _remaining_axis(ax, block)
            ax.set(ylabel="enrichment: P's dying share / the rest's", title=label, ylim=(0, None))
            ax.grid(alpha=0.3)
        _legend(fig, axes, spare)
        fig.suptitle("How much more (> 1) or less (< 1) often the planted ticket $P$'s edges die than the others "
                     "during a cycle\n(P sized at the last cycle's $k$; hard iEP: edges removed earlier count as "
                     "dying); mean ± std over seeds")
        figstyle.finish(fig)
        written += save_figure(fig, Path(out_dir) / f"{NAME}_enrichment.png", formats=("png", "svg"))
    return written


def _grid(preset: dict) -> list[RunConfig]:
    return grid(preset["study"], settings(preset["study"], preset["config"], source=str(preset["path"])))


def _table(records: list[dict]) -> dict:
    return {"rows": table(records), "comparisons": comparisons(records), "final_planted": final_planted(records)}


def _format(result: dict, records: list[dict], preset: dict) -> str:
    lines = [format_table(result["rows"]), "", format_comparisons(result["comparisons"]), ""]
    for a, b in TWINS:
        equal, compared = identical_points(records, a, b)
        lines.append(f"{METHOD_LABELS[a]} vs {METHOD_LABELS[b]}: quality and d (worst) exactly equal at "
                     f"{equal} of {compared} (setting, seed, cycle >= 2) points")
    final = result["final_planted"]
    lines += ["", claims(result["rows"], result["comparisons"], quality_signs(records))]
    return "\n".join(lines + (["", format_final_planted(final)] if final else []))


def figures(records: list[dict], out_dir: Path) -> list[Path]:
    """figures/iterative_{accuracy,dying,enrichment}.{png,svg}: quality, dying ratio and (planted)
    enrichment against the remaining ratio, one panel per setting."""
    return plot(table(records), out_dir)


STUDY = Study(name=NAME, keys=STUDY_KEYS, grid=_grid, table=_table, format=_format, figures=figures,
              doc=__doc__)
main = STUDY.main

if __name__ == "__main__":
    import sys

    sys.exit(STUDY.cli(sys.argv[1:]))
