"""Supermask parameters and the per-step edge selection.

A :class:`MaskedParam` is one searched tensor: frozen weights ``theta0``, scores
``s``, the current mask ``m`` (uint8), the masked weights ``w_eff = m * theta0``
that the forward pass uses, and ``grad`` = dL/dw_eff written by backprop.
All arrays are allocated once; the training step reuses them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from sltsim.engine.kernels import _apply_threshold
from sltsim.errors import Diverged
from sltsim.engine.topk import global_threshold, keep_count, threshold_for

if TYPE_CHECKING:
    from sltsim.metrics.history import MaskHistory


class MaskedParam:
    """One searched tensor of a supermask layer.

    Parameters
    ----------
    name : e.g. ``"fc1.weight"``; the key of this tensor in records.
    shape : e.g. (out, in) for dense, (C_out, C_in, kh, kw) for conv.
    fan_in : inputs per output unit, for the initialisers.
    dtype : float32 (default) or float64.
    """

    def __init__(self, name: str, shape: tuple[int, ...], fan_in: int, dtype=np.float32):
        self.name = name
        self.shape = tuple(int(d) for d in shape)
        self.fan_in = int(fan_in)
        self.dtype = np.dtype(dtype)
        self.theta0 = np.zeros(self.shape, self.dtype)
        self.scores = np.zeros(self.shape, self.dtype)
        self.mask = np.ones(self.shape, np.uint8)
        self.w_eff = np.zeros(self.shape, self.dtype)
        self.grad = np.zeros(self.shape, self.dtype)
        self.prune_rate = 0.0
        self.searched = True  # False: kept dense (all edges, no scores trained)
        self._buffer = np.empty(self.size, self.dtype)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def flat(self, array_name: str) -> np.ndarray:
        """A flat view of one of this param's arrays (no copy)."""
        return getattr(self, array_name).reshape(-1)

    def n_keep(self) -> int:
        return keep_count(self.size, self.prune_rate)

    def __repr__(self) -> str:
        return f"MaskedParam({self.name!r}, shape={self.shape}, prune_rate={self.prune_rate})"


def _apply(param: MaskedParam, threshold: float, ties: int, history, index: int) -> int:
    s = param.flat("scores")
    track = history is not None
    ever = history.ever[index] if track else _NO_EVER
    ties_used, kept, new_ever, flips, nonfinite = _apply_threshold(
        s, param.flat("theta0"), s.dtype.type(threshold), ties,
        param.flat("mask"), param.flat("w_eff"), ever, track,
    )
    if nonfinite:
        raise Diverged(f"{nonfinite} scores of {param.name} are NaN or inf")
    if track:
        history.count(index, kept, new_ever, flips)
    return ties_used


_NO_EVER = np.zeros(0, np.uint8)


def select(params: Sequence[MaskedParam], global_topk: bool = False,
           history: "MaskHistory | None" = None, global_buffer: np.ndarray | None = None) -> None:
    """Set every searched param's mask and w_eff from its scores, and update the history.

    Per layer (EP default), each param keeps the top-(1-k) of its own |s|. With
    ``global_topk`` one threshold over all searched params keeps the top-(1-k) of
    them together at the prune rate of the first searched param. Params with
    ``searched = False`` keep every edge (w_eff = theta0) and are not tracked.
    """
    searched = [p for p in params if p.searched]
    if history is not None:
        history.begin_step()
    if global_topk and searched:
        n_total = sum(p.size for p in searched)
        if global_buffer is None or global_buffer.size < n_total:
            raise ValueError("global top-k needs a buffer of at least the number of searched edges")
        n_keep = keep_count(n_total, searched[0].prune_rate)
        threshold, ties = global_threshold([p.flat("scores") for p in searched], n_keep, global_buffer)
        for i, p in enumerate(searched):
            ties -= _apply(p, threshold, ties, history, i)
    else:
        for i, p in enumerate(searched):
            threshold, ties = threshold_for(p.flat("scores"), p.n_keep(), p._buffer)
            _apply(p, threshold, ties, history, i)
    for p in params:
        if not p.searched:
            np.copyto(p.w_eff, p.theta0)
            p.mask.fill(1)
    if history is not None:
        history.end_step()
