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

from sltsim.config import RunConfig
from sltsim.figures import load_records, register, save_figure
from sltsim.search import run_search
from sltsim.search import schedule as schedules
from sltsim.studies.cli import preset_from_args, report, run_grid_from_args, run_study, study_parser
from sltsim.studies.columns import enrichment, quality
from sltsim.studies.intervals import format_ci, mean_ci
from sltsim.studies.iterative_claims import claims, final_planted, format_final_planted

STUDY = "iterative"
# the paper's names (Table 3, Fig. 3b legend) for each --method, and the equal-epochs EP control
METHOD_LABELS = {
    "ep": "EP",
    "ep-budget": "EP (same total epochs)",
    "hard-ft": "hard iEP (FT)",
    "hard-lr": "hard iEP (LR)",
    "hard-srw": "hard iEP (SRw)",
    "hard-sri": "hard iEP (SRi)",
    "soft-lr": "soft iEP (LR)",
    "soft-lr-zero": "soft iEP (LR, zero init)",
    "soft-srw-zero": "soft iEP (SRw, zero init)",
}
#: the two EP arms: the paper's protocol (E epochs per run) and the same total epochs as iEP (i·E at cycle i)
EP_ARMS = ("ep", "ep-budget")
ITERATIVE_METHODS = tuple(m for m in METHOD_LABELS if m not in EP_ARMS)
METHOD_STYLE = {  # the paper's colours: EP green, hard iEP blue, soft iEP red
    "ep": ("C2", "o", "-"), "ep-budget": ("#006d2c", "h", "--"), "hard-ft": ("#9ecae1", "v", "-"),
    "hard-lr": ("#08519c", "s", "-"), "hard-srw": ("#3182bd", "^", "-"), "hard-sri": ("#6baed6", "D", "-"),
    "soft-lr": ("#cb181d", "*", "-"), "soft-lr-zero": ("#fd8d3c", "P", "--"), "soft-srw-zero": ("#fdae6b", "X", "--"),
}
STUDY_KEYS = {"methods": list[str], "seeds": int, "settings": dict}
# fields that vary inside a setting; every other config field defines the setting (epochs varies
# between the two EP arms, the ticket's size fields between EP runs at different k: see same_target;
# so two settings may not differ in these alone)
PER_CELL_FIELDS = ("method", "seed", "prune_rate", "cycles", "shrinkage", "epochs", "ticket_remaining",
                   "sub_budget_ticket")
COLUMNS = ("test_acc", "test_unexplained", "dying_ratio", "dying_ratio_apparent", "false_negative_dying", "true_negative_dying",
           "ticket_dying_ratio", "ticket_remaining", "enrichment", "revived_ratio")
# (name, method a, method b): mean over seeds of quality(a) - quality(b) (same seed)
QUALITY_PAIRS = (
    ("S-EP", "soft-lr", "ep"),
    ("S-EP=", "soft-lr", "ep-budget"),
    ("H-EP", "hard-lr", "ep"),
    ("H-EP=", "hard-lr", "ep-budget"),
    ("S-H", "soft-lr", "hard-lr"),
    ("FT-EP", "hard-ft", "ep"),
    ("FT-EP=", "hard-ft", "ep-budget"),
    ("Z-S", "soft-lr-zero", "soft-lr"),
)
# (name, method a, method b, column): the same for the dying edges
DYING_PAIRS = (
    ("d S-EP", "soft-lr", "ep", "dying_ratio"),
    ("d S-EP=", "soft-lr", "ep-budget", "dying_ratio"),
    ("d Z-S", "soft-lr-zero", "soft-lr", "dying_ratio"),
    ("fn S-EP", "soft-lr", "ep", "false_negative_dying"),
    ("fn S-EP=", "soft-lr", "ep-budget", "false_negative_dying"),
    ("fn S-H", "soft-lr", "hard-lr", "false_negative_dying"),
    ("enr S-EP", "soft-lr", "ep", "enrichment"),
    ("enr S-EP=", "soft-lr", "ep-budget", "enrichment"),
    ("enr S-H", "soft-lr", "hard-lr", "enrichment"),
)
PAIR_LEGEND = ("S = soft iEP (LR), H = hard iEP (LR), FT = hard iEP (FT), Z = soft iEP (LR, zero init), "
               "EP = EP with E epochs per run (the paper's protocol), EP= = EP with the epochs iEP has spent "
               "when it reaches that k (i·E at cycle i)")


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


