"""The paper's claims, read off the ``iterative`` study's tables, each beside its control.

Every line :func:`claims` prints is computed from :func:`sltsim.studies.iterative.table`
(means over seeds) and :func:`~sltsim.studies.iterative.comparisons` (paired differences
with 95% t-intervals over seeds), so a study page can quote it as it stands:

- **C1** (Table 1): EP's dying ratio d_T rises with k, and k - d_T stays roughly flat.
  Read for both EP arms: E epochs per run (the paper's protocol) and i·E epochs.
- **C3** (Fig. 3b): soft iEP > hard iEP > EP at low remaining ratios. Read against EP with
  E epochs per run *and* against EP with the same total epochs as iEP (``EP=``): an
  iterative method at cycle i has trained i·E epochs, so a gain over E-epoch EP may be
  only the longer training. A comparison is called when its interval excludes 0.
- **C5** (Fig. 5a): soft iEP's dying ratio is near zero in early cycles. Read as d / k at
  cycles 2 and 3 (1: no edge outside the starting mask was ever tried, 0: every edge was),
  beside EP's at the same k.
- **C6** (Sec. 5, conjecture): soft iEP lowers the false-negative dying edges. On planted
  settings, soft iEP minus EP / EP= / hard iEP (LR) in fn (a fraction of all edges) and in
  enrichment (P's dying share over the rest's; 1 = blind to P), at every cycle after the
  first. fn alone moves with d, so enrichment is the statistic that can single P out.
"""

from __future__ import annotations

import math

from sltsim.studies.columns import control_role
from sltsim.studies.aggregate import excludes_zero, format_ci, mean_ci
from sltsim.studies.iterative_tables import METHOD_LABELS, collect, cycle_prune_rates, points, setting_key

#: the EP arm each comparison family is read against, with its column suffix in comparisons()
BASELINES = (("EP (E epochs)", ""), ("EP (same total epochs)", "="))


def _better(row: dict, name: str, sign: int) -> str:
    """``yes`` when the interval of ``name`` excludes 0 on the better side, ``no`` on the worse
    side, ``tie`` when it contains 0, ``-`` when the pair was not run."""
    mean, half = row.get(name, math.nan), row.get(name + "_ci", math.nan)
    if not row.get(name + "_n"):
        return "-"
    if not excludes_zero(mean, half):
        return "tie"
    return "yes" if sign * mean > 0 else "no"


def c1(rows: list[dict]) -> list[str]:
    """Per setting and EP arm: d_T at the smallest and largest k, whether it rises at every step,
    and the range of k - d_T."""
    out = []
    for label in dict.fromkeys(r["setting"] for r in rows):
        for arm, name in (("ep", "EP (E epochs)"), ("ep-budget", "EP (same total epochs)")):
            pts = sorted((1 - r["remaining"], r["dying_ratio"]) for r in rows
                         if r["setting"] == label and r["method"] == arm and math.isfinite(r["dying_ratio"]))
            if len(pts) < 2:
                continue
            rises = all(b[1] > a[1] for a, b in zip(pts, pts[1:]))
            gaps = [k - d for k, d in pts]
            out.append(f"C1 {label}, {name}: d_T {pts[0][1]:.3f} at k = {pts[0][0]:.3f} -> {pts[-1][1]:.3f} at "
                       f"k = {pts[-1][0]:.3f}, {'rising at every step' if rises else 'NOT rising at every step'}; "
                       f"k - d_T between {min(gaps):.3f} and {max(gaps):.3f}")
    return out


def c3(pairs: list[dict], signs: dict[str, int]) -> list[str]:
    """Per setting, at the lowest remaining ratio: soft - hard, hard - EP, soft - EP for both EP arms,
    with the verdict on soft > hard > EP; and over all cycles >= 2 how often each holds."""
    out = []
    for label in dict.fromkeys(p["setting"] for p in pairs):
        block = [p for p in pairs if p["setting"] == label]
        sign = signs.get(label, 1)
        later = block[1:]  # cycle 1 is EP for every method
        if not later:
            continue
        last = later[-1]
        for words, suffix in BASELINES:
            hard_ep, soft_ep = f"q H-EP{suffix}", f"q S-EP{suffix}"
            if not last.get(hard_ep + "_n"):
                out.append(f"C3 {label} vs {words}: not run")
                continue
            soft_hard = _better(last, "q S-H", sign)
            hard_over = _better(last, hard_ep, sign)
            holds = "holds" if soft_hard == "yes" and hard_over == "yes" else "does not hold"
            count = sum(_better(p, "q S-H", sign) == "yes" and _better(p, hard_ep, sign) == "yes" for p in later)
            out.append(f"C3 {label} vs {words}, at 1-k = {last['remaining']:.3f}: soft - hard "
                       f"{format_ci(last['q S-H'], last['q S-H_ci'])} ({soft_hard}), hard - EP "
                       f"{format_ci(last[hard_ep], last[hard_ep + '_ci'])} ({hard_over}), soft - EP "
                       f"{format_ci(last[soft_ep], last[soft_ep + '_ci'])} ({_better(last, soft_ep, sign)}): "
                       f"soft > hard > EP {holds}; it holds at {count} of {len(later)} ratios after cycle 1")
    return out


