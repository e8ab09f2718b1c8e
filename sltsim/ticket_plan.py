"""How big a planted ticket is: its edge count per tensor and its width, checked against the budget.

A ticket is *feasible* (DESIGN.md "Planted targets") when every searched tensor holds
exactly as many edges of P as the final mask keeps, ``n - floor(k n + 0.5)`` at the final
prune rate k (:func:`sltsim.engine.topk.keep_count`; for iterative methods the last
cycle's). P is then a zero-loss mask inside the search space. :func:`plan_ticket` gives

- the edge count of each searched tensor: the final keep count by default; with an
  explicit ``ticket_remaining`` r, ``keep_count(n, 1 - r)``. A count above the budget is
  refused (P could never be selected); one below it (a *sub-budget* ticket: P plus any
  padding changes the function) is refused unless ``sub_budget_ticket`` is set, and the
  ticket is then marked ``feasible = False`` (``sub_budget_ticket`` only permits: a ticket
  that meets the budget anyway stays feasible, so one setting can serve several k).
- the ticket width (the fraction of each hidden group's units in the ticket): by default
  the smallest width at which every tensor's edges fill at most ``DEFAULT_TICKET_FILL``
  of the block between its ticket units; where none fills it so little, the full width
  (which fills it least: P is a share 1 - k of every tensor), or, where the full width
  leaves a ticket unit without an edge, the smallest width that fits. An explicit width that cannot hold a tensor's edges, or leaves a ticket
  unit without an edge, is refused naming the tensor, the numbers and the widths that fit.

The fit of a tensor with ``rows`` kept out-units and ``cols`` kept in-units (``repeat``
features each, kernels of ``kernel`` entries): ``rows * cols * repeat * kernel`` edges
in its block, and at least ``max(rows, cols)`` edges so that no ticket unit is dead (a
searched bias: at most ``rows`` entries). Between two hidden layers the block is about
``width^2 n``, so a feasible ticket needs ``width^2 >= 1 - k`` there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sltsim.engine.topk import keep_count
from sltsim.ticket import DEFAULT_TICKET_FILL, unit_links

@dataclass(frozen=True)
class TicketPlan:
    """The ticket's size. edges: {searched tensor name: edges of P}; width: fraction of each
    hidden group kept; feasible: every count equals the final mask's keep count."""

    edges: dict
    width: float
    feasible: bool
    remaining: float  # |P| / n over all searched edges


def group_units(d: int, width: float) -> int:
    """Units of a hidden group of ``d`` the ticket keeps: round(width * d), at least 1
    (the rule of :func:`sltsim.ticket.choose_units`)."""
    return max(1, int(math.floor(width * d + 0.5)))


def _units(sizes: dict, width: float) -> dict:
    return {g: (d if g in ("input", "output") else group_units(d, width)) for g, d in sizes.items()}


def _fit(params, links, units, edges) -> list[tuple[str, int, int, int]]:
    """(name, edges, block, cover) of every searched tensor under the unit counts ``units``."""
    by_name = {link.name: link for link in links}
    out = []
    for p in params:
        if not p.searched:
            continue
        link = by_name.get(p.name)
        if link is None:
            raise ValueError(f"cannot plant a ticket in {p.name}: not a weight or bias of a layer")
        rows = units[link.out_group]
        if link.in_group is None:
            out.append((p.name, edges[p.name], rows, 0))
            continue
        kernel = int(math.prod(p.shape[2:]))
        cols = units[link.in_group]
        out.append((p.name, edges[p.name], rows * cols * link.repeat * kernel, max(rows, cols)))
    return out


def _fits(fit, fill: float = 1.0) -> bool:
    return all(cover <= e <= fill * block + 1e-9 for _, e, block, cover in fit)


def _candidate_widths(sizes: dict) -> list[float]:
    """Widths m / d for every hidden group of d units and m = 1..d, smallest first (ends at 1)."""
    hidden = {d for g, d in sizes.items() if g not in ("input", "output")}
    return sorted({round(m / d, 12) for d in hidden for m in range(1, d + 1)} | {1.0})


def smallest_width(params, links, sizes, edges, fill: float = 1.0):
    """The smallest width m / d at which every tensor fits (edges <= fill * block, no dead unit), or None."""
    for width in _candidate_widths(sizes):
        if _fits(_fit(params, links, _units(sizes, width), edges), fill):
            return width
    return None