def cycle_prune_rates(config) -> tuple[float, ...]:
    """k_i of every cycle of an iterative config (RunConfig or its dict)."""
    get = config.get if isinstance(config, dict) else lambda name: getattr(config, name)
    if get("shrinkage") is not None:
        return schedules.geometric(get("shrinkage"), get("cycles")).prune_rates
    return schedules.towards(get("prune_rate"), get("cycles")).prune_rates


def grid(study: dict, bases: dict[str, RunConfig]) -> list[RunConfig]:
    """Setting x method x seed (setting outermost).

    ``ep``: a fresh EP run of E epochs at each cycle target k_i (Table 3, first row);
    ``ep-budget``: EP at k_i for i·E epochs, the epochs an iterative method has spent when it
    reaches k_i (at i = 1 it is the ``ep`` run, listed once).
    """
    methods = study.get("methods", list(METHOD_LABELS))
    unknown = [m for m in methods if m not in METHOD_LABELS]
    if unknown:
        raise ValueError(f"methods must be among {', '.join(METHOD_LABELS)}; got {unknown[0]!r}")
    configs = []
    for base in bases.values():
        rates = cycle_prune_rates(base)
        for method in methods:
            for seed in range(study["seeds"]):
                fresh = base.replace(method="ep", cycles=1, shrinkage=None, seed=seed)
                if method == "ep":
                    configs += [fresh.replace(prune_rate=k, **same_target(base, k)) for k in rates]
                elif method == "ep-budget":
                    configs += [fresh.replace(prune_rate=k, epochs=i * base.epochs, **same_target(base, k))
                                for i, k in enumerate(rates, 1) if not (i == 1 and "ep" in methods)]
                else:
                    configs.append(base.replace(method=method, seed=seed))
    return configs


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
    if not _SUB_BUDGET:  # a plant whose default ticket does not depend on k (no sub-budget flag)
        return {}
    return {"ticket_remaining": 1.0 - final, "sub_budget_ticket": True}


_SUB_BUDGET = "sub_budget_ticket" in RunConfig.__dataclass_fields__


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


def cycle_unexplained(cycle: dict, record: dict) -> float:
    """1 - R^2 on the test split of one cycle's mask m*_i: the cycle's own ``test_unexplained`` when it
    has one, else its MSE ``test_loss`` scaled by the record's ``test_unexplained / test_loss`` (both
    are on the same test split and targets, so the ratio is 1 / the targets' variance, times the
    loss's constant); NaN without them."""
    if cycle.get("test_unexplained") is not None:
        return cycle["test_unexplained"]
    loss, final, final_loss = cycle.get("test_loss"), record.get("test_unexplained"), record.get("test_loss")
    if any(v is None or not math.isfinite(v) for v in (loss, final, final_loss)) or final_loss <= 0:
        return math.nan
    return loss * final / final_loss


def _values(source: dict, record: dict) -> dict:
    """COLUMNS of one mask (a record, or one of its cycles), with the derived ones filled in."""
    values = {c: source.get(c) for c in COLUMNS}
    if source is not record:
        values["test_unexplained"] = cycle_unexplained(source, record)
    values["ticket_remaining"] = record.get("ticket_remaining")
    if values["dying_ratio_apparent"] is None:
        values["dying_ratio_apparent"] = source.get("dying_ratio")
    if values["enrichment"] is None:
        values["enrichment"] = enrichment(values["ticket_dying_ratio"], values["true_negative_dying"],
                                          values["ticket_remaining"])
    return values


