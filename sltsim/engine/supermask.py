"""Supermask parameters and the per-step edge selection.

A :class:`MaskedParam` is one searched tensor: frozen weights ``theta0``, scores
``s``, the current mask ``m`` (uint8), the masked weights ``w_eff = m * theta0``
that the forward pass uses, and ``grad`` = dL/dw_eff written by backprop.
All arrays are allocated once; the training step reuses them.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Sequence

import numpy as np

from sltsim.engine import threads
from sltsim.engine.restricted_kernels import (_abs_searchable_into, _apply_threshold_searchable,
                                             _count_greater_abs_searchable)
from sltsim.engine.topk import global_threshold, keep_count
from sltsim.engine.topk_kernels import _abs_into, _apply_threshold, _count_greater_abs, _kth_largest, _select_layer
from sltsim.errors import Diverged

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
        self._size = int(np.prod(self.shape))
        self.theta0 = np.zeros(self.shape, self.dtype)
        self.scores = np.zeros(self.shape, self.dtype)
        self.mask = np.ones(self.shape, np.uint8)
        self.w_eff = np.zeros(self.shape, self.dtype)
        self.grad = np.zeros(self.shape, self.dtype)
        self.prune_rate = 0.0
        self.searched = True  # False: kept dense (all edges, no scores trained)
        # hard-pruning search space: uint8 (size,) flat, 1 where the edge may be selected;
        # None = every edge (the default, and the unrestricted fast path of select)
        self.search_space: np.ndarray | None = None
        # called as after_select(param) once select has set this param's mask and w_eff
        # (multicoated supermasks rescale w_eff there); None = plain binary supermask
        self.after_select = None
        self._buffer = np.empty(self.size, self.dtype)
        # [previous threshold, bracket half-width] for the next selection (warm start; NaN: none)
        self._threshold_hint = np.array([np.nan, 0.0])
        self._n_keep, self._n_keep_rate = 0, None

    @property
    def size(self) -> int:
        return self._size

    def flat(self, array_name: str) -> np.ndarray:
        """A flat view of one of this param's arrays (no copy)."""
        return getattr(self, array_name).reshape(-1)

    def n_keep(self) -> int:
        """Edges the mask keeps at the current prune rate (computed once per prune rate)."""
        if self._n_keep_rate != self.prune_rate:
            self._n_keep = keep_count(self.size, self.prune_rate)
            self._n_keep_rate = self.prune_rate
        return self._n_keep

    def restrict(self, searchable: np.ndarray | None) -> None:
        """Restrict selection to the edges where ``searchable`` is nonzero (hard pruning).

        Parameters
        ----------
        searchable : array of this param's shape (or flat, (size,)), any integer or bool
            dtype; copied as uint8. None lifts the restriction. The prune rate still
            counts over all ``size`` edges: select keeps ``n_keep()`` edges, all searchable.
        """
        if searchable is None:
            self.search_space = None
            return
        searchable = np.asarray(searchable)
        if searchable.size != self.size or searchable.shape not in (self.shape, (self.size,)):
            raise ValueError(f"searchable must have the shape {self.shape} of {self.name}, got {searchable.shape}")
        if searchable.dtype.kind not in "biu":
            raise ValueError(f"searchable must be a bool or integer array, got dtype {searchable.dtype}")
        self.search_space = np.ascontiguousarray(searchable.reshape(-1) != 0, dtype=np.uint8)

    def n_searchable(self) -> int:
        """Edges that may be selected: ``size`` when unrestricted."""
        return self.size if self.search_space is None else int(np.count_nonzero(self.search_space))

    def __repr__(self) -> str:
        return f"MaskedParam({self.name!r}, shape={self.shape}, prune_rate={self.prune_rate})"


def _apply(param: MaskedParam, threshold: float, ties: int, history, index: int) -> int:
    s = param.flat("scores")
    track = history is not None
    ever = history.ever[index] if track else _NO_EVER
    if param.search_space is None:
        ties_used, kept, new_ever, flips, nonfinite = _apply_threshold(
            s, param.flat("theta0"), s.dtype.type(threshold), ties,
            param.flat("mask"), param.flat("w_eff"), ever, track,
        )
    else:
        ties_used, kept, new_ever, flips, nonfinite = _apply_threshold_searchable(
            s, param.search_space, param.flat("theta0"), s.dtype.type(threshold), ties,
            param.flat("mask"), param.flat("w_eff"), ever, track,
        )
    _account(param, history, index, kept, new_ever, flips, nonfinite)
    return ties_used


def _account(param: MaskedParam, history, index: int, kept: int, new_ever: int, flips: int, nonfinite: int) -> None:
    if nonfinite:
        raise Diverged(f"{nonfinite} scores of {param.name} are NaN or inf")
    if history is not None:
        history.count(index, kept, new_ever, flips)


_NO_EVER = np.zeros(0, np.uint8)
#: Fewest searched edges for which select runs the layers side by side on several threads.
PARALLEL_EDGES = 1 << 16
_NO_COUNTS = np.zeros((1, 3), np.int64)


def _gather_searchable(param: MaskedParam, buffer: np.ndarray) -> int:
    """Write the |s| of the searchable edges of ``param`` into ``buffer[:m]``; return m."""
    s = param.flat("scores")
    if param.search_space is None:
        _abs_into(s, buffer[: s.size])
        return s.size
    return int(_abs_searchable_into(s, param.search_space, buffer))


