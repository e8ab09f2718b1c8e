"""The ``iterative`` study's tables: its records as points per (setting, arm, remaining ratio).

An *arm* is what a table row compares: each iterative method of Table 3, EP with E epochs
per run (``ep``, the paper's protocol) and EP with the epochs an iterative method has spent
when it reaches k_i (``ep-budget``, i·E at cycle i). An iterative record gives one point per
cycle (m*_i's quality and the cycle's dying edges); an EP record one point, its arm told
apart by its epochs. :func:`table` gives mean ± std over seeds per setting x remaining ratio
x arm; :func:`comparisons` the paired (same seed) differences the claims are about, with
95% t-intervals.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from types import SimpleNamespace

from sltsim.config import RunConfig
from sltsim.search import cycle_rates
from sltsim.studies.aggregate import format_ci, mean_ci, mean_std, mean_std_row, pm
from sltsim.studies.columns import enrichment, quality

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

# fields that vary inside a setting; every other config field defines the setting (epochs varies
# between the two EP arms, the ticket's size fields between EP runs at different k: see same_target;
# so two settings may not differ in these alone)
PER_CELL_FIELDS = ("method", "seed", "prune_rate", "cycles", "shrinkage", "epochs", "ticket_remaining",
                   "sub_budget_ticket", "start_overlap")
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


_DEFAULTS = {f.name: f.default for f in RunConfig.__dataclass_fields__.values()}


def cycle_prune_rates(config) -> tuple[float, ...]:
    """k_i of every cycle of an iterative config (a RunConfig or its stored dict):
    :func:`sltsim.search.cycle_rates.from_config`, with its checks (a stored field left out
    takes its default)."""
    if isinstance(config, dict):
        config = SimpleNamespace(**{name: config.get(name, _DEFAULTS[name])
                                    for name in ("method", "prune_rate", "cycles", "shrinkage")})
    return cycle_rates.from_config(config).prune_rates


def setting_fields(config: dict) -> dict:
    """What defines a setting: the RunConfig fields of a stored config, except the per-cell and the
    operational ones, that differ from their defaults. A record stored before a field existed, or
    with a since-renamed operational field, so lands in the same setting as a new one."""
    from dataclasses import fields

    from sltsim.config import EXECUTION_FIELDS

    defaults = {f.name: list(f.default) if isinstance(f.default, tuple) else f.default for f in fields(RunConfig)}
    return {k: v for k, v in config.items()
            if k in defaults and k not in PER_CELL_FIELDS and k not in EXECUTION_FIELDS and v != defaults[k]}


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


def is_control(record: dict) -> bool:
    """A control cell of a planted setting (a method outside Table 3, or a search started from a
    mask placed on P), not a point of any arm."""
    config = record["config"]
    return config["method"] not in METHOD_LABELS or config.get("start_overlap") is not None


def collect(records: list[dict]) -> dict:
    """{(setting_key, arm, remaining): [point, ...]} of the ok records, the labels, and per setting
    its ``epochs`` E (the fewest any of its records ran) and ``first_remaining`` (1 - k_1 of its
    iterative schedule; without iterative records, that of its E-epoch EP run of least k)."""
    ok = [r for r in records if r.get("status") == "ok" and not is_control(r)]
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
        schedules = [r for r in recs if r["config"]["method"] != "ep"]
        if schedules:  # 1 - k_1 of the setting's schedule, also when EP skipped cycle 1 (ep_cycles)
            first = round(1.0 - cycle_prune_rates(schedules[0]["config"])[0], 6)
        else:
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
        row.update(mean_std_row(group, COLUMNS))
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
        pairs = [(f"q {name}", a, b, col) for name, a, b in QUALITY_PAIRS] + list(DYING_PAIRS)
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
                    f"{pm(r, 'quality'):>12} {pm(r, 'dying_ratio'):>12} {pm(r, 'dying_ratio_apparent'):>12} "
                    f"{pm(r, 'revived_ratio', '.4f'):>13}")
            if planted:
                line += (f" {pm(r, 'false_negative_dying', '.4f'):>13} {pm(r, 'true_negative_dying'):>12} "
                         f"{pm(r, 'ticket_dying_ratio'):>12} {pm(r, 'enrichment'):>12}")
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
    quality_names = [f"q {name}" for name, _, _ in QUALITY_PAIRS]
    dying_names = [name for name, _, _, _ in DYING_PAIRS]
    lines = _format_pairs(rows, quality_names, "paired differences q a - b of the quality (test_acc: higher is "
                          "better; 1-R2 test: lower is better) at the same seed, "
                          "mean ± half-width of the 95% t-interval over seeds; " + PAIR_LEGEND)
    lines += [""] + _format_pairs(rows, dying_names, "paired differences of the dying edges a - b at the same seed "
                                  "(d, fn: fractions of all edges; enr: enrichment), mean ± 95% half-width")
    return "\n".join(lines)