def c5(rows: list[dict]) -> list[str]:
    """Per setting: d / k of soft iEP (LR), EP and EP= at cycles 2 and 3."""
    out = []
    for label in dict.fromkeys(r["setting"] for r in rows):
        block = [r for r in rows if r["setting"] == label]
        soft = sorted((r for r in block if r["method"] == "soft-lr" and (r["cycle"] or 0) in (2, 3)),
                      key=lambda r: r["cycle"])
        if not soft:
            continue
        parts = []
        for r in soft:
            k = 1 - r["remaining"]
            ratio = {m: next((q["dying_ratio"] / k for q in block if q["method"] == m
                              and q["remaining"] == r["remaining"]), math.nan) for m in ("soft-lr", "ep", "ep-budget")}
            parts.append(f"cycle {r['cycle']} (k = {k:.3f}): soft {ratio['soft-lr']:.3f}, EP {ratio['ep']:.3f}, "
                         f"EP= {ratio['ep-budget']:.3f}")
        out.append(f"C5 {label}: d / k (0 = every edge tried, 1 = none outside the first mask) " + "; ".join(parts))
    return out


def c6(pairs: list[dict]) -> list[str]:
    """Per planted setting: at how many cycles >= 2 soft iEP has fewer false-negative dying edges and a
    lower enrichment than each baseline (interval below 0), with the values at the last cycle."""
    out = []
    for label in dict.fromkeys(p["setting"] for p in pairs):
        later = [p for p in pairs if p["setting"] == label][1:]
        if not later or not any(p.get("fn S-EP_n") for p in later):
            continue
        last = later[-1]
        parts = []
        for name, words in (("EP", "EP"), ("EP=", "EP (same total epochs)"), ("H", "hard iEP (LR)")):
            fn, enr = f"fn S-{name}", f"enr S-{name}"
            if not last.get(fn + "_n"):
                continue
            lower_fn = sum(excludes_zero(p[fn], p[fn + "_ci"]) and p[fn] < 0 for p in later)
            lower_enr = sum(excludes_zero(p[enr], p[enr + "_ci"]) and p[enr] < 0 for p in later)
            parts.append(f"vs {words}: fn {format_ci(last[fn], last[fn + '_ci'], '+.4f')}, enrichment "
                         f"{format_ci(last[enr], last[enr + '_ci'])} at 1-k = {last['remaining']:.3f}; fn lower at "
                         f"{lower_fn}, enrichment lower at {lower_enr} of {len(later)} ratios")
        out.append(f"C6 {label}: soft iEP minus " + "; ".join(parts))
    return out


def claims(rows: list[dict], pairs: list[dict], signs: dict[str, int]) -> str:
    """The C1, C3, C5 and C6 lines of the module docstring. ``signs``: per setting label, +1 when a
    higher quality column is better (test accuracy), -1 when lower is (1 - R^2)."""
    return "\n".join(c1(rows) + c3(pairs, signs) + c5(rows) + c6(pairs))


# -- the final masks on planted settings ---------------------------------------------------------
#: record-level planted statistics of a final mask, with the value a mask blind to P gives
# (the aligned statistics have no analytic null: matching units by activations favours the mask's own
# units, so their null is the random-mask control's row)
FINAL_COLUMNS = (("train_unexplained", "1-R2 train", "-"), ("test_unexplained", "1-R2 test", "-"),
                 ("recall_above_chance", "rac", "0"), ("aligned_recall_above_chance", "rac aligned", "ctrl"),
                 ("enrichment", "enrichment", "1"), ("aligned_enrichment", "enr aligned", "ctrl"))


