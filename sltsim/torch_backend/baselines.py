"""The baselines on the torch backend, each the mirror of its engine module.

- ``iterand`` (:mod:`sltsim.search.iterand`, Chijiwa et al. 2021): EP on the raw scores
  (identity straight-through, as released), and before every K-th step each weight
  that z(s) masks is redrawn from its initialiser with probability lambda, from the
  ``"method"`` stream in the engine's order; ``iterand_ranking = "abs"``: |s| and a
  redraw after every K-th update.
- ``multicoat`` (:mod:`sltsim.search.multicoat`, Okoshi et al. 2022, linear): W_eff =
  (coats passed) * theta0, straight-through gradient times the number of coats.
- ``random-uniform``, ``random-smart`` (:mod:`sltsim.search.random_ticket`, Su et al.
  2020): one random mask per layer at EP's or the smart ratios, nothing trained.
- ``rearranged-ep``: EP, then its final mask shuffled within each layer.
- ``dense`` (:mod:`sltsim.search.dense`): SGD on the weights at prune rate 0, magnitude
  pruning to k, fine-tuning with the mask fixed.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from sltsim.init import WEIGHT_INITS
from sltsim.search.multicoat import coats_of
from sltsim.search.random_ticket import RearrangedEdgePopup, architecture_family, smart_keep_counts
from sltsim.torch_backend.cycle import evaluate, steps_per_epoch
from sltsim.torch_backend.init import _numpy_dtype
from sltsim.torch_backend.methods import TorchEdgePopup, TorchMethod
from sltsim.torch_backend.supermask import coat_multipliers, select


class TorchIteRand(TorchEdgePopup):
    """Raw ranking (as released): redraws before steps K, 2K, ...; abs: after every K-th update."""

    name = "iterand"

    def prepare(self, run) -> None:
        raw = run.config.iterand_ranking == "raw"
        for t in run.searched:
            t.ranking = "raw" if raw else "abs"

    def initial_state(self, run) -> dict:
        return {"events": 0, "redrawn": 0}

    def start_cycle(self, run, cycle: int, state: dict, summaries: list):
        config = run.config
        if config.iterand_ranking == "raw" and config.iterand_period == 1 and self._total(run) > 0:
            self._redraw(run, state)  # before step 1
        return None

    def after_step(self, run, state: dict, cycle_state) -> None:
        config, done = run.config, cycle_state.step
        if config.iterand_ranking == "raw":
            due = done < self._total(run) and (done + 1) % config.iterand_period == 0
        else:
            due = done % config.iterand_period == 0
        if due:
            self._redraw(run, state)

    @staticmethod
    def _total(run) -> int:
        return run.config.epochs * steps_per_epoch(run)

    @staticmethod
    def _redraw(run, state: dict) -> None:
        state["redrawn"] += rerandomize(run, run.config.iterand_rate, run.rngs["method"])
        state["events"] += 1

    def end_cycle(self, run, cycle: int, state: dict, cycle_state) -> dict:
        n_searched = sum(t.size for t in run.searched)
        return {"rerandomizations": state["events"], "redrawn_weights": state["redrawn"],
                "redraws_per_edge": state["redrawn"] / max(n_searched, 1)}


@torch.no_grad()
def rerandomize(run, rate: float, rng: np.random.Generator) -> int:
    """Redraw each weight masked by z(s) with probability ``rate``; the number redrawn.

    The history is not touched: z(s) is looked at, not used by a forward pass.
    """
    config = run.config
    init = WEIGHT_INITS[config.weight_init]
    total = 0
    for t, z in zip(run.searched, select(run.masked, run.net.global_topk)):
        chosen = ~z.cpu().numpy() & (rng.random(t.size) < rate)  # one host sync every K steps
        n = int(np.count_nonzero(chosen))
        if n:
            values = np.asarray(init((n,), t.fan_in, config.final_prune_rate, rng), _numpy_dtype(t))
            index = torch.from_numpy(np.flatnonzero(chosen)).to(t.theta0.device)
            t.theta0.view(-1)[index] = torch.from_numpy(values).to(t.theta0.device)
        total += n
    return total


class TorchMultiCoat(TorchEdgePopup):
    name = "multicoat"

    def prepare(self, run) -> None:
        coats = coats_of(run.config)
        for t in run.searched:
            if not all(k > t.prune_rate for k in coats):
                raise ValueError(f"coats must each exceed the prune rate {t.prune_rate} of {t.name}, "
                                 f"got {coats}")
        run.net.coats = coats

    def end_cycle(self, run, cycle: int, state: dict, cycle_state) -> dict:
        counts = coat_multipliers(run.masked, select(run.masked, run.net.global_topk), run.net.coats)
        kept = sum(int(torch.count_nonzero(c)) for c in counts)
        return {"coat_prune_rates": [run.config.prune_rate, *run.net.coats],
                "mean_multiplier_of_kept": sum(int(c.sum()) for c in counts) / max(kept, 1)}


class TorchRandomTicket(TorchMethod):
    def __init__(self, name: str, smart: bool):
        self.name, self.smart = name, smart

    def epochs(self, config, cycle: int) -> int:
        return 0  # nothing is trained

    @torch.no_grad()
    def start_cycle(self, run, cycle: int, state: dict, summaries: list):
        rng = run.rngs["method"]
        searched = run.searched
        for t in searched:
            # distinct |s| = a random permutation of 1..n: the top-(1-k) is a uniform random subset
            ranks = np.asarray(rng.permutation(t.size) + 1, _numpy_dtype(t)).reshape(t.shape)
            t.scores.copy_(torch.from_numpy(ranks))
        if self.smart:
            counts = smart_keep_counts([t.size for t in searched], run.config.prune_rate,
                                       architecture_family(run.config.model))
            for t, n_keep in zip(searched, counts):
                t.prune_rate = 1.0 - int(n_keep) / t.size
                if t.n_keep() != n_keep:  # pragma: no cover - float rounding guard
                    raise RuntimeError(f"{t.name}: prune rate {t.prune_rate} keeps {t.n_keep()}, not {n_keep}")
        return None

    def end_cycle(self, run, cycle: int, state: dict, cycle_state) -> dict:
        if cycle_state.history is not None:  # the one mask ever used: e = m, d = k
            cycle_state.history.update(select(run.masked, run.net.global_topk))
        return {}


class TorchRearrangedEdgePopup(TorchEdgePopup):
    name = "rearranged-ep"
    record_fields = RearrangedEdgePopup.record_fields

    @torch.no_grad()
    def end_cycle(self, run, cycle: int, state: dict, cycle_state) -> dict:
        ep_masks = select(run.masked, run.net.global_topk)
        ep_loss, ep_train_acc = evaluate(run, "train")
        ep_test_loss, ep_test_acc = evaluate(run, "test")
        rng = run.rngs["method"]
        for t in run.searched:
            # permuting the scores permutes the mask they select (ties at the threshold aside)
            flat = t.scores.view(-1)
            flat.copy_(flat[torch.from_numpy(rng.permutation(t.size)).to(flat.device)])
        masks = select(run.masked, run.net.global_topk)
        kept = sum(int(m.sum()) for m in ep_masks)
        both = sum(int((m & q).sum()) for m, q in zip(ep_masks, masks))
        return {"ep_loss": ep_loss, "ep_train_acc": ep_train_acc, "ep_test_loss": ep_test_loss,
                "ep_test_acc": ep_test_acc, "rearranged_overlap": both / kept if kept else math.nan}


class TorchDense(TorchMethod):
    """Cycle 1 trains theta0 densely (prune rate 0); cycle 2 fine-tunes at the magnitude mask."""

    name = "dense"
    trains_weights = True

    def prune_rates(self, config) -> list[float]:
        return [0.0, config.prune_rate]

    @torch.no_grad()
    def start_cycle(self, run, cycle: int, state: dict, summaries: list):
        if cycle == 2:  # magnitude pruning: scores = |theta|, never updated again
            for t in run.searched:
                t.scores.copy_(t.theta0.abs())
            run.optimizer.state.clear()
        return None

    def end_cycle(self, run, cycle: int, state: dict, cycle_state) -> dict:
        return {"phase": "dense" if cycle == 1 else "fine-tune"}


METHODS = (TorchIteRand(), TorchMultiCoat(), TorchRandomTicket("random-uniform", smart=False),
           TorchRandomTicket("random-smart", smart=True), TorchRearrangedEdgePopup(), TorchDense())
