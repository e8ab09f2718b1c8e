"""Iterative edge-popup (iEP): every variant of the paper's Table 3 (Sec. 4).

Cycle i = 1..C is one edge-popup cycle of the driver (:func:`sltsim.search.driver.run_method`,
a fresh mask history per cycle) at the prune rate k_i of :mod:`sltsim.search.cycle_rates`.
m*_i is the cycle's final mask: the top-k of its final scores s*_i at k_i
(:meth:`~sltsim.search.backend.Backend.masks`). What the variants
carry from cycle i-1 into cycle i:

=================  =============  ======================  =================  =======
method             search space   scores at cycle start    learning rate      zeroed
=================  =============  ======================  =================  =======
``hard-ft``        m*_{i-1} th0   s*_{i-1}                 gamma*_{i-1}, held  -
``hard-srw``       m*_{i-1} th0   s0 (bit for bit)         schedule restarts   -
``hard-sri``       m*_{i-1} th0   fresh draw               schedule restarts   -
``hard-lr``        m*_{i-1} th0   s*_{i-1}                 schedule restarts   -
``soft-lr``        th0            s*_{i-1}                 schedule restarts   -
``soft-lr-zero``   th0            m*_{i-1} * s*_{i-1}      schedule restarts   yes
``soft-srw-zero``  th0            m*_{i-1} * s0            schedule restarts   yes
=================  =============  ======================  =================  =======

- Hard: the edges outside m*_{i-1} can never be selected again
  (:meth:`~sltsim.search.backend.Backend.restrict`); the prune rate k_i still
  counts over all edges, so each cycle masks p of the remaining ones.
- Soft (the paper's proposal; ``soft-lr`` is its default): every edge stays searchable.
- FT (fine-tuning): cycles after the first run at the final learning rate of the
  previous cycle held constant (the paper, Sec. 4.1: cycles after the first keep the
  first cycle's final learning rate). With the default per-epoch schedule that is the
  last epoch's lr (for the cosine, ``lr * (1 + cos(pi * (E-1) / E)) / 2`` after E
  epochs without warm-up), not the near-zero lr of the last step of a per-step
  cosine. All others rewind the learning rate: the config's schedule (warm-up
  included) restarts each cycle.
- SRi draws new scores from the config's score initialiser with the run's
  ``"method"`` random stream (deterministic per seed), at the final prune rate as
  the backend's build does for s0.
- Zero init (soft pruning "w/ zero init", after soft filter pruning): exactly the
  scores of the edges outside m*_{i-1} are set to 0. The straight-through gradient is
  sign(s) * dL/dw_eff * theta0 with sign(0) = 0 and weight decay adds wd * s = 0, so
  a zeroed score gets no update and stays 0 for good: |s| = 0 ranks last, and the
  edge is never selected again while nonzero scores outnumber the kept edges.
  This is the mechanism behind the paper's finding that zero init induces dying
  edges (Sec. 4.2): soft pruning with zero init acts as hard pruning
  (``soft-lr-zero`` selects exactly what ``hard-lr`` selects, ``soft-srw-zero`` what
  ``hard-srw`` does). That holds under two conditions: the |s| straight-through
  gradient (an identity straight-through, as IteRand's raw-score mask, gives a
  zeroed score theta0 * dL/dw_eff and revives it) and the momentum reset below.
- Momentum buffers are reset at every cycle start (a new cycle starts a new search,
  as a fresh ``torch.optim.SGD`` per cycle would). ``keep_momentum = True`` carries
  them over instead: a zeroed score then moves by lr * mu * v from its old velocity
  and can re-enter the mask, so zero init no longer equals hard pruning.

Per-cycle accounting (``record["cycles"][i]``, added to the loop's summary):
``dying_ratio`` (Eq. 2 over all searched edges, history reset each cycle) and
``k_minus_d``; ``dying_ratio_apparent`` (dying among the searchable edges, m*_{i-1}
for hard methods) and ``dying_ratio_worst_case`` (every edge removed earlier also
counted as dying; this *is* ``dying_ratio``, the same formula as for EP and soft iEP);
``revived_ratio`` (share of m*_i outside m*_{i-1}, across cycles; 0 for hard methods by
construction; not the *reverted* edges of one cycle, e_t = 1 and m_t = 0); ``n_masked`` per
layer; on planted targets ``false_negative_dying`` and ``true_negative_dying``; ``score_ranks``, the Fig. 5b snapshot (see
:class:`RankSample`); and ``loss``, ``train_acc``, ``test_loss``, ``test_acc`` of m*_i
(:func:`cycle_accuracy`). The record's top-level keys describe the final cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from sltsim.search import cycle_rates
from sltsim.search.method import Method

RANK_SAMPLE_SIZE = 200  # edges whose score rank is followed across cycles (the paper's Fig. 5b)


@dataclass(frozen=True)
class Variant:
    """One row of Table 3.

    hard : search space m*_{i-1} theta0 (True) or theta0 (False).
    scores : at cycle start, "inherit" s*_{i-1}, "rewind" to s0, or "reinit" (fresh draw).
    zero_init : zero the scores of the edges outside m*_{i-1} at cycle start.
    fine_tune : hold gamma*_{i-1} after cycle 1 instead of restarting the schedule.
    """

    name: str
    hard: bool
    scores: str
    zero_init: bool
    fine_tune: bool
    description: str


VARIANTS = (
    Variant("hard-ft", True, "inherit", False, True,
            "hard iEP, fine-tuning: search m*_{i-1}, scores s*_{i-1}, lr held at the previous cycle's final lr"),
    Variant("hard-srw", True, "rewind", False, False,
            "hard iEP, score rewinding: search m*_{i-1}, scores s0, lr schedule restarts"),
    Variant("hard-sri", True, "reinit", False, False,
            "hard iEP, score reinitialising: search m*_{i-1}, fresh scores, lr schedule restarts"),
    Variant("hard-lr", True, "inherit", False, False,
            "hard iEP, lr rewinding: search m*_{i-1}, scores s*_{i-1}, lr schedule restarts"),
    Variant("soft-lr", False, "inherit", False, False,
            "soft iEP (paper default): search all edges, scores s*_{i-1}, lr schedule restarts"),
    Variant("soft-lr-zero", False, "inherit", True, False,
            "soft iEP, lr rewinding + zero init: scores m*_{i-1}*s*_{i-1}, lr schedule restarts"),
    Variant("soft-srw-zero", False, "rewind", True, False,
            "soft iEP, score rewinding + zero init: scores m*_{i-1}*s0, lr schedule restarts"),
)

class IterativeEdgePopup(Method):
    """One Table 3 variant as a search method (``--method NAME``), on either backend.

    The carried state: ``s0`` (host copies of the scores at the run start), ``previous``
    (m*_{i-1}, flat bool per searched tensor, None before cycle 2) and the rank sample.
    """

    searches_from_scores = True

    def __init__(self, variant: Variant):
        self.variant = variant
        self.name = variant.name
        self.description = variant.description

    def validate(self, config) -> None:
        cycle_rates.from_config(config)

    def final_prune_rate(self, config) -> float:
        return cycle_rates.from_config(config).final_prune_rate

    def prune_rates(self, config) -> list[float]:
        return list(cycle_rates.from_config(config).prune_rates)

    def initial_state(self, backend) -> dict:
        s0 = backend.scores()
        sample = RankSample.draw(backend.searched, backend.rngs["method"])
        return {"s0": s0, "previous": None, "sample": [sample.layer, sample.index]}

    def start_cycle(self, backend, cycle: int, state: dict, cycles: list) -> Optional[float]:
        """Carry cycle i-1 into cycle i: optimiser state, scores, search space; FT's held lr."""
        previous = state["previous"]
        if previous is None:
            return None
        v, config = self.variant, backend.config
        if not config.keep_momentum:
            backend.reset_momentum()
        if v.scores == "rewind":
            backend.set_scores(state["s0"])
        elif v.scores == "reinit":
            backend.initialise_scores(backend.rngs["method"])
        if v.zero_init:
            scores = backend.scores()
            for s, m in zip(scores, previous):
                s[~m] = 0
            backend.set_scores(scores)
        if v.hard:
            backend.restrict(previous)
        return cycles[-1].final_lr if v.fine_tune else None

    def end_cycle(self, backend, cycle: int, state: dict, result) -> dict:
        """The cycle's accounting (module docstring), with m*_i set from the final scores."""
        searched, previous = backend.searched, state["previous"]
        masks = backend.masks()  # m*_i
        n_total = sum(t.size for t in searched)
        kept = [int(np.count_nonzero(m)) for m in masks]
        extra: dict = {
            "cycle": cycle,
            "search_space": "hard" if self.variant.hard else "soft",
            "searchable_ratio": sum(t.n_searchable() for t in searched) / n_total,
            "n_masked": {t.name: int(t.size - k) for t, k in zip(searched, kept)},
        }
        if previous is not None:
            revived = sum(int(np.count_nonzero(m & ~q)) for m, q in zip(masks, previous))
            extra["revived_ratio"] = revived / max(sum(kept), 1)
        h = result.history
        if h is not None:
            n_ever, n_selected = h.ever_and_selected()
            searchable = int(h.n_searchable.sum())
            apparent = _ratio_dying(n_ever.sum(), searchable)
            extra["dying_ratio_apparent"] = apparent
            extra["dying_ratio_worst_case"] = float(1.0 - n_ever.sum() / h.sizes.sum())  # = dying_ratio
            extra["k_minus_d_apparent"] = float((searchable - n_selected.sum()) / searchable - apparent)
            extra["dying_ratio_apparent_per_layer"] = {
                n: _ratio_dying(e, s) for n, e, s in zip(h.names, n_ever, h.n_searchable)}
            for row, ever in zip(result.epochs, result.ever_per_epoch):
                row["dying_ratio_apparent"] = float(1.0 - ever / searchable)
            if backend.ticket is not None:
                extra.update(planted_dying_split(backend, h))
        sample = RankSample(*(np.asarray(a, np.int64) for a in state["sample"]))
        extra["score_ranks"] = sample.snapshot(backend.host_views(masks))
        extra.update(cycle_accuracy(backend))
        state["previous"] = masks
        return extra


