"""Study ``iterative``: EP against every iterative variant of Table 3, across remaining ratios.

The analogue of the paper's Fig. 3b (accuracy against the remaining ratio 1 - k) and
Fig. 5a (dying ratio against 1 - k) on small settings: each ``[study.settings.NAME]``
table of the preset (a planted MLP, a planted conv net, digits, ...) overrides the
shared ``[config]``. Every setting runs, for each seed:

- each iterative method (``hard-ft``, ``hard-lr``, ``hard-srw``, ``hard-sri``,
  ``soft-lr``, ``soft-lr-zero``, ``soft-srw-zero``) once, with the setting's
  ``cycles`` C and ``shrinkage`` p: one run gives the whole curve, one point per cycle
  (``record["cycles"][i]``: m*_i's accuracy, the cycle's dying ratios, fn/tn);
- ``ep`` as a fresh run at each cycle's target k_i = 1 - (1 - p)^i (Table 3, first row).

Cycle 1 of every iterative method is EP at k_1 from the same s0 and batches, so the
first point of every curve coincides with EP's. The table gives mean ± sample std over
seeds per setting x remaining ratio x method; a second table gives the paired (same
seed) differences that the claims of Sec. 4-5 are about.

Run ``python -m sltsim.studies.iterative [--quick | --preset paper]``.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from sltsim import figstyle
from sltsim.config import RunConfig
from sltsim.figstyle import OKABE_ITO
from sltsim.figures import load_records, register, save_figure
from sltsim.search import run_search
from sltsim.search import schedule as schedules
from sltsim.studies.cli import preset_from_args, report, run_grid_from_args, run_study, study_parser

STUDY = "iterative"
# the paper's names (Table 3, Fig. 3b legend) for each --method
METHOD_LABELS = {
    "ep": "EP",
    "hard-ft": "hard iEP (FT)",
    "hard-lr": "hard iEP (LR)",
    "hard-srw": "hard iEP (SRw)",
    "hard-sri": "hard iEP (SRi)",
    "soft-lr": "soft iEP (LR)",
    "soft-lr-zero": "soft iEP (LR, zero init)",
    "soft-srw-zero": "soft iEP (SRw, zero init)",
}
METHOD_STYLE = {  # the paper's scheme in Okabe-Ito colours: EP green, hard iEP blues/greys, soft iEP reds
    "ep": (OKABE_ITO["bluish_green"], "o", "-"), "hard-ft": (OKABE_ITO["sky_blue"], "v", "--"),
    "hard-lr": (OKABE_ITO["blue"], "s", "-"), "hard-srw": (OKABE_ITO["black"], "^", "-."),
    "hard-sri": ("#999999", "D", ":"), "soft-lr": (OKABE_ITO["vermillion"], "*", "-"),
    "soft-lr-zero": (OKABE_ITO["orange"], "P", "--"), "soft-srw-zero": (OKABE_ITO["reddish_purple"], "X", "-."),
}
STUDY_KEYS = {"methods": list[str], "seeds": int, "settings": dict}
# fields that vary inside a setting; every other config field defines the setting
PER_CELL_FIELDS = ("method", "seed", "prune_rate", "cycles", "shrinkage")
COLUMNS = ("test_acc", "dying_ratio", "dying_ratio_apparent", "false_negative_dying", "true_negative_dying",
           "ticket_dying_ratio", "ticket_removed_ratio", "revived_ratio")
# (name, method a, method b, column): mean over seeds of a - b (same seed)
COMPARISONS = (
    ("acc S-EP", "soft-lr", "ep", "test_acc"),
    ("acc S-H", "soft-lr", "hard-lr", "test_acc"),
    ("acc FT-EP", "hard-ft", "ep", "test_acc"),
    ("acc Z-S", "soft-lr-zero", "soft-lr", "test_acc"),
    ("d S-EP", "soft-lr", "ep", "dying_ratio"),
    ("d Z-S", "soft-lr-zero", "soft-lr", "dying_ratio"),
    ("fn S-EP", "soft-lr", "ep", "false_negative_dying"),
    ("fn S-H", "soft-lr", "hard-lr", "false_negative_dying"),
)


# -- grid -----------------------------------------------------------------------------------
def settings(study: dict, config_values: dict, source: str = "preset") -> dict[str, RunConfig]:
    """Each ``[study.settings.NAME]`` table merged over ``[config]``, as an iterative RunConfig.

    The merged config must be valid for an iterative method (``cycles`` and ``shrinkage``
    or ``prune_rate``); its ``method`` is replaced per cell. Raises ValueError naming the setting.
    """
    tables = study.get("settings") or {}
    if not tables:
        raise ValueError(f"{source}: [study.settings.NAME] tables are missing; give at least one setting")
    out = {}
    for name, overrides in tables.items():
        if not isinstance(overrides, dict):
            raise ValueError(f"{source}: settings.{name} must be a table of RunConfig fields, got {overrides!r}")
        out[name] = RunConfig.from_dict({**config_values, **overrides}, source=f"[study.settings.{name}] of {source}")
    return out


def cycle_prune_rates(config) -> tuple[float, ...]:
    """k_i of every cycle of an iterative config (RunConfig or its dict)."""
    get = config.get if isinstance(config, dict) else lambda name: getattr(config, name)
    if get("shrinkage") is not None:
        return schedules.geometric(get("shrinkage"), get("cycles")).prune_rates
    return schedules.towards(get("prune_rate"), get("cycles")).prune_rates


def grid(study: dict, bases: dict[str, RunConfig]) -> list[RunConfig]:
    """Setting x method x seed; EP once per cycle target k_i (setting outermost)."""
    methods = study.get("methods", list(METHOD_LABELS))
    unknown = [m for m in methods if m not in METHOD_LABELS]
    if unknown:
        raise ValueError(f"methods must be among {', '.join(METHOD_LABELS)}; got {unknown[0]!r}")
    configs = []
    for base in bases.values():
        rates = cycle_prune_rates(base)
        for method in methods:
            for seed in range(study["seeds"]):
                if method == "ep":
                    configs += [base.replace(method="ep", cycles=1, shrinkage=None, prune_rate=k, seed=seed)
                                for k in rates]
                else:
                    configs.append(base.replace(method=method, seed=seed))
    return configs


# -- aggregation ----------------------------------------------------------------------------
def mean_std(values) -> tuple[float, float]:
    """Mean and sample std (ddof 1; 0 for one value) of the finite values; NaNs when none."""
    arr = np.asarray([v for v in values if v is not None and math.isfinite(v)], float)
    if arr.size == 0:
        return math.nan, math.nan
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else 0.0


_DEFAULTS = {f.name: f.default for f in RunConfig.__dataclass_fields__.values()}


def setting_fields(config: dict) -> dict:
    """What defines a setting: the RunConfig fields of a stored config, except the per-cell and the
    operational ones, that differ from their defaults. A record stored before a field existed, or
    with a since-renamed operational field, so lands in the same setting as a new one."""
    from dataclasses import fields

    from sltsim.torch_backend.names import OPERATIONAL_FIELDS

    defaults = {f.name: list(f.default) if isinstance(f.default, tuple) else f.default for f in fields(RunConfig)}
    return {k: v for k, v in config.items()
            if k in defaults and k not in PER_CELL_FIELDS and k not in OPERATIONAL_FIELDS and v != defaults[k]}


def setting_key(config: dict) -> str:
    """:func:`setting_fields` as a string key."""
    return json.dumps(setting_fields(config), sort_keys=True)


def setting_label(config: dict) -> str:
    """A readable name of a setting, e.g. ``planted mlp:32,256,256,10`` or ``digits conv2``."""
    if config["data"] == "planted":
        inputs = "" if config.get("inputs", "gaussian") == "gaussian" else f" on {config['inputs']} inputs"
        return f"planted {config['model']}{inputs}"
    return f"{config['data']} {config['model']}"


def setting_labels(configs: dict[str, dict]) -> dict[str, str]:
    """{setting key: label}; settings that share a :func:`setting_label` get the fields in which
    they differ appended (``planted mlp:32,256,256,10, lr=0.5``)."""
    base = {key: setting_label(cfg) for key, cfg in configs.items()}
    out = {}
    for key, label in base.items():
        twins = [configs[k] for k, lb in base.items() if lb == label]
        if len(twins) == 1:
            out[key] = label
            continue
        cfg = setting_fields(configs[key])
        others = [setting_fields(t) for t in twins]
        names = sorted(set().union(*others))
        differing = [k for k in names if any(t.get(k) != cfg.get(k) for t in others)]
        out[key] = label + "".join(f", {k}={configs[key].get(k, _DEFAULTS.get(k))}" for k in differing)
    return out


def points(record: dict) -> list[dict]:
    """One point per mask a record reports: {remaining, cycle, seed, COLUMNS...}.

    EP gives one point (its final mask); an iterative method one per cycle, at the
    nominal remaining ratio 1 - k_i of its schedule.
    """
    cfg = record["config"]
    if cfg["method"] == "ep":
        values = {c: record.get(c) for c in COLUMNS}
        values["dying_ratio_apparent"] = record.get("dying_ratio")
        values["revived_ratio"] = None
        return [{"remaining": round(1.0 - cfg["prune_rate"], 6), "cycle": None, "seed": cfg["seed"], **values}]
    rates = cycle_prune_rates(cfg)
    out = []
    for i, cycle in enumerate(record["cycles"]):
        values = {c: cycle.get(c) for c in COLUMNS}
        if values["dying_ratio_apparent"] is None:
            values["dying_ratio_apparent"] = cycle.get("dying_ratio")
        out.append({"remaining": round(1.0 - rates[i], 6), "cycle": i + 1, "seed": cfg["seed"], **values})
    return out


def collect(records: list[dict]) -> dict:
    """{(setting_key, method, remaining): [point, ...]} of the ok records, and the labels in order."""
    groups: dict = defaultdict(list)
    configs: dict[str, dict] = {}
    for r in records:
        if r.get("status") != "ok":
            continue
        key = setting_key(r["config"])
        configs.setdefault(key, r["config"])
        for p in points(r):
            groups[(key, r["config"]["method"], p["remaining"])].append(p)
    return {"groups": groups, "labels": setting_labels(configs)}


def table(records: list[dict]) -> list[dict]:
    """Mean and std over seeds per setting x remaining ratio (descending) x method."""
    c = collect(records)
    order = sorted(c["labels"], key=c["labels"].get)  # settings by label: the same order from any store
    method_order = list(METHOD_LABELS)
    rows = []
    for (key, method, remaining), group in sorted(
            c["groups"].items(), key=lambda kv: (order.index(kv[0][0]), -kv[0][2], method_order.index(kv[0][1]))):
        row = {"setting": c["labels"][key], "method": method, "remaining": remaining,
               "cycle": group[0]["cycle"], "seeds": len(group)}
        for col in COLUMNS:
            row[col], row[col + "_std"] = mean_std(p[col] for p in group)
        rows.append(row)
    return rows


def comparisons(records: list[dict]) -> list[dict]:
    """Paired differences (same setting, remaining ratio and seed) of :data:`COMPARISONS`."""
    c = collect(records)
    order = sorted(c["labels"], key=c["labels"].get)
    out = []
    cells = sorted({(k, r) for (k, _, r) in c["groups"]}, key=lambda kr: (order.index(kr[0]), -kr[1]))
    for key, remaining in cells:
        row = {"setting": c["labels"][key], "remaining": remaining}
        for name, a, b, col in COMPARISONS:
            by_seed = [{p["seed"]: p[col] for p in c["groups"].get((key, m, remaining), [])} for m in (a, b)]
            diffs = [by_seed[0][s] - by_seed[1][s] for s in sorted(set(by_seed[0]) & set(by_seed[1]))
                     if by_seed[0][s] is not None and by_seed[1][s] is not None]
            row[name], row[name + "_std"] = mean_std(diffs)
            row[name + "_n"] = len(diffs)
        out.append(row)
    return out


# zero-init soft variants against the hard variant they should act as (sign(0) = 0: a zeroed score
# never moves, so the edge is never selected again)
TWINS = (("soft-lr-zero", "hard-lr"), ("soft-srw-zero", "hard-srw"))


def identical_points(records: list[dict], a: str, b: str) -> tuple[int, int]:
    """(equal, compared): (setting, seed, cycle >= 2) points at which methods ``a`` and ``b`` have
    exactly the same test accuracy and worst-case dying ratio (cycle 1 is EP for every method)."""
    c = collect(records)
    equal = compared = 0
    for (key, method, remaining), group in c["groups"].items():
        if method != a:
            continue
        other = {p["seed"]: p for p in c["groups"].get((key, b, remaining), [])}
        for p in group:
            q = other.get(p["seed"])
            if q is not None and p["cycle"] != 1:
                compared += 1
                equal += p["test_acc"] == q["test_acc"] and p["dying_ratio"] == q["dying_ratio"]
    return equal, compared


def _pm(row: dict, col: str, digits: int = 3) -> str:
    mean, std = row[col], row[col + "_std"]
    return "-" if mean is None or math.isnan(mean) else f"{mean:.{digits}f}±{std:.{digits}f}"


def format_table(rows: list[dict]) -> str:
    """One block per setting. ``revived``: share of m*_i outside m*_{i-1} (iEP, cycles >= 2);
    on planted data fn, tn (dying edges in / not in P, over all edges) and ``P dying`` (fn / |P|)."""
    lines = []
    for label in dict.fromkeys(r["setting"] for r in rows):
        block = [r for r in rows if r["setting"] == label]
        seeds = max(r["seeds"] for r in block)
        planted = any(not math.isnan(r["false_negative_dying"]) for r in block)
        head = (f"{'1-k':>6} {'method':<26} {'test_acc':>12} {'d (worst)':>12} {'d apparent':>12} {'revived':>13}"
                + (f" {'fn':>13} {'tn':>12} {'P dying':>12}" if planted else ""))
        lines += ["", f"== {label} (up to {seeds} seeds) ==", head, "-" * len(head)]
        for r in block:
            line = (f"{r['remaining']:>6.3f} {METHOD_LABELS[r['method']]:<26} {_pm(r, 'test_acc'):>12} "
                    f"{_pm(r, 'dying_ratio'):>12} {_pm(r, 'dying_ratio_apparent'):>12} "
                    f"{_pm(r, 'revived_ratio', 4):>13}")
            if planted:
                line += (f" {_pm(r, 'false_negative_dying', 4):>13} {_pm(r, 'true_negative_dying'):>12} "
                         f"{_pm(r, 'ticket_dying_ratio'):>12}")
            lines.append(line)
    return "\n".join(lines[1:])


def format_comparisons(rows: list[dict]) -> str:
    """The paired differences, one block per setting (mean±std over seeds of a - b)."""
    names = [c[0] for c in COMPARISONS]
    lines = ["paired differences a - b at the same seed, mean±std over seeds (fn: over all edges); "
             "S = soft iEP (LR), H = hard iEP (LR), FT = hard iEP (FT), Z = soft iEP (LR, zero init)"]
    for label in dict.fromkeys(r["setting"] for r in rows):
        block = [r for r in rows if r["setting"] == label]
        lines += ["", f"== {label} ==", f"{'1-k':>6} " + " ".join(f"{n:>14}" for n in names)]
        for r in block:
            cells = [_pm(r, n, 4 if n.startswith("fn") else 3) for n in names]
            lines.append(f"{r['remaining']:>6.3f} " + " ".join(f"{c:>14}" for c in cells))
    return "\n".join(lines)


# -- figures --------------------------------------------------------------------------------
@register(STUDY)
def draw(records_dir: Path, out_dir: Path) -> list[Path]:
    """figures/iterative_accuracy, iterative_dying and iterative_false_negatives (.png, .svg)."""
    return plot(table(load_records(records_dir, STUDY)), out_dir)


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
            _curve(ax, block, method, "test_acc", dodge=2.0 * (j - 3.5))
        _remaining_axis(ax, block)
        ax.set(ylabel="test accuracy (fraction)", title=label)
        ax.grid(alpha=0.3)
    _legend(fig, axes, spare)
    fig.suptitle("Test accuracy of each cycle's final mask (iEP) or of EP run at that $k$\n(mean ± std over "
                 "seeds; points dodged sideways so that equal values stay visible)")
    figstyle.finish(fig)
    written += save_figure(fig, Path(out_dir) / f"{STUDY}_accuracy.png", formats=("png", "svg"))
    # Fig. 5a: dying ratio of EP, hard iEP (worst case and apparent) and soft iEP
    fig, axes, spare = _panels(len(labels))
    for ax, label in zip(axes, labels):
        block = [r for r in rows if r["setting"] == label]
        _curve(ax, block, "ep", "dying_ratio", dodge=-3)
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
    written += save_figure(fig, Path(out_dir) / f"{STUDY}_dying.png", formats=("png", "svg"))
    # new: the share of the planted ticket P that is dying (false negatives), planted settings only
    planted = [lb for lb in labels if any(r["setting"] == lb and not math.isnan(r["ticket_dying_ratio"])
                                          for r in rows)]
    if planted:
        fig, axes, spare = _panels(len(planted))
        for ax, label in zip(axes, planted):
            block = [r for r in rows if r["setting"] == label]
            for j, method in enumerate(("ep", "hard-lr", "soft-lr", "soft-lr-zero")):
                _curve(ax, block, method, "ticket_dying_ratio", dodge=2.0 * (j - 1.5))
            xs = sorted({r["remaining"] for r in block})
            figstyle.reference_line(ax, xy=(xs, [1 - x for x in xs]), linestyle=":",
                                    label="$k$ (as many as a random mask)")
            _remaining_axis(ax, block)
            ax.set(ylabel="false-negative dying edges / $|P|$ (fraction)", title=label, ylim=(-0.02, 1.02))
            ax.grid(alpha=0.3)
        _legend(fig, axes, spare)
        fig.suptitle("Share of the planted ticket $P$ never selected during the cycle\n(hard iEP: edges "
                     "removed earlier count); mean ± std over seeds")
        figstyle.finish(fig)
        written += save_figure(fig, Path(out_dir) / f"{STUDY}_false_negatives.png", formats=("png", "svg"))
    return written


def main(args) -> int:
    preset = preset_from_args(args, allowed=STUDY_KEYS)
    bases = settings(preset["study"], preset["config"], source=str(preset["path"]))
    records = run_grid_from_args(args, grid(preset["study"], bases), run_search)
    rows = table(records)
    pairs = comparisons(records)
    lines = [format_table(rows), "", format_comparisons(pairs), ""]
    for a, b in TWINS:
        equal, compared = identical_points(records, a, b)
        lines.append(f"{METHOD_LABELS[a]} vs {METHOD_LABELS[b]}: test_acc and d (worst) exactly equal at "
                     f"{equal} of {compared} (setting, seed, cycle >= 2) points")
    return report(args, "\n".join(lines), plot(rows, Path(args.figures)), {"rows": rows, "comparisons": pairs})


if __name__ == "__main__":
    import sys

    sys.exit(run_study(main, sys.argv[1:], parser=study_parser(STUDY, __doc__)))
