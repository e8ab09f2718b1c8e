"""The edge-popup training loop shared by every search method.

Each step: masks = topk(|s|) (fused with the history update; a method may set its own rule) -> forward/backward
-> SGD on the scores. :func:`build_search` makes the model, the data and the
optimiser from a config; :func:`run_cycle` runs one EP cycle (one fresh
:class:`MaskHistory`); :func:`summarise` turns the final state into a record.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
from tqdm.auto import tqdm

from sltsim.config import RunConfig
from sltsim.data import REAL_DATASETS, Dataset, batches, steps_per_epoch
from sltsim.engine.evaluate import evaluate  # noqa: F401  (re-exported)
from sltsim.engine.loss import mse, softmax_cross_entropy
from sltsim.engine.models import build_model
from sltsim.engine.optim import SGD, SGDConfig
from sltsim.engine.schedules import cycle_lr
from sltsim.engine.supermask import select
from sltsim.errors import Diverged
from sltsim.init import initialise_scores, initialise_weights
from sltsim.metrics.history import MaskHistory
from sltsim.registry import METHODS
from sltsim.streams import STREAMS, make_rngs  # noqa: F401  (re-exported)


@dataclass
class Search:
    """Everything one run mutates: model, data, optimiser and random streams."""

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
    # the rule that sets every step's masks: engine.supermask.select (top-k of |s|), or a
    # method's own with select's signature (IteRand as released ranks the raw scores)
    selector: Optional[Callable] = None

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


def set_prune_rate(search: Search, prune_rate: float) -> None:
    for p in search.searched:
        p.prune_rate = prune_rate


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
    optimizer = SGD(params, SGDConfig(config.momentum, config.weight_decay, config.nesterov))
    n_searched = sum(p.size for p in params if p.searched)
    global_topk = config.global_topk or _method_forces_global_topk(config)
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


def _method_forces_global_topk(config: RunConfig) -> bool:
    return bool(getattr(METHODS[config.method], "global_topk", False))


@dataclass
class CycleResult:
    prune_rate: float
    history: Optional[MaskHistory]
    epochs: list = field(default_factory=list)
    final_lr: float = 0.0
    extra: dict = field(default_factory=dict)  # JSON-ready per-cycle accounting a method adds


LrFn = Callable[[int, int], float]


def default_lr(config: RunConfig, steps_in_epoch: int) -> LrFn:
    """The config's schedule over one cycle, restarted at step 0 (LR rewinding).

    Stepped per epoch or per step (``config.schedule_granularity``), the warm-up first:
    :func:`sltsim.engine.schedules.cycle_lr`.
    """
    return cycle_lr(config.lr, config.schedule, config.schedule_granularity, config.warmup_epochs, steps_in_epoch)


def train_step(search: Search, xb: np.ndarray, yb: np.ndarray, history: Optional[MaskHistory],
               lr: float) -> tuple[float, np.ndarray]:
    """One edge-popup step: m_t = topk(|s|) (and the history) -> forward -> loss -> backprop -> SGD.

    Returns (mean loss, outputs). A non-finite loss returns before backprop and the
    SGD step, so the scores stay as they were; the caller decides what to raise.
    ``python -m sltsim.bench`` times exactly this function.
    """
    search.select_masks(history)
    out, backprop = search.model.forward(xb, train=True)
    loss, dout = search.loss(out, yb)
    if math.isfinite(loss):
        backprop(dout)
        search.optimizer.step(lr)
    return loss, out


def run_cycle(search: Search, epochs: int, lr_fn: LrFn | None = None, progress: bool = False,
              desc: str = "EP") -> CycleResult:
    """Train the scores for ``epochs`` epochs at the params' current prune rates.

    A fresh MaskHistory counts the dying edges of this cycle (DESIGN.md: the
    history is reset at every cycle start). Raises :class:`Diverged` on a NaN/inf loss.
    """
    config, data, model = search.config, search.data, search.model
    n = data.X_train.shape[0]
    per_epoch = steps_per_epoch(n, config.batch_size)
    total = epochs * per_epoch
    lr_fn = lr_fn or default_lr(config, per_epoch)
    history = MaskHistory(search.searched, total) if config.track_history else None
    result = CycleResult(prune_rate=_masked_fraction(search), history=history)
    step = 0
    lr = lr_fn(0, total)
    bar = tqdm(range(epochs), desc=desc, unit="epoch", leave=False, disable=not progress)
    for epoch in bar:
        t0 = time.perf_counter()
        loss_sum, correct = 0.0, 0
        for idx in batches(n, config.batch_size, search.rngs["batches"]):
            xb, yb = data.X_train[idx], data.y_train[idx]
            lr = lr_fn(step, total)
            loss, out = train_step(search, xb, yb, history, lr)
            if not math.isfinite(loss):
                raise Diverged(f"loss became {loss} at step {search.step} (epoch {epoch + 1}); "
                               f"try a lower lr than {config.lr}")
            loss_sum += loss * len(idx)
            if yb.ndim == 1:
                correct += int((out.argmax(axis=1) == yb).sum())
            step += 1
            search.step += 1
        row = {"epoch": epoch + 1, "lr": lr, "loss": loss_sum / n,
               "train_acc_running": correct / n if data.y_train.ndim == 1 else math.nan,
               "seconds": time.perf_counter() - t0}
        if history is not None:
            row["dying_ratio"] = history.dying_ratio()
            row["mask_churn"] = history.take_mask_churn()
        result.epochs.append(row)
        bar.set_postfix(loss=f"{row['loss']:.3f}", dying=f"{row.get('dying_ratio', math.nan):.3f}")
    result.final_lr = lr
    return result


def _masked_fraction(search: Search) -> float:
    searched = search.searched
    return float(sum(p.size - p.n_keep() for p in searched) / max(sum(p.size for p in searched), 1))


def final_masks(search: Search) -> None:
    """Set the masks from the final scores (m_{T+1}) without touching any history."""
    search.select_masks()


def cycle_summary(search: Search, cycle: CycleResult) -> dict:
    """Dying-edge accounting of one cycle: totals and per layer."""
    out = {"prune_rate": cycle.prune_rate, "epochs": cycle.epochs, "final_lr": cycle.final_lr}
    h = cycle.history
    if h is None:
        out.update(cycle.extra)
        return out
    d = h.dying_ratio()
    masked = 1.0 - h.n_selected.sum() / h.sizes.sum()
    out.update(dying_ratio=d, k_minus_d=float(masked - d), reverted_ratio=h.reverted_ratio())
    out["per_layer"] = {
        name: {"size": int(size), "prune_rate": float(1 - sel / size), "dying_ratio": float(1 - ev / size),
               "k_minus_d": float((1 - sel / size) - (1 - ev / size))}
        for name, size, sel, ev in zip(h.names, h.sizes, h.n_selected, h.n_ever)
    }
    out.update(cycle.extra)
    return out


def summarise(search: Search, cycles: list[CycleResult], status: str = "ok", reason: str = "") -> dict:
    """The record of a finished run: config, final accuracy and loss, dying ratios."""
    config = search.config
    record: dict = {"key": config.key(), "config": config.to_dict(), "status": status}
    if reason:
        record["reason"] = reason
    summaries = [cycle_summary(search, c) for c in cycles]
    record["cycles"] = summaries
    last = summaries[-1] if summaries else {}
    for name in ("dying_ratio", "k_minus_d", "reverted_ratio", "per_layer",
                 "dying_ratio_apparent", "dying_ratio_worst_case"):
        if name in last:
            record[name] = last[name]
    record["prune_rate"] = last.get("prune_rate", config.final_prune_rate)
    if status == "ok":
        final_masks(search)
        loss_fn = search.loss
        data = search.data
        record["loss"], record["train_acc"] = evaluate(search.model, data.X_train, data.y_train, loss_fn)
        record["test_loss"], record["test_acc"] = evaluate(search.model, data.X_test, data.y_test, loss_fn)
        if search.ticket is not None:
            from sltsim.metrics.planted import planted_metrics

            record.update(planted_metrics(search, cycles[-1].history))
    return record
