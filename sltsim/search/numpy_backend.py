"""The NumPy engine as a search backend (:class:`sltsim.search.backend.Backend`).

:func:`build_search` makes the model, the data and the optimiser from a config;
:class:`Search` holds what a run mutates and implements the backend operations.
Its hot loop is :mod:`sltsim.search.loop`. The methods and the record builder are
backend-neutral (:mod:`sltsim.search.method`, :mod:`sltsim.search.driver`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from sltsim.config import RunConfig
from sltsim.data import REAL_DATASETS, Dataset, steps_per_epoch
from sltsim.engine.evaluate import evaluate
from sltsim.engine.loss import mse, softmax_cross_entropy
from sltsim.engine.models import build_model
from sltsim.engine.optim import SGD, SGDConfig
from sltsim.engine.supermask import select
from sltsim.init import initialise_scores, initialise_weights
from sltsim.metrics.history import MaskHistory
from sltsim.registry import METHODS
from sltsim.search.backend import Cycle
from sltsim.search.loop import train_cycle
from sltsim.streams import make_rngs


@dataclass
class Search:
    """Everything one engine run mutates: model, data, optimiser and random streams."""

    config: RunConfig
    model: object
    data: Dataset
    optimizer: SGD
    rngs: dict
    ticket: object = None  # a planted ticket, when data == "planted"
    global_buffer: Optional[np.ndarray] = None
    step: int = 0  # steps taken over all cycles
    # one |s| threshold over all searched layers: config.global_topk, or a method that
    # forces it (a method object with ``global_topk = True``, e.g. ep-global)
    global_topk: bool = False
    # the rule that sets every step's masks: engine.supermask.select (top-k of |s|), or
    # engine.raw_ranking.select_raw (IteRand as released ranks the raw scores)
    selector: Optional[Callable] = None
    grad_scale: int = 1  # dL/dw_eff times this before the SGD step (the coats of a multicoated supermask)
    coats: tuple = ()  # the engine.coats.Coats hooks, in searched order

    def select_masks(self, history: Optional[MaskHistory] = None) -> None:
        """Set the masks m_t (and w_eff) from the current scores, updating ``history`` if given."""
        (self.selector or select)(self.params, self.global_topk, history, self.global_buffer)

    @property
    def params(self) -> list:
        return self.model.params

    @property
    def searched(self) -> list:
        return [p for p in self.model.params if p.searched]

    def loss(self, outputs, targets):
        return softmax_cross_entropy(outputs, targets) if self.data.task == "classification" else mse(outputs, targets)

    def update(self, lr: float) -> None:
        """The SGD step on the scores (or weights) from the gradients of the last backprop."""
        if self.grad_scale != 1:
            for p in self.searched:
                p.grad *= self.grad_scale
        self.optimizer.step(lr)

    # -- the Backend operations (sltsim.search.backend) ---------------------------
    def steps_per_epoch(self) -> int:
        return steps_per_epoch(self.data.X_train.shape[0], self.config.batch_size)

    def set_prune_rate(self, prune_rate: float) -> None:
        for p in self.searched:
            p.prune_rate = prune_rate

    def select(self) -> None:
        self.select_masks()

    def masks(self) -> list[np.ndarray]:
        self.select_masks()
        return [p.flat("mask") != 0 for p in self.searched]

    def peek_masks(self) -> list[np.ndarray]:
        searched = self.searched
        used = [p.mask.copy() for p in searched]  # m_t, the mask of the last forward pass
        self.select_masks()
        peeked = [p.flat("mask") != 0 for p in searched]
        for p, m_t in zip(searched, used):  # m_t back, so the next step's flips compare against it
            np.copyto(p.mask, m_t)
            np.multiply(p.mask, p.theta0, out=p.w_eff)
        return peeked

    def count_selection(self, history) -> None:
        self.select_masks(history)

    def use_raw_ranking(self) -> None:
        from sltsim.engine.raw_ranking import select_raw

        self.selector = select_raw
        self.optimizer.identity_straight_through = True

    def use_coats(self, inner_prune_rates) -> None:
        from sltsim.engine.coats import attach_coats

        self.coats = tuple(attach_coats(self.params, inner_prune_rates))
        self.grad_scale = 1 + len(inner_prune_rates)

    def coat_multipliers(self) -> list[np.ndarray]:
        self.select_masks()
        return [h.counts.copy() for h in self.coats]

    def scores(self) -> list[np.ndarray]:
        return [p.scores.reshape(-1).copy() for p in self.searched]

    def set_scores(self, scores) -> None:
        for p, s in zip(self.searched, scores):
            np.copyto(p.scores, np.reshape(s, p.shape))

    def initialise_scores(self, rng: np.random.Generator) -> None:
        initialise_scores(self.params, self.config.score_init, self.config.final_prune_rate, rng)

    def scores_from_weight_magnitudes(self) -> None:
        for p in self.searched:
            np.abs(p.theta0, out=p.scores)

    def restrict(self, searchable) -> None:
        for p, a in zip(self.searched, searchable if searchable is not None else [None] * len(self.searched)):
            p.restrict(a)

    def reset_momentum(self) -> None:
        self.optimizer.reset_state()

    def redraw_weights(self, index: int, chosen: np.ndarray, values: np.ndarray) -> None:
        p = self.searched[index]
        p.flat("theta0")[chosen] = values
        np.multiply(p.mask, p.theta0, out=p.w_eff)

    def host_views(self, masks) -> list:
        return self.searched  # their masks are the ones masks() just set

    def new_cycle(self, epochs: int, held_lr: Optional[float]) -> Cycle:
        history = MaskHistory(self.searched, epochs * self.steps_per_epoch()) if self.config.track_history else None
        return Cycle(prune_rate=_masked_fraction(self), history=history, held_lr=held_lr)

    def train(self, cycle: Cycle, epochs: int, progress: bool = False, desc: str = "EP",
              after_step=None, after_epoch=None) -> None:
        train_cycle(self, cycle, epochs, progress, desc, after_step, after_epoch)

    def evaluate(self, split: str) -> tuple[float, float]:
        X, y = (self.data.X_train, self.data.y_train) if split == "train" else (self.data.X_test, self.data.y_test)
        return evaluate(self.model, X, y, self.loss)

    def resume(self):
        return None  # an engine run is short; a study resumes by cell, not inside one

    def checkpoint(self, cycle_number: int, cycle, state: dict, cycles: list) -> None:
        return None

    def final_metrics(self, cycle) -> dict:
        if self.ticket is None:
            return {}
        from sltsim.metrics.planted import planted_metrics

        return planted_metrics(self, cycle.history if cycle is not None else None)

    def record_extras(self) -> dict:
        return {}


def build_search(config: RunConfig) -> Search:
    """Model with theta0 drawn, data, scores drawn, SGD on the scores, all from ``config.seed``."""
    rngs = make_rngs(config.seed)
    dtype = np.dtype(config.dtype)
    ticket = None
    if config.data == "planted":
        from sltsim import planted

        input_shape, n_outputs = planted.student_io(config)
    else:
        data = REAL_DATASETS[config.data](dtype=dtype, image=not config.model.startswith("mlp"))
        input_shape, n_outputs = data.input_shape, data.n_outputs
    model = build_model(config.model, input_shape, n_outputs, bias=config.bias,
                        score_bias=config.score_bias, dtype=dtype)
    params = model.params
    weights = [p for p in params if p.name.endswith(".weight")]
    if config.dense_first and weights:
        weights[0].searched = False
    if config.dense_last and weights:
        weights[-1].searched = False
    final_k = config.final_prune_rate
    for p in params:
        p.prune_rate = config.prune_rate if p.searched else 0.0
    initialise_weights(params, config.weight_init, final_k, rngs["weights"])
    if config.data == "planted":
        data, ticket = planted.make_planted(config, model, rngs["data"])
    if config.random_labels:
        data = shuffled_labels(data, rngs["data"])
    initialise_scores(params, config.score_init, final_k, rngs["scores"])
    if ticket is not None:  # the start control (start_overlap) and the first mask's share of P
        from sltsim.controls import start_controls

        ticket = start_controls(params, ticket, config)
    # the dense baseline trains theta0 of every param instead of the scores (a method's trains_weights)
    method = METHODS[config.method]
    target = "weights" if method.trains_weights else "scores"
    optimizer = SGD(params, SGDConfig(config.momentum, config.weight_decay, config.nesterov), target=target)
    n_searched = sum(p.size for p in params if p.searched)
    global_topk = config.global_topk or method.global_topk
    # twice the searched edges: gathered |s| and the top-k kernel's scratch (engine.topk.global_threshold)
    buffer = np.empty(2 * n_searched, dtype) if global_topk else None
    return Search(config, model, data, optimizer, rngs, ticket, buffer, global_topk=global_topk)


def shuffled_labels(data: Dataset, rng: np.random.Generator) -> Dataset:
    """``data`` with its training targets randomly permuted over the examples; test targets kept.

    The random-labels sanity check of Su et al. (NeurIPS 2020): a search that finds the
    same structure on permuted labels does not rely on what the data say. A permutation
    keeps the class counts; only the pairing of inputs and labels is lost.
    """
    import dataclasses

    return dataclasses.replace(data, y_train=data.y_train[rng.permutation(data.y_train.shape[0])])


def _masked_fraction(search: Search) -> float:
    searched = search.searched
    return float(sum(p.size - p.n_keep() for p in searched) / max(sum(p.size for p in searched), 1))
