"""Iterative edge-popup on the torch backend: the mirror of :mod:`sltsim.search.iterative`.

Every Table 3 variant (hard FT/SRw/SRi/LR, soft LR, soft LR/SRw with zero init) with
the engine's per-cycle prune rates (:mod:`sltsim.search.schedule`), carried state,
optimiser reset, hard search spaces (``MaskedTensor.restrict``) and per-cycle
accounting (apparent and worst-case dying ratios, revived ratio, masked counts, the
Fig. 5b score-rank snapshot of the same sampled edges, and the loss and accuracy of
each cycle's final mask m*_i).
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from sltsim.torch_backend.cycle import evaluate
from sltsim.torch_backend.init import initialise_scores_
from sltsim.torch_backend.methods import TorchMethod
from sltsim.torch_backend.supermask import select


class TorchIterative(TorchMethod):
    """One row of the paper's Table 3, as :class:`sltsim.search.iterative.IterativeEdgePopup` runs it."""

    def __init__(self, variant):
        self.variant = variant
        self.name = variant.name

    def prune_rates(self, config) -> list[float]:
        from sltsim.search import schedule

        return list(schedule.from_config(config).prune_rates)

    def initial_state(self, run) -> dict:
        from sltsim.search.iterative import RankSample

        searched = run.searched
        sample = RankSample.draw(searched, run.rngs["method"])  # the engine's draw, same stream
        return {"s0": [t.scores.detach().clone() for t in searched], "previous": None,
                "sample_layer": torch.from_numpy(sample.layer), "sample_index": torch.from_numpy(sample.index)}

    def start_cycle(self, run, cycle: int, state: dict, summaries: list) -> Optional[float]:
        previous = state["previous"]
        if previous is None:
            return None
        v, config, searched = self.variant, run.config, run.searched
        if not config.keep_momentum:
            run.optimizer.state.clear()  # momentum restarts with each cycle, as the engine's reset_state
        with torch.no_grad():
            if v.scores == "rewind":
                for t, s in zip(searched, state["s0"]):
                    t.scores.copy_(s)
            elif v.scores == "reinit":
                initialise_scores_(run.masked, config.score_init, config.final_prune_rate, run.rngs["method"])
            for t, m in zip(searched, previous):
                if v.zero_init:
                    t.scores.view(-1).masked_fill_(~m, 0)
                if v.hard:
                    t.restrict(m)
        return summaries[-1]["final_lr"] if v.fine_tune else None

    def end_cycle(self, run, cycle: int, state: dict, cycle_state) -> dict:
        from sltsim.search.iterative import RankSample

        searched, previous = run.searched, state["previous"]
        masks = select(run.masked, run.net.global_topk)  # m*_i, from the final scores
        n_total = sum(t.size for t in searched)
        kept = [int(m.sum()) for m in masks]
        extra: dict = {
            "cycle": cycle,
            "search_space": "hard" if self.variant.hard else "soft",
            "searchable_ratio": sum(t.n_allowed() for t in searched) / n_total,
            "n_masked": {t.name: int(t.size - k) for t, k in zip(searched, kept)},
        }
        if previous is not None:
            revived = sum(int((m & ~q).sum()) for m, q in zip(masks, previous))
            extra["revived_ratio"] = revived / max(sum(kept), 1)
        h = cycle_state.history
        if h is not None:
            n_ever, n_selected = h.counts()
            searchable = int(h.n_searchable.sum())
            apparent = float(1.0 - n_ever.sum() / searchable)
            extra["dying_ratio_apparent"] = apparent
            extra["dying_ratio_worst_case"] = float(1.0 - n_ever.sum() / h.sizes.sum())
            extra["k_minus_d_apparent"] = float((searchable - n_selected.sum()) / searchable - apparent)
            extra["dying_ratio_apparent_per_layer"] = {
                n: float(1.0 - e / max(int(s), 1)) for n, e, s in zip(h.names, n_ever, h.n_searchable)}
            for row, ever in zip(cycle_state.epochs, cycle_state.ever_per_epoch):
                row["dying_ratio_apparent"] = float(1.0 - ever / searchable)
        sample = RankSample(state["sample_layer"].cpu().numpy(), state["sample_index"].cpu().numpy())
        extra["score_ranks"] = sample.snapshot(_HostViews(searched, masks))
        # loss and accuracy of m*_i: the per-cycle points of Fig. 3b (the engine's cycle_accuracy)
        extra["loss"], extra["train_acc"] = evaluate(run, "train")
        extra["test_loss"], extra["test_acc"] = evaluate(run, "test")
        state["previous"] = masks
        return extra


class _HostView:
    """A searched tensor as the engine's selection_positions and RankSample read it (NumPy, flat)."""

    def __init__(self, t, mask: torch.Tensor):
        self.name, self.size = t.name, t.size
        self._scores = t.scores.detach().cpu().numpy().reshape(-1)
        self.allowed = None if t.allowed is None else t.allowed.cpu().numpy().astype(np.uint8)
        self.mask = mask.cpu().numpy().astype(np.uint8)

    def flat(self, name: str) -> np.ndarray:
        if name != "scores":
            raise KeyError(name)
        return self._scores


class _HostViews:
    """Host copies made only for the tensors the rank sample touches."""

    def __init__(self, tensors, masks):
        self.tensors, self.masks, self.views = tensors, masks, {}

    def __getitem__(self, i: int) -> _HostView:
        i = int(i)
        if i not in self.views:
            self.views[i] = _HostView(self.tensors[i], self.masks[i])
        return self.views[i]

    def __len__(self) -> int:
        return len(self.tensors)