def _ratio_dying(n_ever, n_searchable) -> float:
    """1 - ever-selected / searchable; NaN when nothing is searchable."""
    return float(1.0 - n_ever / n_searchable) if n_searchable > 0 else float("nan")


def cycle_accuracy(backend) -> dict:
    """Loss and accuracy of m*_i (the masks just set) on the train and test splits: the
    per-cycle points of the paper's Fig. 3b curves (accuracy against 1 - k_i). The last
    cycle's values equal the record's top-level ``test_acc`` etc."""
    train_loss, train_acc = backend.evaluate("train")
    test_loss, test_acc = backend.evaluate("test")
    return {"loss": train_loss, "train_acc": train_acc, "test_loss": test_loss, "test_acc": test_acc}


@dataclass(frozen=True)
class RankSample:
    """A fixed random sample of edges whose score rank is recorded at every cycle end.

    layer : (m,) index into the searched params; index : (m,) flat edge index.
    """

    layer: np.ndarray
    index: np.ndarray

    @classmethod
    def draw(cls, params, rng: np.random.Generator, size: int = RANK_SAMPLE_SIZE) -> "RankSample":
        """Up to ``size`` distinct edges, uniform over all searched edges, in (layer, index) order."""
        sizes = np.array([p.size for p in params], np.int64)
        total = int(sizes.sum())
        pick = np.sort(rng.choice(total, size=min(size, total), replace=False))
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        layer = np.searchsorted(offsets, pick, side="right") - 1
        return cls(layer.astype(np.int64), (pick - offsets[layer]).astype(np.int64))

    def snapshot(self, params) -> dict:
        """Ranks of the sampled edges in their layer's selection order, with each layer's threshold.

        ``rank`` = position / n in [0, 1): 0 is the top edge, ordering by searchable first,
        then |s| descending, then index (the order :func:`~sltsim.engine.supermask.select`
        uses). ``threshold`` is the layer's kept fraction in the current mask (about
        1 - k_i), so an edge is selected exactly when ``rank < threshold``.
        """
        rank = np.zeros(self.index.size)
        threshold = np.zeros(self.index.size)
        for li in np.unique(self.layer):
            p = params[li]
            at = self.layer == li
            rank[at] = selection_positions(p)[self.index[at]] / p.size
            threshold[at] = np.count_nonzero(p.mask) / p.size
        return {"layer": [params[li].name for li in self.layer], "index": self.index.tolist(),
                "rank": rank.tolist(), "threshold": threshold.tolist()}


