"""MaskHistory: which edges were ever selected, and the dying ratio after every step.

Words (DESIGN.md): ever-selected e_t = m_1 OR ... OR m_t; an edge is *dying* when
e_t = 0; the dying ratio d_t = mean(1 - e_t) (paper Eq. 2), so d = k right after the
first forward pass and d never increases; a *reverted* edge has e_t = 1 and m_t = 0
(within one cycle; a *revived* edge, ``revived_ratio``, is one of m*_i outside m*_{i-1}).

The ever-selected bitmaps are updated inside the fused selection kernel
(:func:`sltsim.engine.supermask.select`); this class owns the bitmaps and the
per-step counters, preallocated for ``max_steps`` so the update allocates nothing.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


class MaskHistory:
    """Ever-selected bitmaps and per-step counts for a list of searched params.

    Parameters
    ----------
    params : the searched :class:`~sltsim.engine.supermask.MaskedParam` s, in selection order.
    max_steps : the number of training steps this history will see (one cycle).
    """

    def __init__(self, params: Sequence, max_steps: int):
        self.names = [p.name for p in params]
        self.sizes = np.array([p.size for p in params], dtype=np.int64)
        # edges each param may select this cycle (hard pruning restricts it; see
        # MaskedParam.restrict): the denominator of the apparent dying ratio
        self.n_searchable = np.array([_n_searchable(p) for p in params], dtype=np.int64)
        # per param: [edges in the current mask m_t, ever-selected edges, mask flips since
        # the last epoch mark]; the selection kernel writes these rows in place
        self.counts = np.zeros((len(params), 3), np.int64)
        self.n_selected = self.counts[:, 0]
        self.ever = [np.zeros(p.size, np.uint8) for p in params]
        self.n_ever = self.counts[:, 1]
        self.flips = self.counts[:, 2]
        # (steps, layers): ever-selected count after each step
        self.ever_per_step = np.zeros((max(int(max_steps), 1), len(params)), np.int64)
        self.step = 0
        self._first = True
        # first selection at log2 resolution, for the planted metrics: after steps
        # 1, 2, 4, 8, ... and the last one, edges selected for the first time get the
        # snapshot's number j (1-based; 0 = not selected by any snapshot yet), so an
        # edge with j was first selected at a step in (snapshot_steps[j-2], snapshot_steps[j-1]]
        self.first_selected = [np.zeros(p.size, np.uint8) for p in params]
        self.snapshot_steps: list[int] = []
        self._next_snapshot = 1

    # -- called by select() -------------------------------------------------
    @property
    def counts_flips(self) -> bool:
        """Whether the next selection's mask flips count as churn: False only before the
        first selection, whose flips are from the all-ones placeholder mask."""
        return not self._first

    def begin_step(self) -> None:
        if self.step >= self.ever_per_step.shape[0]:
            raise RuntimeError(f"MaskHistory sized for {self.ever_per_step.shape[0]} steps, got more")

    def count(self, index: int, kept: int, new_ever: int, flips: int) -> None:
        self.n_selected[index] = kept
        self.n_ever[index] += new_ever
        if self.counts_flips:
            self.flips[index] += flips

    def end_step(self) -> None:
        self.ever_per_step[self.step] = self.n_ever
        self.step += 1
        self._first = False
        if self.step == self._next_snapshot or self.step == self.ever_per_step.shape[0]:
            self.snapshot_first_selected()

    def snapshot_first_selected(self) -> None:
        """Stamp the edges selected since the last snapshot with the next snapshot number.

        O(edges); called by :meth:`end_step` only after steps 1, 2, 4, 8, ... and the
        last step, so it costs O(edges * log2(steps)) per cycle.
        """
        if self.snapshot_steps and self.snapshot_steps[-1] == self.step:
            return
        j = len(self.snapshot_steps) + 1
        if j > 255:
            return
        for ever, first in zip(self.ever, self.first_selected):
            first[(ever != 0) & (first == 0)] = j
        self.snapshot_steps.append(self.step)
        while self._next_snapshot <= self.step:
            self._next_snapshot *= 2

    # -- read-outs ----------------------------------------------------------
    def ever_and_selected(self) -> tuple[np.ndarray, np.ndarray]:
        """(n_ever, n_selected) per param: ever-selected edges and the edges of the current mask."""
        return self.n_ever.copy(), self.n_selected.copy()

    def dying_ratio(self) -> float:
        """d_t over all searched edges: the fraction never selected so far."""
        return float(1.0 - self.n_ever.sum() / self.sizes.sum())

    def dying_ratio_apparent(self) -> float:
        """Dying ratio among the searchable edges only (hard iEP's "apparent" ratio).

        Edges outside the search space can never be selected, so they are left out of
        both counts: 1 - ever-selected / searchable. Equals :meth:`dying_ratio` when
        every edge is searchable; NaN when no edge is. The worst-case ratio of hard
        pruning (every edge outside the search space counted as dying) is :meth:`dying_ratio`.
        """
        return _ratio_dying(self.n_ever.sum(), self.n_searchable.sum())

    def dying_ratio_apparent_per_layer(self) -> dict[str, float]:
        return {n: _ratio_dying(e, s) for n, e, s in zip(self.names, self.n_ever, self.n_searchable)}

    def reverted_ratio(self) -> float:
        """Fraction of all searched edges that were selected once but are masked now."""
        return float((self.n_ever - self.n_selected).sum() / self.sizes.sum())

    def dying_curve(self) -> np.ndarray:
        """(steps,) the total dying ratio after each step so far."""
        counts = self.ever_per_step[: self.step].sum(axis=1)
        return 1.0 - counts / self.sizes.sum()

    def take_mask_churn(self) -> float:
        """The mask churn: mask flips (edges whose m_t differs from m_{t-1}) per searched edge
        since the last call (one call per epoch), then reset."""
        churn = float(self.flips.sum() / self.sizes.sum())
        self.flips[:] = 0
        return churn

    def dying_masks(self) -> list[np.ndarray]:
        """Per searched param, a boolean array (flat) that is True where the edge is dying."""
        return [e == 0 for e in self.ever]


def _n_searchable(param) -> int:
    searchable = getattr(param, "search_space", None)
    return int(param.size) if searchable is None else int(np.count_nonzero(searchable))


def _ratio_dying(n_ever, n_searchable) -> float:
    return float(1.0 - n_ever / n_searchable) if n_searchable > 0 else float("nan")
