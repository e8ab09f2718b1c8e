"""Start controls on planted targets: where the first mask sits relative to the ticket P.

Every planted search records ``start_recall``, the share of P's edges in its first mask
m_1 (the top-(1 - k_1) of |s0| per layer, k_1 the first cycle's prune rate). From a random
start it is about 1 - k_1: EP's first subnetwork is random.

``start_overlap = q`` (DESIGN.md "Planted targets", the basin of attraction) replaces
that random start by one that holds exactly round(q |P_l|) of P's edges in each searched
layer l, and the rest of m_1 on edges outside P, drawn uniformly. The scores are not
drawn anew: s0's own values are rearranged, the n_keep largest |s0| onto the chosen
edges (in random order) and the others onto the other edges (in random order), so the
score distribution is exactly that of s0 and only its placement changes. q = 1 is the
positive control "EP started from P": at a feasible ticket and a regression task the
loss, hence every score gradient, is exactly 0 there, so EP stays at P (weight decay
shrinks all scores by one factor and keeps their order). Where P's complement is too
small to fill m_1 (k_1 near 0) more of P is taken, and ``start_recall`` says so.

The placement draws from its own random stream, the sixth child of the run's seed
(after :data:`sltsim.streams.STREAMS`), so it moves no other draw.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from sltsim.engine.topk import keep_count
from sltsim.registry import CHECKS, METHODS, load, register

def searches_from_scores() -> list[str]:
    """The methods whose first mask comes from the scores s0 (a method's ``searches_from_scores``;
    the others would ignore a start control)."""
    load()
    return [name for name, method in METHODS.items() if getattr(method, "searches_from_scores", False)]


def first_prune_rate(config) -> float:
    """k_1: the prune rate of the first cycle (the config's own for one-cycle methods)."""
    load()
    if hasattr(METHODS[config.method], "variant"):  # an iterative method (sltsim.search.iterative)
        from sltsim.search import cycle_rates

        return cycle_rates.from_config(config).prune_rate(1)
    return config.prune_rate


def validate(config) -> None:
    """Refuse a start control that the method or the selection would ignore (one line)."""
    if config.start_overlap is None:
        return
    if config.method not in searches_from_scores():
        raise ValueError(f"start_overlap applies to methods that search from scores s0 "
                         f"({', '.join(searches_from_scores())}), got method {config.method}")
    if config.global_topk:
        raise ValueError("start_overlap places the first mask layer by layer; it needs global_topk false")
    if config.method == "iterand" and config.iterand_ranking == "raw":
        raise ValueError("start_overlap places P on the largest |s|, which iterand_ranking raw does not keep "
                         "(it keeps the largest signed scores); use iterand_ranking abs, got iterand_ranking raw")


register(CHECKS, "start_overlap", validate)


def _start_stream(seed: int) -> np.random.Generator:
    from sltsim.streams import STREAMS

    return np.random.default_rng(np.random.SeedSequence(seed).spawn(len(STREAMS) + 1)[-1])


def place_first_mask(scores: np.ndarray, chosen: np.ndarray, rng: np.random.Generator) -> None:
    """Rearrange ``scores`` (flat, in place) so that its ``chosen.size`` largest |values| sit on
    ``chosen`` (flat indices) and the rest elsewhere, each part in random order."""
    n = scores.size
    order = np.argsort(-np.abs(scores), kind="stable")
    values = scores[order]
    rest = np.setdiff1d(np.arange(n), chosen, assume_unique=False)
    out = np.empty_like(scores)
    out[rng.permutation(chosen)] = values[: chosen.size]
    out[rng.permutation(rest)] = values[chosen.size:]
    scores[...] = out


def start_controls(params, ticket, config):
    """Apply ``config.start_overlap`` (if set) to the scores of ``params``; return ``ticket``
    with ``start_recall`` (the share of P in the first mask) filled in."""
    validate(config)
    k1 = first_prune_rate(config)
    rng = _start_stream(config.seed) if config.start_overlap is not None else None
    hits = total = 0
    for p in params:
        if not p.searched:
            continue
        P = ticket.masks[p.name].reshape(-1) != 0
        scores = p.flat("scores")
        n_keep = keep_count(p.size, k1)
        if rng is not None:
            inside, outside = np.flatnonzero(P), np.flatnonzero(~P)
            want = min(int(np.floor(config.start_overlap * inside.size + 0.5)), n_keep)
            want = max(want, n_keep - outside.size)
            chosen = np.concatenate([rng.choice(inside, want, replace=False),
                                     rng.choice(outside, n_keep - want, replace=False)])
            place_first_mask(scores, chosen, rng)
        top = np.argsort(-np.abs(scores), kind="stable")[:n_keep]
        hits += int(np.count_nonzero(P[top]))
        total += int(P.sum())
    return dataclasses.replace(ticket, start_recall=hits / total if total else float("nan"))


__all__ = ["start_controls", "place_first_mask", "first_prune_rate", "validate", "searches_from_scores"]
