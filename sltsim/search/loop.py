"""The engine's hot loop: the steps of one cycle.

Each step: masks = topk(|s|) (fused with the history update; a method may set its own
rule) -> forward/backward -> SGD on the scores. :func:`train_cycle` is what
:meth:`sltsim.search.numpy_backend.Search.train` runs; ``python -m sltsim.bench`` times
:func:`train_step`.
"""

from __future__ import annotations

import math
import time
from typing import Optional

import numpy as np
from tqdm.auto import tqdm

from sltsim.data import batches, steps_per_epoch
from sltsim.errors import Diverged
from sltsim.metrics.history import MaskHistory
from sltsim.search.backend import Cycle, lr_function


def train_step(search, xb: np.ndarray, yb: np.ndarray, history: Optional[MaskHistory],
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
        search.update(lr)
    return loss, out


def train_cycle(search, cycle: Cycle, epochs: int, progress: bool = False, desc: str = "EP",
                after_step=None, after_epoch=None) -> None:
    """Train the scores from ``cycle.epoch`` up to ``epochs`` epochs at the params' current prune rates.

    The cycle's history (fresh at every cycle start, DESIGN.md) counts the dying edges.
    ``after_step(cycle)`` runs after every SGD step, ``after_epoch(cycle)`` after every
    epoch's row. Raises :class:`Diverged` on a NaN/inf loss (or score, at selection).
    """
    config, data = search.config, search.data
    n = data.X_train.shape[0]
    per_epoch = steps_per_epoch(n, config.batch_size)
    total = epochs * per_epoch
    lr_fn = lr_function(config, per_epoch, cycle.held_lr)
    history = cycle.history
    bar = tqdm(range(cycle.epoch, epochs), desc=desc, unit="epoch", leave=False, disable=not progress)
    for epoch in bar:
        t0 = time.perf_counter()
        loss_sum, correct = 0.0, 0
        for idx in batches(n, config.batch_size, search.rngs["batches"]):
            xb, yb = data.X_train[idx], data.y_train[idx]
            lr = lr_fn(cycle.step, total)
            loss, out = train_step(search, xb, yb, history, lr)
            if not math.isfinite(loss):
                raise Diverged(f"loss became {loss} at step {search.step} (epoch {epoch + 1}); "
                               f"try a lower lr than {config.lr}")
            loss_sum += loss * len(idx)
            if yb.ndim == 1:
                correct += int((out.argmax(axis=1) == yb).sum())
            cycle.step += 1
            search.step += 1
            cycle.final_lr = lr
            if after_step is not None:
                after_step(cycle)
        row = {"epoch": epoch + 1, "lr": lr, "loss": loss_sum / n,
               "train_acc_running": correct / n if data.y_train.ndim == 1 else math.nan,
               "seconds": time.perf_counter() - t0}
        if history is not None:
            cycle.ever_per_epoch.append(int(history.n_ever.sum()))
            row["dying_ratio"] = history.dying_ratio()
            row["mask_churn"] = history.take_mask_churn()
        cycle.epochs.append(row)
        cycle.epoch = epoch + 1
        bar.set_postfix(loss=f"{row['loss']:.3f}", dying=f"{row.get('dying_ratio', math.nan):.3f}")
        if after_epoch is not None:
            after_epoch(cycle)


def run_cycle(search, epochs: int, progress: bool = False, desc: str = "EP") -> Cycle:
    """One cycle of ``epochs`` epochs at the current prune rates, summarised (tests, analysis)."""
    from sltsim.search.driver import cycle_summary

    cycle = search.new_cycle(epochs, None)
    search.train(cycle, epochs, progress, desc)
    cycle.summary = cycle_summary(cycle)
    return cycle
