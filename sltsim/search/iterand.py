"""IteRand: edge-popup with iterative randomisation of the pruned weights.

Chijiwa et al., "Pruning Randomly Initialized Neural Networks with Iterative
Randomization" (NeurIPS 2021, Algorithm 1): train the scores as EP does and, every
K steps, redraw each currently pruned weight from its initialiser with probability
lambda (``--iterand-period`` K, ``--iterand-rate`` lambda; their CIFAR-10 setting is
K = 300, lambda = 0.1).

``iterand_ranking = "raw"`` (the default) follows the released code
(dchiji-ntt/iterand):

- the mask keeps the largest *raw* scores s, not |s| (``GetSubnet`` in
  ``models/networks/sparse_modules.py`` thresholds ``weight_score`` itself at a
  percentile), and the backward of the mask is the identity, so
  dL/ds = dL/dw_eff * theta0 with no sign(s) factor;
- the scores start from Kaiming uniform for ReLU, U(-sqrt(6 / fan_in), sqrt(6 / fan_in))
  (``init_mode_mask: kaiming_uniform`` in ``config.yaml``); this is the method's
  default ``score_init`` (``kaiming_uniform_relu``) while ``method_inits`` is on;
- the redraw runs before steps K, 2K, ... (the ``before_callback`` of
  ``commands/train.py`` fires when (iterations done + 1) is a multiple of K), i.e.
  after K - 1, 2K - 1, ... updates, and looks at the mask of the current scores,
  the one step K will use (``rerand_rate = 1``: all pruned edges are candidates).

``iterand_ranking = "abs"`` is the variant this package ran before: EP's |s| mask and
sign(s) straight-through gradient, EP's score init, the redraw after every K-th update.

Kept as our own choices (``docs/methods.md``): each layer keeps exactly
``n - floor(k n + 0.5)`` edges with ties at the threshold kept in index order (the
release keeps every edge at or above its percentile value, which masks
``round(k (n - 1))`` edges when the scores are distinct), and the redraws come from
``config.weight_init`` and the run's ``"method"`` random stream, so a seed fixes them.

A redraw writes new values into theta0 at chosen masked edges only; kept weights
are never touched and w_eff = m * theta0 stays exact. The mask history is left as
it was: the redraw looks at the mask of the current scores without counting it as a
forward pass, and the edge identities (hence the dying ratio) do not change.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from sltsim.data import steps_per_epoch
from sltsim.engine.kernels import _sgd_plain
from sltsim.engine.topk import keep_count
from sltsim.errors import Diverged
from sltsim.init import WEIGHT_INITS
from sltsim.search.ep import EdgePopup
from sltsim.search.loop import Search, run_cycle


def keep_top_raw(values: np.ndarray, n_keep: int) -> np.ndarray:
    """(n,) bool: the ``n_keep`` largest entries of a flat array, ties to the lower index.

    The signed values are ranked as they are (a large negative score ranks last).
    """
    n = values.size
    if n_keep <= 0:
        return np.zeros(n, bool)
    if n_keep >= n:
        return np.ones(n, bool)
    threshold = np.partition(values, n - n_keep)[n - n_keep]
    greater = values > threshold
    tied = values == threshold
    return greater | (tied & (np.cumsum(tied) <= n_keep - int(np.count_nonzero(greater))))


def select_raw(params: Sequence, global_topk: bool = False, history=None, global_buffer=None) -> None:
    """:func:`sltsim.engine.supermask.select` with the masks ranked by the raw scores s.

    Same contract: per layer (or one threshold over all searched params at the first
    one's prune rate) the top ``n_keep`` scores are kept, ties in index order, the
    history counts the step, ``after_select`` hooks run, unsearched params stay dense.
    Hard pruning (``allowed``) is not supported; NaN or inf scores raise Diverged.
    """
    searched = [p for p in params if p.searched]
    for p in searched:
        if p.allowed is not None:
            raise ValueError(f"raw-score ranking does not support a restricted search space ({p.name})")
        nonfinite = int(np.count_nonzero(~np.isfinite(p.flat("scores"))))
        if nonfinite:
            raise Diverged(f"{nonfinite} scores of {p.name} are NaN or inf")
    if history is not None:
        history.begin_step()
    if global_topk and searched:
        keep = keep_top_raw(np.concatenate([p.flat("scores") for p in searched]),
                            keep_count(sum(p.size for p in searched), searched[0].prune_rate))
        keeps = np.split(keep, np.cumsum([p.size for p in searched])[:-1])
    else:
        keeps = [keep_top_raw(p.flat("scores"), p.n_keep()) for p in searched]
    for i, (p, keep) in enumerate(zip(searched, keeps)):
        k = keep.astype(np.uint8)
        mask = p.flat("mask")
        flips = int(np.count_nonzero(mask != k))
        mask[:] = k
        np.multiply(p.flat("theta0"), k, out=p.flat("w_eff"))
        if history is not None:
            ever = history.ever[i]
            new_ever = int(np.count_nonzero(k & (ever ^ 1)))
            ever |= k
            history.count(i, int(np.count_nonzero(k)), new_ever, flips)
    for p in searched:
        if p.after_select is not None:
            p.after_select(p)
    for p in params:
        if not p.searched:
            np.copyto(p.w_eff, p.theta0)
            p.mask.fill(1)
    if history is not None:
        history.end_step()


def rerandomize(search: Search, rate: float, rng: np.random.Generator) -> list[np.ndarray]:
    """Redraw each pruned weight of every searched param with probability ``rate``.

    Parameters
    ----------
    search : the run; its params' scores define the current masks z(s), by the run's
        mask rule (:meth:`~sltsim.search.loop.Search.select_masks`).
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
    search.select_masks()  # z(s): current scores
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


class _IteRandOptimizer:
    """The run's SGD (raw: identity straight-through), and the redraws on IteRand's clock.

    raw: a redraw before step j (1-based) whenever j is a multiple of ``period``, for
    the steps that exist (``total``); abs: a redraw after every ``period``-th update.
    """

    def __init__(self, search: Search, period: int, rate: float, raw: bool, total: int):
        self.inner = search.optimizer
        self.search, self.period, self.rate, self.raw, self.total = search, period, rate, raw, total
        self.steps = 0
        self.events = 0
        self.redrawn = 0
        self._grad = [np.empty(p.size, p.dtype) for p in self.inner.params] if raw else []

    def before_first_step(self) -> None:
        if self.raw and self.period == 1 and self.total > 0:
            self._redraw()

    def step(self, lr: float) -> None:
        if self.raw:
            c = self.inner.config
            for p, v, g in zip(self.inner.params, self.inner.velocity, self._grad):
                np.multiply(p.flat("grad"), p.flat("theta0"), out=g)  # dL/ds = dL/dw_eff * theta0
                _sgd_plain(p.flat("scores"), g, v, lr, c.momentum, c.weight_decay, c.nesterov)
        else:
            self.inner.step(lr)
        self.steps += 1
        if self.raw:
            if self.steps < self.total and (self.steps + 1) % self.period == 0:
                self._redraw()
        elif self.steps % self.period == 0:
            self._redraw()

    def _redraw(self) -> None:
        chosen = rerandomize(self.search, self.rate, self.search.rngs["method"])
        self.events += 1
        self.redrawn += int(sum(np.count_nonzero(c) for c in chosen))

    def __getattr__(self, name):  # reset_state, velocity, params, ... of the wrapped SGD
        return getattr(self.inner, name)


class IteRand(EdgePopup):
    """EP plus a redraw of the pruned weights every ``iterand_period`` steps (raw ranking as released)."""

    name = "iterand"
    description = ("IteRand (Chijiwa et al. 2021) as released: raw-score mask, identity straight-through, "
                   "and before every K-th step each pruned weight is redrawn with probability lambda")
    #: The RunConfig fields this method owns: any other method refuses them set.
    options = ("iterand_period", "iterand_rate", "iterand_ranking")

    def method_inits(self, config) -> dict:
        """The initialisers that replace the config's defaults while ``method_inits`` is on."""
        return {"score_init": "kaiming_uniform_relu"} if config.iterand_ranking == "raw" else {}

    def run(self, search: Search, progress: bool = False) -> list:
        config = search.config
        raw = config.iterand_ranking == "raw"
        total = config.epochs * steps_per_epoch(search.data.X_train.shape[0], config.batch_size)
        wrapped = _IteRandOptimizer(search, config.iterand_period, config.iterand_rate, raw, total)
        if raw:
            search.selector = select_raw  # kept after the run: the final masks rank the raw scores too
        search.optimizer = wrapped
        try:
            wrapped.before_first_step()
            cycle = run_cycle(search, config.epochs, progress=progress, desc=self.name)
        finally:
            search.optimizer = wrapped.inner
        n_searched = sum(p.size for p in search.searched)
        # redrawn_weights counts every redraw (an edge redrawn twice counts twice)
        cycle.extra.update(rerandomizations=wrapped.events, redrawn_weights=wrapped.redrawn,
                           redraws_per_edge=wrapped.redrawn / max(n_searched, 1))
        return [cycle]