def _count_greater(param: MaskedParam, threshold: float) -> int:
    s = param.flat("scores")
    if param.search_space is None:
        return int(_count_greater_abs(s, s.dtype.type(threshold)))
    return int(_count_greater_abs_searchable(s, param.search_space, s.dtype.type(threshold)))


def _restricted_threshold(params: Sequence[MaskedParam], n_keep: int, buffer: np.ndarray) -> tuple[float, int]:
    """Threshold and tie budget for the top ``n_keep`` |s| among the searchable edges of ``params``.

    The searchable |s| are gathered (in param, then index, order) into ``buffer`` and the
    same three-way quickselect as the unrestricted path finds the threshold: O(n).
    """
    if n_keep <= 0:
        return math.inf, 0
    m = 0
    for p in params:
        m += _gather_searchable(p, buffer[m:])
    if n_keep > m:
        names = ", ".join(p.name for p in params)
        raise ValueError(f"prune_rate keeps {n_keep} edges of {names} but only {m} are searchable")
    threshold = float(_kth_largest(buffer[:m], n_keep - 1))
    return threshold, n_keep - sum(_count_greater(p, threshold) for p in params)


def _select_unrestricted(p: MaskedParam, index: int, ever, counts: np.ndarray, count_flips: bool) -> int:
    """Top-k of one unrestricted layer (and row ``index`` of the history counts); returns the non-finite count."""
    track = ever is not None
    return _select_layer(p.scores.reshape(-1), p.theta0.reshape(-1), p._buffer, p.n_keep(),
                         p.mask.reshape(-1), p.w_eff.reshape(-1), ever[index] if track else _NO_EVER, track,
                         p._threshold_hint, counts, index, count_flips)[3]


def select(params: Sequence[MaskedParam], global_topk: bool = False,
           history: "MaskHistory | None" = None, global_buffer: np.ndarray | None = None) -> None:
    """Set every searched param's mask and w_eff from its scores, and update the history.

    Per layer (EP default), each param keeps the top-(1-k) of its own |s|. With
    ``global_topk`` one threshold over all searched params keeps the top-(1-k) of
    them together at the prune rate of the first searched param. Params with
    ``searched = False`` keep every edge (w_eff = theta0) and are not tracked.

    A param with ``search_space`` set (hard pruning, :meth:`MaskedParam.restrict`) keeps
    its top ``n_keep()`` |s| among the searchable edges only, with the same tie rule;
    edges outside ``search_space`` are never selected. Raises ValueError when fewer edges
    are searchable than the prune rate keeps.

    A searched param's ``after_select(param)`` hook, when set, runs once every
    searched param's mask and w_eff are set (multicoated supermasks use it).
    """
    searched = [p for p in params if p.searched]
    if history is not None:
        history.begin_step()
    if global_topk and searched:
        n_total = sum(p.size for p in searched)
        if global_buffer is None or global_buffer.size < n_total:
            raise ValueError("global top-k needs a buffer of at least the number of searched edges")
        n_keep = keep_count(n_total, searched[0].prune_rate)
        if any(p.search_space is not None for p in searched):
            threshold, ties = _restricted_threshold(searched, n_keep, global_buffer)
        else:
            threshold, ties = global_threshold([p.flat("scores") for p in searched], n_keep, global_buffer)
        for i, p in enumerate(searched):
            ties -= _apply(p, threshold, ties, history, i)
    else:
        track = history is not None
        counts, count_flips = (history.counts, history.counts_flips) if track else (_NO_COUNTS, False)

        ever = history.ever if track else None
        if (threads.current() > 1 and len(searched) > 1 and sum(p.size for p in searched) >= PARALLEL_EDGES
                and all(p.search_space is None for p in searched)):
            # layers are independent (each its own threshold, arrays and counts row): side by side
            nonfinite = threads.run([(lambda i=i, p=p: _select_unrestricted(p, i, ever, counts, count_flips))
                                     for i, p in enumerate(searched)])
            for i, p in enumerate(searched):
                if nonfinite[i]:
                    _account(p, None, i, 0, 0, 0, nonfinite[i])
        else:
            for i, p in enumerate(searched):
                if p.search_space is None:  # the hot path: one kernel call per layer, history counts included
                    nonfinite = _select_unrestricted(p, i, ever, counts, count_flips)
                    if nonfinite:
                        _account(p, None, i, 0, 0, 0, nonfinite)
                else:
                    threshold, ties = _restricted_threshold([p], p.n_keep(), p._buffer)
                    _apply(p, threshold, ties, history, i)
    finish_selection(params, history)


def finish_selection(params: Sequence[MaskedParam], history: "MaskHistory | None") -> None:
    """The end of every selection rule: ``after_select`` hooks of the searched params, the
    unsearched ones kept dense (w_eff = theta0, mask all ones), the history's step closed."""
    for p in params:
        if p.searched and p.after_select is not None:
            p.after_select(p)
    for p in params:
        if not p.searched:
            np.copyto(p.w_eff, p.theta0)
            p.mask.fill(1)
    if history is not None:
        history.end_step()