def selection_positions(param) -> np.ndarray:
    """(size,) each edge's 0-based position in the selection order of ``param`` (0 = kept first)."""
    a = np.abs(param.flat("scores"))
    outside = np.zeros(a.size, np.uint8) if param.search_space is None else 1 - param.search_space
    order = np.lexsort((np.arange(a.size), -a, outside))
    positions = np.empty(a.size, np.int64)
    positions[order] = np.arange(a.size)
    return positions


def planted_dying_split(search, history) -> dict:
    """False- and true-negative dying edges of one cycle on a planted target P.

    ``false_negative_dying`` / ``true_negative_dying``: dying edges of the cycle in / not
    in P, over all searched edges (fn + tn = ``dying_ratio``); ``ticket_dying_ratio``: the
    share of P that is dying. For a restricted (hard) search space the ``*_apparent``
    versions count only the searchable edges, over the searchable edges, and
    ``ticket_removed_ratio`` is the share of P already outside the search space (edges
    of P hard pruning can no longer find). Counts: :func:`sltsim.metrics.planted.fn_tn_counts`.
    """
    from sltsim.metrics.planted import fn_tn_counts

    searched = search.searched
    ticket = [search.ticket.masks[p.name].reshape(-1) != 0 for p in searched]
    dying = history.dying_masks()
    fn, tn = fn_tn_counts(dying, ticket)
    total, n_ticket = int(history.sizes.sum()), sum(int(t.sum()) for t in ticket)
    out = {"false_negative_dying": int(fn.sum()) / total, "true_negative_dying": int(tn.sum()) / total,
           "ticket_dying_ratio": int(fn.sum()) / n_ticket if n_ticket else float("nan")}
    if any(p.search_space is not None for p in searched):
        spaces = [np.ones(p.size, bool) if p.search_space is None else p.search_space != 0 for p in searched]
        fn_a, tn_a = fn_tn_counts([d & a for d, a in zip(dying, spaces)], ticket)
        searchable = int(history.n_searchable.sum())
        removed = sum(int(np.count_nonzero(t & ~a)) for t, a in zip(ticket, spaces))
        out.update(false_negative_dying_apparent=int(fn_a.sum()) / searchable,
                   true_negative_dying_apparent=int(tn_a.sum()) / searchable,
                   ticket_removed_ratio=removed / n_ticket if n_ticket else float("nan"))
    return out


METHODS = tuple(IterativeEdgePopup(v) for v in VARIANTS)