#: the control cells of a planted setting (iterative.grid's ``controls``), as the table names them
CONTROL_LABELS = {"ticket_start": "control: EP started from P", "random_mask": "control: random mask",
                  "dense": "control: dense training"}


def final_planted(records: list[dict]) -> list[dict]:
    """Per planted setting, the final masks' statistics (mean, 95% half-width, n over seeds) of each
    arm: EP and EP= at the last cycle's k, each iterative method's last cycle; then its controls
    (:func:`control_role`). Every row says whether each ticket was feasible, the largest train loss
    of P itself, and whether every record of a seed saw the same teacher (``teacher_digest``)."""
    c = collect(records)
    out = []
    for key in sorted(c["labels"], key=c["labels"].get):
        recs = [r for r in records if r.get("status") == "ok" and _setting(r) == key]
        if not recs or recs[0]["config"]["data"] != "planted":
            continue
        searches = [r for r in recs if control_role(r) is None]
        iterative = [r for r in searches if r["config"]["method"] != "ep"]
        final = min(round(1 - cycle_prune_rates(r["config"])[-1], 6) for r in iterative) if iterative else None
        meta = c["meta"][key]
        by_arm: dict = {}
        for r in searches:
            arms = ([p["arm"] for p in points(r, meta["epochs"], meta["first_remaining"])
                     if p["remaining"] == final] if r["config"]["method"] == "ep" else [r["config"]["method"]])
            for arm in arms:
                by_arm.setdefault(arm, []).append(r)
        for r in recs:
            role = control_role(r)
            if role is not None:
                by_arm.setdefault(role, []).append(r)
        digests: dict = {}
        for group in by_arm.values():
            for r in group:
                digests.setdefault(r["config"]["seed"], set()).add(r.get("teacher_digest"))
        same_teacher = all(len(d) == 1 for d in digests.values())
        order = [m for m in METHOD_LABELS if m in by_arm] + [m for m in by_arm if m not in METHOD_LABELS]
        for arm in order:
            group = by_arm[arm]
            row = {"setting": c["labels"][key], "method": arm, "remaining": final, "seeds": len(group),
                   "ticket_feasible": all(r.get("ticket_feasible") for r in group),
                   "ticket_train_loss": max((r.get("ticket_train_loss") or 0.0) for r in group),
                   "same_teacher": same_teacher}
            for col, _, _ in FINAL_COLUMNS:
                row[col], row[col + "_ci"], row[col + "_n"] = mean_ci(r.get(col) for r in group)
            out.append(row)
    return out


def _setting(record: dict) -> str:
    return setting_key(record["config"])


def format_final_planted(rows: list[dict]) -> str:
    """One block per planted setting: the final masks' 1 - R^2, recall above chance and enrichment
    (raw P and its aligned image), mean ± 95% half-width over seeds, beside a blind mask's values."""
    if not rows:
        return ""
    lines = ["final masks on planted settings: 1-R2 against the teacher (0 at P), recall of P above chance "
             "(rac, (recall - c) / (1 - c), c = a random mask's recall at the same per-layer counts) and enrichment, "
             "on raw P and on its aligned image (units matched by activations); mean ± 95% half-width over seeds; a "
             "mask blind to P gives rac 0 and enrichment 1 (raw), the random-mask control row (aligned)"]
    for label in dict.fromkeys(r["setting"] for r in rows):
        block = [r for r in rows if r["setting"] == label]
        searches = [r for r in block if r["method"] in METHOD_LABELS]
        feasible = all(r["ticket_feasible"] for r in searches)
        lines += ["", f"== {label} at 1-k = {block[0]['remaining']:.4f}: ticket "
                      f"{'feasible' if feasible else 'NOT feasible'} in every search, P's train loss at most "
                      f"{max(r['ticket_train_loss'] for r in searches):.2e}, "
                      f"{'one teacher per seed' if block[0]['same_teacher'] else 'TEACHERS DIFFER within a seed'} ==",
                  f"{'method':<28} " + " ".join(f"{name:>15}" for _, name, _ in FINAL_COLUMNS)]
        lines.append(f"{'(a mask blind to P)':<28} " + " ".join(f"{null:>15}" for _, _, null in FINAL_COLUMNS))
        for r in block:
            name = METHOD_LABELS.get(r["method"]) or CONTROL_LABELS.get(r["method"]) or f"control: {r['method']}"
            lines.append(f"{name:<28} "
                         + " ".join(f"{format_ci(r[c], r[c + '_ci']):>15}" for c, _, _ in FINAL_COLUMNS))
    return "\n".join(lines)
