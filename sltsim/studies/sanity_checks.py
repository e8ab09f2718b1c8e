"""Study ``sanity_checks``: does the structure EP finds matter when no weight is trained?

Su et al., "Sanity-Checking Pruning Methods: Random Tickets can Win the Jackpot" (NeurIPS
2020) checks whether pruning relies on the data and on where in a layer it keeps
edges. Adapted to strong tickets, where the mask on the random weights theta0 *is* the
network, at each prune rate k of the preset and for each ``[study.settings.NAME]``:

- ``ep``: edge-popup's mask;
- ``rearranged-ep``: EP's mask shuffled within each layer (their "layerwise rearrange"):
  the same per-layer counts, random positions;
- ``random-uniform``: a uniformly random mask at EP's own layer ratios (EP keeps 1 - k of
  every layer, so this is the rearranged mask without any search);
- ``random-smart``: a uniformly random mask at the smart ratios of Su et al.;
- ``ep-random-labels``: EP searched on permuted training labels
  (``RunConfig.random_labels``), evaluated on the true test labels.

Unlike Su et al., nothing is trained after the mask is chosen: a random ticket here is a
random subnetwork of random weights, not a sparse network trained from scratch, so
there is no reason for it to beat chance; the question is only whether EP's positions
carry what it learned. The table gives test accuracy (and on planted data the recall of
the planted ticket P, whose chance level is 1 - k) mean ± std over seeds; the paired
table gives EP minus each check at the same seed.

Run ``python -m sltsim.studies.sanity_checks [--quick | --preset paper]``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

from sltsim import figstyle
from sltsim.config import RunConfig
from sltsim.figures import save_figure
from sltsim.studies.aggregate import format_ci, mean_ci, mean_std, mean_std_row, pm
from sltsim.studies.columns import derived, quality
from sltsim.studies.iterative_tables import setting_key, setting_labels
from sltsim.studies.study import Study

NAME = "sanity_checks"
STUDY_KEYS = {"prune_rates": list[float], "seeds": int, "checks": list[str], "settings": dict}
CHECK_LABELS = {
    "ep": "EP",
    "rearranged-ep": "EP, layerwise rearranged",
    "random-uniform": "random ticket, EP's layer ratios",
    "random-smart": "random ticket, smart ratios",
    "ep-random-labels": "EP on random labels",
    "ep-from-ticket": "control: EP started from P",
    "dense": "control: dense training",
}
#: controls that exist only on planted settings (planted_controls' ticket_start and dense): the positive
#: control (P has loss 0, so EP started there stays) and learnability (dense weight training, same teacher)
PLANTED_CONTROLS = {"ep-from-ticket": "ticket_start", "dense": "dense"}
CHECK_STYLE = {"ep": (figstyle.OKABE_ITO["bluish_green"], "o", "-"),
               "rearranged-ep": (figstyle.OKABE_ITO["reddish_purple"], "s", "--"),
               "random-uniform": (figstyle.OKABE_ITO["black"], "^", ":"),
               "random-smart": (figstyle.OKABE_ITO["orange"], "D", ":"),
               "ep-random-labels": (figstyle.OKABE_ITO["vermillion"], "v", "-."),
               "ep-from-ticket": (figstyle.OKABE_ITO["blue"], "*", ":"),
               "dense": (figstyle.OKABE_ITO["sky_blue"], "x", ":")}
#: the checks EP is compared with seed by seed (not the controls)
PAIRED_CHECKS = ("rearranged-ep", "random-uniform", "random-smart", "ep-random-labels")
COLUMNS = ("quality", "train_quality", "test_acc", "train_acc", "recall", "recall_above_chance", "enrichment", "dying_ratio",
           "rearranged_overlap", "ep_test_acc")


def check_of(config: dict) -> str:
    """The check a record belongs to (its method, ``ep-random-labels`` or ``ep-from-ticket``)."""
    if config.get("random_labels"):
        return "ep-random-labels"
    return "ep-from-ticket" if config.get("start_overlap") is not None else config["method"]


def searched_prune_rate(config: dict) -> float:
    """The k a record belongs to: its prune rate, or for dense training the k its ticket was sized at."""
    if config["method"] == "dense":
        return round(1.0 - config["ticket_remaining"], 6)
    return round(config["prune_rate"], 6)


def _setting_config(config: dict) -> dict:
    """The config without ``random_labels`` (a check, not a setting)."""
    return {k: v for k, v in config.items() if k != "random_labels"}


def settings(study: dict, config_values: dict, source: str = "preset") -> dict[str, dict]:
    """Each ``[study.settings.NAME]`` merged over ``[config]`` (checked as a RunConfig)."""
    tables = study.get("settings") or {"default": {}}
    out = {}
    for name, overrides in tables.items():
        if not isinstance(overrides, dict):
            raise ValueError(f"{source}: settings.{name} must be a table of RunConfig fields, got {overrides!r}")
        values = {**config_values, **overrides}
        RunConfig.from_dict(values, source=f"[study.settings.{name}] of {source}")
        out[name] = values
    return out


def grid(study: dict, bases: dict[str, dict]) -> list[RunConfig]:
    """Setting x prune rate x check x seed; the planted-only controls on planted settings only."""
    checks = study.get("checks", ["ep", *PAIRED_CHECKS])
    bad = [c for c in checks if c not in CHECK_LABELS]
    if bad:
        raise ValueError(f"checks must be among {', '.join(CHECK_LABELS)}; got {bad[0]!r}")
    configs = []
    for values in bases.values():
        for k in study["prune_rates"]:
            for check in checks:
                if check in PLANTED_CONTROLS and values.get("data") != "planted":
                    continue
                method, labels = ("ep", True) if check == "ep-random-labels" else (check, False)
                for seed in range(study["seeds"]):
                    if check in PLANTED_CONTROLS:
                        from sltsim.studies.planted_controls import control_configs

                        ep = RunConfig.from_dict({**values, "method": "ep", "prune_rate": float(k), "seed": seed})
                        configs += control_configs(ep, [PLANTED_CONTROLS[check]])
                        continue
                    configs.append(RunConfig.from_dict({**values, "method": method, "random_labels": labels,
                                                        "prune_rate": float(k), "seed": seed}))
    return configs


def table(records: list[dict]) -> list[dict]:
    """Mean ± std over seeds per setting x prune rate x check."""
    groups: dict = defaultdict(list)
    configs: dict = {}
    for r in records:
        if r.get("status") != "ok":
            continue
        cfg = _setting_config(r["config"])
        key = setting_key(cfg)
        configs.setdefault(key, cfg)
        groups[(key, searched_prune_rate(cfg), check_of(r["config"]))].append(derived(r))
    labels = setting_labels(configs)
    order, checks = sorted(labels, key=labels.get), list(CHECK_LABELS)
    rows = []
    for (key, k, check), group in sorted(groups.items(), key=lambda kv: (order.index(kv[0][0]), kv[0][1],
                                                                         checks.index(kv[0][2]))):
        _, name, sign = quality(group[0]["config"])
        row = {"setting": labels[key], "prune_rate": k, "check": check, "seeds": len(group),
               "seed_list": sorted(r["config"]["seed"] for r in group), "quality_name": name, "quality_sign": sign}
        row.update(mean_std_row(group, COLUMNS))
        rows.append(row)
    return rows


def paired(rows_records: list[dict]) -> list[dict]:
    """EP's quality minus each check's, at the same setting, prune rate and seed, signed so that a
    positive difference is EP doing better (accuracy: EP - check; 1 - R^2: check - EP)."""
    acc: dict = defaultdict(dict)
    configs: dict = {}
    for r in rows_records:
        if r.get("status") != "ok":
            continue
        cfg = _setting_config(r["config"])
        key = setting_key(cfg)
        configs.setdefault(key, cfg)
        column, _, sign = quality(cfg)
        value = r.get(column)
        acc[(key, searched_prune_rate(cfg), check_of(r["config"]))][cfg["seed"]] = (
            math.nan if value is None else sign * value)
    labels = setting_labels(configs)
    out = []
    order = sorted(labels, key=labels.get)
    for key, k in sorted({(a, b) for a, b, _ in acc}, key=lambda kb: (order.index(kb[0]), kb[1])):
        ep = acc.get((key, k, "ep"), {})
        row = {"setting": labels[key], "prune_rate": k}
        for check in PAIRED_CHECKS:
            other = acc.get((key, k, check), {})
            diffs = [ep[s] - other[s] for s in sorted(set(ep) & set(other))]
            row[check], row[check + "_std"] = mean_std(diffs)
            _, row[check + "_ci"], row[check + "_n"] = mean_ci(diffs)
        out.append(row)
    return out


def format_table(rows: list[dict]) -> str:
    lines = []
    for label in dict.fromkeys(r["setting"] for r in rows):
        block = [r for r in rows if r["setting"] == label]
        planted = any(not math.isnan(r["recall"]) for r in block)
        name = block[0]["quality_name"]
        train = "train_acc" if name == "test_acc" else name.replace("test", "train")
        head = (f"{'k':>6} {'check':<33} {'seeds':>5} {name:>12} {train:>12}"
                + (f" {'recall of P':>12} {'chance 1-k':>10} {'rac':>13} {'enrichment':>12}" if planted else ""))
        lines += ["", f"== {label} ==", head, "-" * len(head)]
        for r in block:
            line = (f"{r['prune_rate']:>6.3f} {CHECK_LABELS[r['check']]:<33} {r['seeds']:>5} "
                    f"{pm(r, 'quality'):>12} {pm(r, 'train_quality'):>12}")
            if planted:
                line += (f" {pm(r, 'recall'):>12} {1 - r['prune_rate']:>10.3f} {pm(r, 'recall_above_chance'):>13} "
                         f"{pm(r, 'enrichment'):>12}")
            lines.append(line)
    lines += ["", "the train column of EP on random labels is on the permuted labels it searched on; every test "
              "column is on the true test labels (1-R2: against the teacher, 0 at P); rac = recall above chance, "
              "(recall - c) / (1 - c), c = a random mask's recall at the same per-layer counts (1 - k at one k per "
              "layer; random-smart: its own ratios) (0 for a mask blind to P, 1 for P); enrichment = P's dying share "
              "over the rest's (1 for a mask blind to P)"]
    return "\n".join(lines[1:])


def format_paired(rows: list[dict]) -> str:
    checks = PAIRED_CHECKS
    lines = ["EP's quality minus each check's at the same seed, positive = EP better (accuracy: EP - check; "
             "1-R2: check - EP); mean ± half-width of the 95% t-interval over seeds"]
    for label in dict.fromkeys(r["setting"] for r in rows):
        lines += ["", f"== {label} ==", f"{'k':>6} " + " ".join(f"{'EP - ' + c:>24}" for c in checks)]
        for r in (r for r in rows if r["setting"] == label):
            lines.append(f"{r['prune_rate']:>6.3f} " + " ".join(f"{format_ci(r[c], r[c + '_ci']):>24}" for c in checks))
    return "\n".join(lines)


def plot(rows: list[dict], out_dir: Path) -> list[Path]:
    if not rows:
        return []
    labels = list(dict.fromkeys(r["setting"] for r in rows))
    fig, axes = figstyle.subplots(1, len(labels), width=figstyle.DOUBLE_COLUMN, height=3.2, squeeze=False)
    for ax, label in zip(axes[0], labels):
        block = [r for r in rows if r["setting"] == label]
        for j, check in enumerate(CHECK_LABELS):
            pts = sorted((r["prune_rate"], r["quality"], r["quality_std"]) for r in block if r["check"] == check)
            if not pts:
                continue
            x, y, e = zip(*pts)
            colour, marker, line = CHECK_STYLE[check]
            ax.errorbar([xi + 0.004 * (j - 2) for xi in x], y, yerr=e, color=colour, marker=marker, linestyle=line,
                        label=CHECK_LABELS[check])
        if block[0]["quality_sign"] > 0:
            figstyle.reference_line(ax, y=0.1, linestyle=":", label="chance (10 balanced classes)")
            ax.set(ylabel="test accuracy (fraction)", ylim=(0, 1))
        else:
            figstyle.reference_line(ax, y=1.0, linestyle=":", label="$1 - R^2 = 1$ (predicting the mean)")
            ax.set(ylabel="$1 - R^2$ vs the teacher, test (0 at $P$)", ylim=(-0.05, None))
        ax.set(xlabel="prune rate $k$ (fraction masked)", title=label)
        ax.grid(alpha=0.3)
    legend = {}  # every panel's entries once: the planted controls and reference lines are not in the first
    for ax in axes[0]:
        for handle, name in zip(*ax.get_legend_handles_labels()):
            legend.setdefault(name, handle)
    fig.legend(list(legend.values()), list(legend), loc="outside lower center", ncol=3)
    fig.suptitle("Sanity checks on strong tickets (no weight trained): EP's mask against rearranged and random\n"
                 "masks and EP on random labels; mean ± std over seeds")
    figstyle.finish(fig)
    return save_figure(fig, Path(out_dir) / f"{NAME}.png", formats=("png", "svg"))


def _grid(preset: dict) -> list[RunConfig]:
    return grid(preset["study"], settings(preset["study"], preset["config"], source=str(preset["path"])))


def _table(records: list[dict]) -> dict:
    return {"rows": table(records), "paired": paired(records)}


def _format(result: dict, records: list[dict], preset: dict) -> str:
    return format_table(result["rows"]) + "\n\n" + format_paired(result["paired"])


def figures(records: list[dict], out_dir: Path) -> list[Path]:
    """figures/sanity_checks.{png,svg}: test accuracy against k for every check, one panel per setting."""
    return plot(table(records), out_dir)


STUDY = Study(name=NAME, keys=STUDY_KEYS, grid=_grid, table=_table, format=_format, figures=figures,
              doc=__doc__)
main = STUDY.main

if __name__ == "__main__":
    import sys

    sys.exit(STUDY.cli(sys.argv[1:]))