def points(record: dict, ep_epochs: int | None = None, first_remaining: float | None = None) -> list[dict]:
    """One point per (arm, mask) a record reports: {arm, remaining, cycle, seed, COLUMNS...}.

    An iterative method gives one point per cycle, at the nominal remaining ratio 1 - k_i of
    its schedule (arm = its method). An EP record gives one point: arm ``ep`` when it ran
    ``ep_epochs`` (E, the setting's epochs per cycle; None: any) epochs, else ``ep-budget`` at
    cycle epochs / E; the E-epoch run at the first cycle's ratio ``first_remaining`` is both.
    """
    cfg = record["config"]
    if cfg["method"] == "ep":
        values = _values(record, record)
        values["revived_ratio"] = None
        remaining = round(1.0 - cfg["prune_rate"], 6)
        base = {"remaining": remaining, "seed": cfg["seed"], **values}
        if ep_epochs is None or cfg["epochs"] == ep_epochs:
            out = [{"arm": "ep", "cycle": None, **base}]
            if first_remaining is not None and remaining == first_remaining:
                out.append({"arm": "ep-budget", "cycle": 1, **base})
            return out
        return [{"arm": "ep-budget", "cycle": cfg["epochs"] // ep_epochs, **base}]
    rates = cycle_prune_rates(cfg)
    return [{"arm": cfg["method"], "remaining": round(1.0 - rates[i], 6), "cycle": i + 1, "seed": cfg["seed"],
             **_values(cycle, record)} for i, cycle in enumerate(record["cycles"])]


def collect(records: list[dict]) -> dict:
    """{(setting_key, arm, remaining): [point, ...]} of the ok records, the labels, and per setting
    its ``epochs`` E (the fewest any of its records ran) and ``first_remaining`` (1 - k_1)."""
    ok = [r for r in records if r.get("status") == "ok"]
    configs: dict[str, dict] = {}
    by_setting: dict = defaultdict(list)
    for r in ok:
        key = setting_key(r["config"])
        configs.setdefault(key, r["config"])
        by_setting[key].append(r)
    groups: dict = defaultdict(list)
    meta = {}
    for key, recs in by_setting.items():
        epochs = min(r["config"]["epochs"] for r in recs)
        eps = [r for r in recs if r["config"]["method"] == "ep" and r["config"]["epochs"] == epochs]
        first = max((round(1.0 - r["config"]["prune_rate"], 6) for r in eps), default=None)
        meta[key] = {"epochs": epochs, "first_remaining": first}
        for r in recs:
            for p in points(r, epochs, first):
                groups[(key, p["arm"], p["remaining"])].append(p)
    return {"groups": groups, "labels": setting_labels(configs), "meta": meta, "configs": configs}


def quality_signs(records: list[dict]) -> dict[str, int]:
    """{setting label: sign of its :func:`quality` column} (+1: higher is better)."""
    c = collect(records)
    return {label: quality(c["configs"][key])[2] for key, label in c["labels"].items()}


def table(records: list[dict]) -> list[dict]:
    """Mean and std over seeds per setting x remaining ratio (descending) x arm."""
    c = collect(records)
    order = sorted(c["labels"], key=c["labels"].get)  # settings by label: the same order from any store
    method_order = list(METHOD_LABELS)
    rows = []
    for (key, method, remaining), group in sorted(
            c["groups"].items(), key=lambda kv: (order.index(kv[0][0]), -kv[0][2], method_order.index(kv[0][1]))):
        epochs = c["meta"][key]["epochs"]
        cycle = group[0]["cycle"]
        col, name, sign = quality(c["configs"][key])
        row = {"setting": c["labels"][key], "method": method, "remaining": remaining, "cycle": cycle,
               "seeds": len(group), "epochs_total": epochs * (cycle or 1) if method != "ep" else epochs,
               "quality_name": name, "quality_sign": sign}
        for column in COLUMNS:
            row[column], row[column + "_std"] = mean_std(p[column] for p in group)
        row["quality"], row["quality_std"] = row[col], row[col + "_std"]
        rows.append(row)
    return rows


def _paired(c: dict, key, remaining, a: str, b: str, col: str) -> list[float]:
    by_seed = [{p["seed"]: p[col] for p in c["groups"].get((key, m, remaining), [])} for m in (a, b)]
    return [by_seed[0][s] - by_seed[1][s] for s in sorted(set(by_seed[0]) & set(by_seed[1]))
            if by_seed[0][s] is not None and by_seed[1][s] is not None
            and math.isfinite(by_seed[0][s]) and math.isfinite(by_seed[1][s])]


def comparisons(records: list[dict]) -> list[dict]:
    """Paired differences (same setting, remaining ratio and seed) of :data:`QUALITY_PAIRS` (on the
    setting's :func:`quality` column, named ``acc NAME``) and :data:`DYING_PAIRS`: per name its
    mean, ``_std``, ``_ci`` (half-width of the 95% t-interval) and ``_n`` (seeds paired)."""
    c = collect(records)
    order = sorted(c["labels"], key=c["labels"].get)
    out = []
    cells = sorted({(k, r) for (k, _, r) in c["groups"]}, key=lambda kr: (order.index(kr[0]), -kr[1]))
    for key, remaining in cells:
        col, _, _ = quality(c["configs"][key])
        row = {"setting": c["labels"][key], "remaining": remaining}
        pairs = [(f"acc {name}", a, b, col) for name, a, b in QUALITY_PAIRS] + list(DYING_PAIRS)
        for name, a, b, column in pairs:
            diffs = _paired(c, key, remaining, a, b, column)
            row[name], row[name + "_std"] = mean_std(diffs)
            _, row[name + "_ci"], row[name + "_n"] = mean_ci(diffs)
        out.append(row)
    return out


# zero-init soft variants against the hard variant they should act as (sign(0) = 0: a zeroed score
# never moves, so the edge is never selected again)
TWINS = (("soft-lr-zero", "hard-lr"), ("soft-srw-zero", "hard-srw"))


def identical_points(records: list[dict], a: str, b: str) -> tuple[int, int]:
    """(equal, compared): (setting, seed, cycle >= 2) points at which methods ``a`` and ``b`` have
    exactly the same quality (test accuracy, or 1 - R^2) and worst-case dying ratio (cycle 1 is EP for
    every method)."""
    c = collect(records)
    equal = compared = 0
    for (key, method, remaining), group in c["groups"].items():
        if method != a:
            continue
        col, _, _ = quality(c["configs"][key])
        other = {p["seed"]: p for p in c["groups"].get((key, b, remaining), [])}
        for p in group:
            q = other.get(p["seed"])
            if q is not None and p["cycle"] != 1:
                compared += 1
                equal += p[col] == q[col] and p["dying_ratio"] == q["dying_ratio"]
    return equal, compared


def _pm(row: dict, col: str, digits: int = 3) -> str:
    mean, std = row[col], row[col + "_std"]
    return "-" if mean is None or math.isnan(mean) else f"{mean:.{digits}f}±{std:.{digits}f}"


def format_table(rows: list[dict]) -> str:
    """One block per setting. ``epochs``: the epochs spent to reach that mask (iEP: i·E at cycle i);
    ``revived``: share of m*_i outside m*_{i-1} (iEP, cycles >= 2); on planted data fn, tn (dying
    edges in / not in P, over all edges), ``P dying`` (fn / |P|) and ``enrich.`` (P dying over the
    rest's dying share; 1 = blind to P)."""
    lines = []
    for label in dict.fromkeys(r["setting"] for r in rows):
        block = [r for r in rows if r["setting"] == label]
        seeds = max(r["seeds"] for r in block)
        planted = any(not math.isnan(r["false_negative_dying"]) for r in block)
        head = (f"{'1-k':>6} {'method':<26} {'epochs':>6} {block[0]['quality_name']:>12} {'d (worst)':>12} "
                f"{'d apparent':>12} "
                f"{'revived':>13}"
                + (f" {'fn':>13} {'tn':>12} {'P dying':>12} {'enrich.':>12}" if planted else ""))
        lines += ["", f"== {label} (up to {seeds} seeds) ==", head, "-" * len(head)]
        for r in block:
            line = (f"{r['remaining']:>6.3f} {METHOD_LABELS[r['method']]:<26} {r['epochs_total']:>6} "
                    f"{_pm(r, 'quality'):>12} {_pm(r, 'dying_ratio'):>12} {_pm(r, 'dying_ratio_apparent'):>12} "
                    f"{_pm(r, 'revived_ratio', 4):>13}")
            if planted:
                line += (f" {_pm(r, 'false_negative_dying', 4):>13} {_pm(r, 'true_negative_dying'):>12} "
                         f"{_pm(r, 'ticket_dying_ratio'):>12} {_pm(r, 'enrichment'):>12}")
            lines.append(line)
    return "\n".join(lines[1:])


def _format_pairs(rows: list[dict], names: list[str], title: str) -> list[str]:
    lines = [title]
    for label in dict.fromkeys(r["setting"] for r in rows):
        block = [r for r in rows if r["setting"] == label]
        shown = [n for n in names if any(r[n + "_n"] for r in block)]
        if not shown:
            continue
        lines += ["", f"== {label} ==", f"{'1-k':>6} " + " ".join(f"{n:>15}" for n in shown)]
        for r in block:
            cells = [format_ci(r[n], r[n + "_ci"], "+.4f" if n.startswith("fn") else "+.3f") for n in shown]
            lines.append(f"{r['remaining']:>6.3f} " + " ".join(f"{c:>15}" for c in cells))
    return lines


def format_comparisons(rows: list[dict]) -> str:
    """The paired differences, one block per setting: mean ± half-width of the 95% t-interval over
    seeds of a - b (a block shows only the pairs it has)."""
    quality_names = [f"acc {name}" for name, _, _ in QUALITY_PAIRS]
    dying_names = [name for name, _, _, _ in DYING_PAIRS]
    lines = _format_pairs(rows, quality_names, "paired differences of test accuracy a - b at the same seed, "
                          "mean ± half-width of the 95% t-interval over seeds; " + PAIR_LEGEND)
    lines += [""] + _format_pairs(rows, dying_names, "paired differences of the dying edges a - b at the same seed "
                                  "(d, fn: fractions of all edges; enr: enrichment), mean ± 95% half-width")
    return "\n".join(lines)


# -- figures --------------------------------------------------------------------------------
@register(STUDY)
def draw(records_dir: Path, out_dir: Path) -> list[Path]:
    """figures/iterative_accuracy, iterative_dying and iterative_false_negatives (.png, .svg)."""
    return plot(table(load_records(records_dir, STUDY)), out_dir)


def _panels(n: int, plt):
    """n panels on a grid of at most two columns (unused cells hidden)."""
    cols = min(n, 2)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 4.0 * rows + 0.8), constrained_layout=True,
                             squeeze=False)
    flat = list(axes.flat)
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


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
    kw = dict(color=colour, marker=marker, linestyle=line, markersize=5, capsize=2, label=METHOD_LABELS[method])
    kw.update(style)
    ax.errorbar(x, y, yerr=e, **kw)


