"""IteRand: edge-popup with iterative randomisation of the pruned weights.

Chijiwa et al. (2021), "Pruning randomly initialized neural networks with iterative
randomization" (NeurIPS 34, Algorithm 1): train the scores as EP does and, every
K steps, redraw each currently pruned weight from its initialiser with probability
lambda (their default K = 300, lambda = 0.1; ``--iterand-period``,
``--iterand-rate``). "Currently pruned" is the mask z(s) of the scores just after
the K-th update, as in their Algorithm 1 and released code: those are the edges
the next forward pass would leave out.

Here a redraw writes new values into theta0 at the chosen masked edges; the
draws come from ``config.weight_init`` (at the final prune rate, for the scaled
inits) and from the run's ``"method"`` random stream, so a seed fixes them. Kept
weights are never touched, and w_eff = m * theta0 stays exact (the redrawn
edges are masked, so their w_eff stays 0). The mask history is left as it was:
the redraw looks at z(s) without counting it as a forward pass, and the edge
identities (hence the ever-selected bitmaps and the dying ratio) do not change.
"""

from __future__ import annotations

import numpy as np

from sltsim.engine.supermask import select
from sltsim.init import WEIGHT_INITS
from sltsim.search.ep import EdgePopup
from sltsim.search.loop import Search, run_cycle


def rerandomize(search: Search, rate: float, rng: np.random.Generator) -> list[np.ndarray]:
    """Redraw each pruned weight of every searched param with probability ``rate``.

    Parameters
    ----------
    search : the run; its params' scores define the current masks z(s).
    rate : lambda in [0, 1].
    rng : the generator the Bernoulli draws and the new weights come from.

    Returns
    -------
    redrawn : per searched param, a (size,) bool array, True where theta0 was redrawn;
        always a subset of the edges that z(s) masks.
    """
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate must be in [0, 1], got {rate}")
    config = search.config
    init = WEIGHT_INITS[config.weight_init]
    searched = search.searched
    used = [p.mask.copy() for p in searched]  # m_t, the mask of the last forward pass
    select(search.params, search.global_topk, None, search.global_buffer)  # z(s): current scores
    redrawn = []
    for p, m_t in zip(searched, used):
        chosen = (p.flat("mask") == 0) & (rng.random(p.size) < rate)
        n = int(np.count_nonzero(chosen))
        if n:
            p.flat("theta0")[chosen] = init((n,), p.fan_in, config.final_prune_rate, rng)
        # restore m_t so the next step's flip count compares against the mask actually used
        np.copyto(p.mask, m_t)
        np.multiply(p.mask, p.theta0, out=p.w_eff)
        redrawn.append(chosen)
    return redrawn


class _RerandomizingOptimizer:
    """The run's SGD, followed by :func:`rerandomize` after every ``period``-th step."""

    def __init__(self, search: Search, period: int, rate: float):
        self.inner = search.optimizer
        self.search, self.period, self.rate = search, period, rate
        self.steps = 0
        self.events = 0
        self.redrawn = 0

    def step(self, lr: float) -> None:
        self.inner.step(lr)
        self.steps += 1
        if self.steps % self.period == 0:
            chosen = rerandomize(self.search, self.rate, self.search.rngs["method"])
            self.events += 1
            self.redrawn += int(sum(np.count_nonzero(c) for c in chosen))

    def __getattr__(self, name):  # reset_state, velocity, params, ... of the wrapped SGD
        return getattr(self.inner, name)


class IteRand(EdgePopup):
    """EP plus a redraw of the pruned weights every ``iterand_period`` steps."""

    name = "iterand"
    description = ("IteRand (Chijiwa et al. 2021): EP, and every K steps each pruned weight is redrawn "
                   "from its initialiser with probability lambda")

    def run(self, search: Search, progress: bool = False) -> list:
        config = search.config
        wrapped = _RerandomizingOptimizer(search, config.iterand_period, config.iterand_rate)
        search.optimizer = wrapped
        try:
            cycle = run_cycle(search, config.epochs, progress=progress, desc=self.name)
        finally:
            search.optimizer = wrapped.inner
        n_searched = sum(p.size for p in search.searched)
        # redrawn_weights counts every redraw (an edge redrawn twice counts twice)
        cycle.extra.update(rerandomizations=wrapped.events, redrawn_weights=wrapped.redrawn,
                           redraws_per_edge=wrapped.redrawn / max(n_searched, 1))
        return [cycle]
