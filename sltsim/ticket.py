"""Planted tickets: which units and edges of a student form the planted target P.

A ticket keeps every input and output unit and ``w_l = round(ticket_width * d_l)`` units
(channels, for conv layers) of each hidden group, chosen at random. :func:`plan_ticket`
fixes how many edges of P each searched tensor holds: by default exactly the final mask's
keep count ``n - floor(k n + 0.5)`` (a *feasible* ticket, DESIGN.md "Planted targets"),
and the ticket width as the smallest at which every tensor's edges fill at most
``DEFAULT_TICKET_FILL`` of the block among the ticket's units. The edges lie all among
the kept units: first a cover that gives every kept output unit an in-edge and every kept
input unit an out-edge (no dead unit), then the rest, uniformly or balanced (see
:func:`choose_edges`). An edge is one weight entry: a conv channel pair may keep a subset
of its kernel entries. The teacher is f(x; P * theta0), with
unsearched tensors used in full (:mod:`sltsim.teacher`). :mod:`sltsim.planted` turns a
ticket into a data set.

Exact replicas (:func:`count_replicas`). With +-constant weights, a student unit v whose
theta0 equals a ticket unit u's on every in-edge of P into u (same input units, same
kernel entries) computes u exactly when its mask keeps those edges: v is an exact
replica of u, and a search may use it instead of u.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sltsim.engine.topk import keep_count


#: The default ticket width makes P fill at most this share of the block of edges among the
#: ticket's units in every searched tensor (where a full-width ticket cannot, P fills what
#: it must): half full, P's pattern inside its block is as uncertain as it can be.
DEFAULT_TICKET_FILL = 0.5


def _round(x: float) -> int:
    return int(math.floor(x + 0.5))


# -- the student's unit structure ---------------------------------------------------------
@dataclass(frozen=True)
class Link:
    """How one tensor connects groups of units: a weight (out, in, *kernel) or a bias (out,).

    ``repeat`` input features belong to each in-unit (H*W when a conv map is flattened into
    a dense layer, else 1): feature f belongs to unit f // repeat.
    """

    name: str
    in_group: str | None  # None for a bias
    out_group: str
    repeat: int = 1


def unit_links(params, residual: bool = False) -> tuple[list[Link], dict[str, int]]:
    """The groups of units (``"input"``, ``"hidden1"``, ..., ``"output"``) and each tensor's link.

    Weights are chained in order (the out-units of one are the in-units of the next, up to a
    flatten). When they do not chain, or ``residual``, hidden dimensions are grouped by width
    (``"width16"``), so blocks that add into one residual stream share its units.
    """
    weights = [p for p in params if p.name.endswith(".weight")]
    if not weights:
        raise ValueError("a planted target needs a model with at least one weight tensor")
    chain = not residual and all(b.shape[1] % a.shape[0] == 0 for a, b in zip(weights, weights[1:]))
    last = len(weights) - 1
    sizes: dict[str, int] = {"input": weights[0].shape[1]}
    links = {}
    for i, w in enumerate(weights):
        out = "output" if i == last else (f"hidden{i + 1}" if chain else f"width{w.shape[0]}")
        sizes[out] = w.shape[0]
        if i == 0:
            group, repeat = "input", 1
        elif chain:
            group, repeat = links[weights[i - 1].name].out_group, w.shape[1] // weights[i - 1].shape[0]
        else:
            group, repeat = f"width{w.shape[1]}", 1
            sizes.setdefault(group, w.shape[1])
        links[w.name] = Link(w.name, group, out, repeat)
    ordered = []
    for p in params:
        if p.name in links:
            ordered.append(links[p.name])
        elif p.name.endswith(".bias") and p.name[:-5] + ".weight" in links:
            ordered.append(Link(p.name, None, links[p.name[:-5] + ".weight"].out_group))
    return ordered, sizes


# -- the ticket -----------------------------------------------------------------------------
@dataclass(frozen=True)
class PlantedTicket:
    """A planted ticket P and how it sits in the student.

    masks : {param name: uint8 array of the param's shape}, one per searched tensor, in
        ``[p for p in model.params if p.searched]`` order; 1 = edge of P.
    units : {group: sorted kept unit indices}; inputs and outputs are all kept.
    links : the :class:`Link` of every weight/bias tensor, searched or not.
    teacher_test : the teacher's outputs on the test inputs, kept because with batch norm
        the teacher depends on running statistics that training later moves.
    """

    plant: str
    masks: dict
    units: dict
    links: tuple
    ticket_remaining: float
    ticket_width: float
    residual: bool = False
    teacher_test: np.ndarray | None = None  # (n_test, n_outputs) teacher outputs that labelled the test set
    feasible: bool = True  # every searched tensor holds exactly the final mask's keep count
    replicas: dict | None = None  # {hidden group: (w,) exact replicas of each ticket unit}, see count_replicas
    start_recall: float | None = None  # share of P in the first mask (sltsim.controls)

    def link(self, name: str) -> Link:
        return next(link for link in self.links if link.name == name)


def choose_units(sizes: dict[str, int], width: float, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Keep all input/output units and round(width * d) random units (at least 1) of each hidden group."""
    if not 0.0 < width <= 1.0:
        bad = max((g for g in sizes if g not in ("input", "output")), key=sizes.get, default="output")
        raise ValueError(f"ticket_width {width} would make the ticket wider than layer {bad} "
                         f"({sizes[bad]} units); it must be in (0, 1]")
    units = {}
    for group, d in sizes.items():
        if group in ("input", "output"):
            units[group] = np.arange(d)
        else:
            units[group] = np.sort(rng.choice(d, max(1, _round(width * d)), replace=False))
    return units


def choose_edges(shape, rows, cols, repeat: int, n_edges: int, rng: np.random.Generator,
                 name: str = "tensor", remaining: float | None = None, balance=None) -> np.ndarray:
    """A uint8 mask of ``shape`` (out, in, *kernel) with ``n_edges`` ones among ``rows`` x ``cols``.

    Every row gets an in-edge and every column unit (``repeat`` features each) an out-edge;
    the remaining edges are uniform over the block, or, given ``balance`` (an array of
    ``shape``, e.g. theta0 times the mean of each input feature), spread evenly over the
    rows keeping each row's sum of ``balance`` over its edges near zero (see
    :func:`_fill_balanced`). Raises ValueError if they cannot fit.
    """
    n_in, kernel = shape[1], int(np.prod(shape[2:], dtype=np.int64))
    feats = (np.asarray(cols)[:, None] * repeat + np.arange(repeat)).reshape(-1)
    block = (np.asarray(rows)[:, None, None] * n_in + feats[None, :, None]) * kernel + np.arange(kernel)
    n_cover = max(len(rows), len(cols))
    what = f"ticket_remaining {remaining}" if remaining is not None else "the ticket"
    if n_edges > block.size:
        raise ValueError(f"{what} needs {n_edges} edges in {name} but its {len(rows)} x {len(cols)} ticket "
                         f"units hold only {block.size}; raise ticket_width or lower ticket_remaining")
    if n_edges < n_cover:
        raise ValueError(f"{what} gives {name} {n_edges} edges but its {len(rows)} x {len(cols)} ticket units "
                         f"need {n_cover} so that none is dead; raise ticket_remaining or lower ticket_width")
    i = np.arange(n_cover)
    r = rng.permutation(len(rows))[i % len(rows)]
    f = rng.permutation(len(cols))[i % len(cols)] * repeat + rng.integers(repeat, size=n_cover)
    taken = np.zeros(block.shape, bool)  # (rows, features, kernel)
    taken[r, f, rng.integers(kernel, size=n_cover)] = True
    if balance is None:
        flat = taken.reshape(-1)
        flat[rng.choice(np.flatnonzero(~flat), n_edges - n_cover, replace=False)] = True
    else:
        _fill_balanced(taken, np.asarray(balance, np.float64).reshape(-1)[block], n_edges, rng)
    mask = np.zeros(int(np.prod(shape)), np.uint8)
    mask[block[taken]] = 1
    return mask.reshape(shape)


def _fill_balanced(taken, value, n_edges, rng, passes: int = 4) -> None:
    """Add edges to ``taken`` (rows, slots) until it holds n_edges, a near-equal share per row,
    keeping each row's sum of ``value`` over its edges near zero.

    Each row first grows by a random walk (the next edge is a random free slot whose value
    has the sign opposite to the row's running sum), then up to ``passes`` sweeps swap each
    added edge for the free slot that brings the sum closest to zero. Edges already in
    ``taken`` (the cover) stay.
    """
    rows = taken.shape[0]
    taken2, value2 = taken.reshape(rows, -1), value.reshape(rows, -1)
    want = np.maximum(balanced_counts(n_edges, rows, rng) - taken2.sum(axis=1), 0)
    excess = int(want.sum()) - (n_edges - int(taken2.sum()))  # rows the cover filled beyond their share
    if excess > 0:
        want -= np.bincount(rng.choice(np.repeat(np.arange(rows), want), excess, replace=False), minlength=rows)
    for row in rng.permutation(rows):
        free = rng.permutation(np.flatnonzero(~taken2[row]))
        v = value2[row]
        pos, neg = list(free[v[free] > 0]), list(free[v[free] <= 0])
        total = float(v[taken2[row]].sum())
        added = []
        for _ in range(min(want[row], free.size)):
            slot = ((neg if total > 0 else pos) or pos or neg).pop()
            taken2[row, slot] = True
            added.append(slot)
            total += float(v[slot])
        for _ in range(passes if added else 0):
            improved = False
            for i, slot in enumerate(added):
                free = np.flatnonzero(~taken2[row])
                if free.size == 0:
                    break
                new = total - v[slot] + v[free]
                best = int(np.argmin(np.abs(new)))
                if abs(new[best]) < abs(total) * (1 - 1e-9):
                    taken2[row, slot], taken2[row, free[best]] = False, True
                    added[i], total, improved = int(free[best]), float(new[best]), True
            if not improved:
                break
    short = n_edges - int(taken2.sum())
    if short > 0:  # rows without room pass their share on
        flat = taken.reshape(-1)
        flat[rng.choice(np.flatnonzero(~flat), short, replace=False)] = True


def draw_ticket(params, remaining: float, width: float, rng: np.random.Generator,
                plant: str = "subnetwork", residual: bool = False, edges: dict | None = None) -> PlantedTicket:
    """Choose the ticket's units, then exactly ``edges[name]`` edges per searched tensor
    (default keep_count(size, 1 - remaining); :func:`sltsim.ticket_plan.plan_ticket` gives
    the feasible counts).

    Each output unit's edges sum theta0 to near zero (as many positive as negative weights),
    so that no class dominates the teacher's argmax through the mean of its non-negative
    (post-ReLU) inputs; :mod:`sltsim.planted` refines this with the inputs' means.
    """
    links, sizes = unit_links(params, residual)
    by_name = {link.name: link for link in links}
    units = choose_units(sizes, width, rng)
    masks = {}
    for p in params:
        if not p.searched:
            continue
        link = by_name.get(p.name)
        if link is None:
            raise ValueError(f"cannot plant a ticket in {p.name}: not a weight or bias of a layer")
        n_edges = edges[p.name] if edges is not None else keep_count(p.size, 1.0 - remaining)
        rows = units[link.out_group]
        if link.in_group is None:  # a searched bias: entries of kept units
            if n_edges > len(rows):
                raise ValueError(f"ticket_remaining {remaining} needs {n_edges} entries of {p.name} but the "
                                 f"ticket keeps only {len(rows)} of its units; raise ticket_width")
            mask = np.zeros(p.size, np.uint8)
            mask[rng.choice(rows, n_edges, replace=False)] = 1
            masks[p.name] = mask.reshape(p.shape)
        else:
            balance = p.theta0 if link.out_group == "output" else None
            masks[p.name] = choose_edges(p.shape, rows, units[link.in_group], link.repeat, n_edges, rng,
                                         p.name, remaining, balance)
    return PlantedTicket(plant, masks, units, tuple(links), remaining, width, residual)


def count_replicas(params, ticket: PlantedTicket) -> dict:
    """{hidden group: (w,) int64 exact replicas of each ticket unit} (module docstring).

    A replica of ticket unit u (a kept out-unit of a weight tensor into a hidden group) is
    another unit v of the same group with theta0[v, e] == theta0[u, e] at every in-edge e
    of P into u (same input feature and kernel entry). Biases are not compared. Empty for
    a residual ticket, whose groups are fed by several tensors.
    """
    if ticket.residual:
        return {}
    by_name = {p.name: p for p in params}
    out = {}
    for link in ticket.links:
        if link.in_group is None or link.out_group == "output" or link.name not in ticket.masks:
            continue
        theta = by_name[link.name].theta0.reshape(by_name[link.name].shape[0], -1)  # (d, in * kernel)
        P = ticket.masks[link.name].reshape(theta.shape[0], -1) != 0
        kept = ticket.units[link.out_group]
        counts = np.zeros(kept.size, np.int64)
        for i, u in enumerate(kept):
            edges = np.flatnonzero(P[u])
            counts[i] = int(np.count_nonzero((theta[:, edges] == theta[u, edges]).all(axis=1))) - 1
        out[link.out_group] = counts
    return out


def balanced_counts(n: int, n_classes: int, rng: np.random.Generator) -> np.ndarray:
    """Per-class counts summing to n that differ by at most one (random classes get the extra)."""
    counts = np.full(n_classes, n // n_classes, np.int64)
    counts[rng.permutation(n_classes)[: n % n_classes]] += 1
    return counts
