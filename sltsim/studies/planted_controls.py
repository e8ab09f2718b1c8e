"""The controls every planted table shows beside a search (DESIGN.md "Planted targets").

For a searched planted config (EP or an iterative method at final prune rate k, one seed)
:func:`control_configs` gives the cells that put its statistics beside their nulls, all on
the same teacher and data (same seed; records carry ``teacher_digest`` to check it):

- ``ticket_start``: the same search started from P (``start_overlap = 1``), the positive
  control: P has loss 0, so the search must stay at P. It proves the plumbing, no more.
- ``basin``: the same search started from a first mask holding a fraction q of P, the rest
  random (``start_overlap = q`` for each q of the study's ``basin_overlaps``): the basin
  of attraction. The smallest q from which a method returns to P measures how local it is.
- ``random_mask``: a uniformly random mask at the same budget (``random-uniform``), the
  negative control: enrichment 1, recall at chance, fn / d = |P| / n.
- ``dense``: dense weight training of the student (``dense`` at prune rate 0) on the same
  teacher (P planted at k as a marked sub-budget ticket of the dense net): learnability.
  Its held-out 1 - R^2 must be small for a failure of the search to be a search failure.

P itself needs no cell: every record carries ``ticket_train_loss`` and
``ticket_train_unexplained``, P's own loss (0 for a feasible ticket).
"""

from __future__ import annotations

from collections import defaultdict

CONTROLS = ("ticket_start", "basin", "random_mask", "dense")
SEARCH = "search"


def check_controls(names) -> tuple:
    """The control names, refused in one line when one is unknown."""
    for name in names:
        if name not in CONTROLS:
            raise ValueError(f"control must be one of {', '.join(CONTROLS)}; got {name!r}")
    return tuple(names)


def control_configs(config, controls, overlaps=()) -> list:
    """The control cells of one searched config (module docstring), in CONTROLS order."""
    controls = check_controls(controls)
    k = config.final_prune_rate
    one_cycle = dict(cycles=1, shrinkage=None)
    out = []
    if "ticket_start" in controls:
        out.append(config.replace(start_overlap=1.0))
    if "basin" in controls:
        out += [config.replace(start_overlap=float(q)) for q in overlaps]
    if "random_mask" in controls:
        out.append(config.replace(method="random-uniform", prune_rate=k, **one_cycle))
    if "dense" in controls:
        out.append(config.replace(method="dense", prune_rate=0.0, ticket_remaining=1.0 - k, sub_budget_ticket=True,
                                  **one_cycle))
    return out


def role(record: dict) -> tuple[str, float | None]:
    """(what the cell is, its start overlap): ``search``, ``ticket_start``, ``basin``, ``random_mask``, ``dense``."""
    c = record["config"]
    if c["method"] == "random-uniform":
        return "random_mask", None
    if c["method"] == "dense":
        return "dense", None
    q = c.get("start_overlap")
    if q is None:
        return SEARCH, None
    return ("ticket_start", 1.0) if q == 1.0 else ("basin", float(q))


def searched_prune_rate(record: dict) -> float:
    """The final prune rate of the searched cell a record belongs to (a dense control's is its ticket's)."""
    c = record["config"]
    if c["method"] == "dense":
        return round(1.0 - c["ticket_remaining"], 6)
    if c.get("shrinkage") is not None:  # an iterative method set by its shrinkage: 1 - (1 - p)^C
        return round(1.0 - (1.0 - c["shrinkage"]) ** c["cycles"], 6)
    return round(c["prune_rate"], 6)


def same_teacher(records: list[dict]) -> bool:
    """True when every record of one seed's cell and its controls has the same teacher_digest."""
    by_seed = defaultdict(set)
    for r in records:
        by_seed[r["config"]["seed"]].add(r.get("teacher_digest"))
    return all(len(d) == 1 for d in by_seed.values())


__all__ = ["CONTROLS", "check_controls", "control_configs", "role", "same_teacher"]