def plan_ticket(params, prune_rate: float, remaining=None, width=None, sub_budget: bool = False,
                residual: bool = False) -> TicketPlan:
    """The edge counts and width of the ticket for a search whose final prune rate is ``prune_rate``.

    Parameters
    ----------
    params : the student's parameters (``name``, ``shape``, ``size``, ``searched``), in model order.
    prune_rate : the final mask's prune rate k (``RunConfig.final_prune_rate``).
    remaining : an explicit ``ticket_remaining`` r, or None for the feasible count.
    width : an explicit ``ticket_width``, or None for the default (module docstring).
    sub_budget : allow a ticket below the budget (``sub_budget_ticket``).

    Raises
    ------
    ValueError : one line naming the tensor, its numbers and what would fit.
    """
    links, sizes = unit_links(params, residual)
    searched = [p for p in params if p.searched]
    budget = {p.name: keep_count(p.size, prune_rate) for p in searched}
    if remaining is None:
        if sub_budget:
            raise ValueError("sub_budget_ticket needs an explicit ticket_remaining below 1 - prune_rate "
                             f"= {1 - prune_rate:.6g}; without one the ticket is feasible")
        edges = dict(budget)
    else:
        exact = abs(remaining - (1.0 - prune_rate)) < 1e-12
        # 1 - (1 - k) is not k in floats, and keep_count rounds at .5: round away the last bits so
        # that a dense control planting ticket_remaining = 1 - k gets the search's own count
        edges = {p.name: budget[p.name] if exact else keep_count(p.size, round(1.0 - remaining, 12))
                 for p in searched}
        for p in searched:
            if edges[p.name] > budget[p.name]:
                raise ValueError(
                    f"ticket_remaining {remaining} gives layer {p.name} {edges[p.name]} edges but the final "
                    f"mask keeps only {budget[p.name]} of its {p.size} (prune rate {prune_rate:.6g}), so the "
                    f"ticket could never be selected; omit ticket_remaining for a feasible ticket "
                    f"(remaining {1 - prune_rate:.6g})")
        below = [p for p in searched if edges[p.name] < budget[p.name]]
        if below and not sub_budget:
            p = below[0]
            raise ValueError(
                f"ticket_remaining {remaining} gives layer {p.name} {edges[p.name]} edges but the final mask "
                f"keeps {budget[p.name]} of its {p.size} (prune rate {prune_rate:.6g}): a sub-budget ticket "
                f"is not a zero-loss answer; omit ticket_remaining for a feasible ticket, or set "
                f"sub_budget_ticket = true to plant it anyway (records mark it ticket_feasible: false)")
    if width is None:
        chosen = smallest_width(params, links, sizes, edges, DEFAULT_TICKET_FILL)
        if chosen is None and _fits(_fit(params, links, _units(sizes, 1.0), edges)):
            chosen = 1.0  # no width holds the edges half full: the full width fills its block least
        if chosen is None:  # the full width leaves ticket units without an edge: the smallest that fits
            chosen = smallest_width(params, links, sizes, edges)
        if chosen is None:
            name, e, block, cover = next(f for f in _fit(params, links, _units(sizes, 1.0), edges) if not _fits([f]))
            raise ValueError(f"no ticket width fits layer {name} at prune rate {prune_rate:.6g}: its {e} edges "
                             f"cannot give each of its {cover} ticket units an edge; lower the prune rate")
        width = chosen
    else:
        fit = _fit(params, links, _units(sizes, width), edges)
        bad = next((f for f in fit if not _fits([f])), None)
        if bad is not None:
            name, e, block, cover = bad
            fits = smallest_width(params, links, sizes, edges)
            what = (f"the smallest ticket_width that fits is {fits}" if fits is not None
                    else "no ticket width fits")
            why = (f"its ticket units hold only {block} edges" if e > block
                   else f"{cover} ticket units need {cover} edges so that none is dead")
            raise ValueError(f"ticket_width {width} cannot hold layer {name}'s {e} edges of P: {why}; "
                             f"{what} (omit ticket_width for the default)")
    total = sum(p.size for p in searched)
    feasible = all(edges[n] == budget[n] for n in budget)
    return TicketPlan(edges, float(width), feasible, sum(edges.values()) / total if total else math.nan)


__all__ = ["TicketPlan", "plan_ticket", "smallest_width", "group_units"]
