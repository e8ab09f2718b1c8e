"""Multicoated supermasks on the engine: w_eff = (coats passed) * theta0.

The method and its sources are :mod:`sltsim.search.multicoat` (Okoshi et al., ICML
2022, linear option). :class:`Coats` is the ``after_select`` hook of one
:class:`~sltsim.engine.supermask.MaskedParam`: once the outer coat (the mask at the
param's prune rate) is set, each inner coat at prune rate k_j adds theta0 where the
edge is among the top ``n - floor(k_j n + 0.5)`` |s| of the param, ties in index
order as :func:`sltsim.engine.supermask.select` keeps them, so the coats are nested.
"""

from __future__ import annotations

import numpy as np

from sltsim.engine.topk import keep_count, threshold_for


class Coats:
    """The ``after_select`` hook of one param: w_eff = (coats passed) * theta0.

    Parameters
    ----------
    param : the :class:`~sltsim.engine.supermask.MaskedParam` it is attached to.
    inner_prune_rates : k_2 < ... < k_N, each above ``param.prune_rate``.

    Attributes
    ----------
    counts : (size,) uint8, the multiplier c of every edge after the last selection.
    """

    def __init__(self, param, inner_prune_rates):
        self.inner_prune_rates = tuple(float(k) for k in inner_prune_rates)
        self.counts = np.zeros(param.size, np.uint8)
        self._abs = np.empty(param.size, param.dtype)
        self._scratch = np.empty(param.size, param.dtype)
        self._passed = np.empty(param.size, bool)
        self._tied = np.empty(param.size, bool)
        self._w = np.empty(param.size, param.dtype)

    def __call__(self, p) -> None:
        s, theta0, w_eff = p.flat("scores"), p.flat("theta0"), p.flat("w_eff")
        np.copyto(self.counts, p.flat("mask"))  # the outer coat, set by select
        np.abs(s, out=self._abs)
        for k in self.inner_prune_rates:
            threshold, ties = threshold_for(s, keep_count(p.size, k), self._scratch)
            np.greater(self._abs, threshold, out=self._passed)
            if ties > 0:
                np.equal(self._abs, threshold, out=self._tied)
                self._passed[np.flatnonzero(self._tied)[:ties]] = True
            self.counts += self._passed
            np.multiply(theta0, self._passed, out=self._w)
            w_eff += self._w


def attach_coats(params, inner_prune_rates) -> list[Coats]:
    """Give every searched param a :class:`Coats` hook; returns them in param order."""
    hooks = []
    for p in params:
        if not p.searched:
            continue
        if not all(k > p.prune_rate for k in inner_prune_rates):
            raise ValueError(f"coats must each exceed the prune rate {p.prune_rate} of {p.name}, "
                             f"got {tuple(inner_prune_rates)}")
        p.after_select = Coats(p, inner_prune_rates)
        hooks.append(p.after_select)
    return hooks