def _legend(fig, axes) -> None:
    """One legend for all panels, below them."""
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 3), fontsize=8)


def _remaining_axis(ax, rows):
    ax.set_xscale("log")
    xs = sorted({r["remaining"] for r in rows})
    ax.set_xticks(xs)
    ax.set_xticklabels([f"{x:.3g}" for x in xs], rotation=45)
    ax.minorticks_off()
    ax.invert_xaxis()
    ax.set_xlabel("remaining ratio $1-k$ (fraction of edges kept, log scale)")


def plot(rows: list[dict], out_dir: Path) -> list[Path]:
    """Draw the rows of :func:`table` into ``out_dir``/iterative_*.{png,svg}."""
    import matplotlib.pyplot as plt

    if not rows:
        return []
    labels = list(dict.fromkeys(r["setting"] for r in rows))
    written = []
    # Fig. 3b: accuracy of every method against the remaining ratio
    fig, axes = _panels(len(labels), plt)
    for ax, label in zip(axes, labels):
        block = [r for r in rows if r["setting"] == label]
        for j, method in enumerate(METHOD_LABELS):
            _curve(ax, block, method, "quality", dodge=2.0 * (j - (len(METHOD_LABELS) - 1) / 2))
        _remaining_axis(ax, block)
        regression = block[0]["quality_sign"] < 0
        ax.set(ylabel="$1 - R^2$ against the teacher, test split (0 at $P$)" if regression
               else "test accuracy (fraction)", title=label)
        ax.grid(alpha=0.3)
    _legend(fig, axes)
    fig.suptitle("Quality of each cycle's final mask (iEP) or of EP run at that $k$ (E epochs, and the "
                 "$i \\cdot E$ epochs iEP has spent)\n(mean ± std over seeds; points dodged sideways so that "
                 "equal values stay visible)", fontsize=10)
    written += save_figure(fig, Path(out_dir) / f"{STUDY}_accuracy.png", formats=("png", "svg"))
    # Fig. 5a: dying ratio of EP, hard iEP (worst case and apparent) and soft iEP
    fig, axes = _panels(len(labels), plt)
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
        ax.plot(xs, [1 - x for x in xs], ":", color="grey", lw=1, label="$d = k$ (no edge ever swapped in)")
        _remaining_axis(ax, block)
        ax.set(ylabel="dying ratio $d$ (fraction of all edges)", title=label, ylim=(-0.02, 1.0))
        ax.grid(alpha=0.3)
    _legend(fig, axes)
    fig.suptitle("Dying ratio of each cycle (Eq. 2, history reset at each cycle start); mean ± std over seeds",
                 fontsize=10)
    written += save_figure(fig, Path(out_dir) / f"{STUDY}_dying.png", formats=("png", "svg"))
    # new: the share of the planted ticket P that is dying (false negatives), planted settings only
    planted = [lb for lb in labels if any(r["setting"] == lb and not math.isnan(r["ticket_dying_ratio"])
                                          for r in rows)]
    if planted:
        fig, axes = _panels(len(planted), plt)
        for ax, label in zip(axes, planted):
            block = [r for r in rows if r["setting"] == label]
            for j, method in enumerate(("ep", "ep-budget", "hard-lr", "soft-lr", "soft-lr-zero")):
                _curve(ax, block, method, "ticket_dying_ratio", dodge=2.0 * (j - 2))
            xs = sorted({r["remaining"] for r in block})
            ax.plot(xs, [1 - x for x in xs], ":", color="grey", lw=1, label="$k$ (as many as a random mask)")
            _remaining_axis(ax, block)
            ax.set(ylabel="false-negative dying edges / $|P|$ (fraction)", title=label, ylim=(-0.02, 1.02))
            ax.grid(alpha=0.3)
        _legend(fig, axes)
        fig.suptitle("Share of the planted ticket $P$ never selected during the cycle\n(hard iEP: edges "
                     "removed earlier count); mean ± std over seeds", fontsize=10)
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
        lines.append(f"{METHOD_LABELS[a]} vs {METHOD_LABELS[b]}: quality and d (worst) exactly equal at "
                     f"{equal} of {compared} (setting, seed, cycle >= 2) points")
    final = final_planted(records)
    lines += ["", claims(rows, pairs, quality_signs(records))] + (["", format_final_planted(final)] if final else [])
    return report(args, "\n".join(lines), plot(rows, Path(args.figures)), {"rows": rows, "comparisons": pairs,
                                                                          "final_planted": final})


if __name__ == "__main__":
    import sys

    sys.exit(run_study(main, sys.argv[1:], parser=study_parser(STUDY, __doc__)))
