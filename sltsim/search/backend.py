"""What a search needs from a backend, and the state of one cycle, for NumPy and torch alike.

Every search method (:mod:`sltsim.search.method`) is written once against
:class:`Backend`; the NumPy engine (:class:`sltsim.search.numpy_backend.Search`) and the torch
backend (:class:`sltsim.torch_backend.backend.Run`) implement it. A backend owns
the tensors and the hot loop; a method says what happens between and around cycles.
Everything that crosses the interface is host data: masks are flat ``bool`` NumPy
arrays, scores flat NumPy arrays of the run's dtype, one per searched tensor in
selection order, so a method never touches a device or a kernel.

The searched tensors (``Backend.searched``) expose ``name``, ``size``, ``shape``,
``fan_in``, ``prune_rate`` (settable), ``n_keep()`` and ``n_searchable()`` on both backends.
A history (``Cycle.history``) exposes ``names``, ``sizes``, ``n_searchable`` and
``ever_and_selected()`` (per tensor, the ever-selected and currently selected counts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Protocol, Sequence

import numpy as np


@dataclass
class Cycle:
    """The position and accounting of one cycle, filled by :meth:`Backend.train`.

    prune_rate : the masked fraction of the searched edges at the cycle start.
    history : the backend's mask history of this cycle (None without ``track_history``).
    held_lr : a constant learning rate for the whole cycle (hard iEP FT), else None.
    epoch, step : epochs finished and steps taken in this cycle.
    final_lr : the learning rate of the last step taken.
    epochs : one row per finished epoch (loss, lr, dying ratio, mask churn, ...).
    ever_per_epoch : ever-selected edges over all layers at each epoch end.
    extra : what the method added at the cycle end (:meth:`Method.end_cycle`).
    summary : the cycle's record entry, once finished (:func:`sltsim.search.driver.cycle_summary`).
    """

    prune_rate: float
    history: object = None
    held_lr: Optional[float] = None
    epoch: int = 0
    step: int = 0
    final_lr: float = 0.0
    epochs: list = field(default_factory=list)
    ever_per_epoch: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    summary: Optional[dict] = None


StepHook = Callable[[Cycle], None]
LrFn = Callable[[int, int], float]


def lr_function(config, steps_in_epoch: int, held_lr: Optional[float] = None) -> LrFn:
    """``lr(step, total)`` of one cycle: the config's schedule restarted at step 0 (LR
    rewinding), stepped per epoch or per step (``config.schedule_granularity``), the
    warm-up first (:func:`sltsim.engine.schedules.cycle_lr`); or ``held_lr`` throughout."""
    if held_lr is not None:
        return lambda step, total: held_lr
    from sltsim.engine.schedules import cycle_lr

    return cycle_lr(config.lr, config.schedule, config.schedule_granularity, config.warmup_epochs, steps_in_epoch)


class Backend(Protocol):
    """The operations a search method may ask of a run (NumPy engine or torch)."""

    config: object  # the run's RunConfig
    rngs: dict  # the run's random streams (sltsim.streams)
    ticket: object  # the planted ticket, or None

    @property
    def searched(self) -> Sequence: ...

    def steps_per_epoch(self) -> int: ...

    # -- selection ---------------------------------------------------------------
    def set_prune_rate(self, prune_rate: float) -> None:
        """Every searched tensor's prune rate (a method may then set per-tensor ones)."""

    def select(self) -> None:
        """Set the masks from the current scores, counting nothing in any history."""

    def masks(self) -> list[np.ndarray]:
        """:meth:`select`, then the masks as flat bool host arrays (one copy each)."""

    def peek_masks(self) -> list[np.ndarray]:
        """The masks the current scores select, leaving the masks of the last step in place."""

    def count_selection(self, history) -> None:
        """Select from the current scores and count it as one step of ``history``."""

    def use_raw_ranking(self) -> None:
        """Rank the raw scores s, not |s|, with the identity straight-through (IteRand as released)."""

    def use_coats(self, inner_prune_rates: Sequence[float]) -> None:
        """A multicoated supermask: w_eff = (coats passed) * theta0, gradient times the coats."""

    def coat_multipliers(self) -> list[np.ndarray]:
        """Per searched tensor, the coats each edge passes under the current scores (flat ints)."""

    # -- the carried state of a search ------------------------------------------
    def scores(self) -> list[np.ndarray]:
        """Flat host copies of the searched tensors' scores."""

    def set_scores(self, scores: Sequence[np.ndarray]) -> None: ...

    def initialise_scores(self, rng: np.random.Generator) -> None:
        """Draw every searched tensor's scores afresh from the config's score initialiser."""

    def scores_from_weight_magnitudes(self) -> None:
        """scores = |theta| (magnitude pruning)."""

    def restrict(self, searchable: Optional[Sequence[np.ndarray]]) -> None:
        """Hard pruning: select only where ``searchable`` is true (None lifts it)."""

    def reset_momentum(self) -> None: ...

    def redraw_weights(self, index: int, chosen: np.ndarray, values: np.ndarray) -> None:
        """Write ``values`` into theta0 of searched tensor ``index`` where ``chosen`` (flat bool)."""

    def host_views(self, masks: Sequence[np.ndarray]) -> Sequence:
        """The searched tensors as host objects with ``name``, ``size``, ``searchable`` (uint8 or
        None), ``mask`` and ``flat("scores")``, for score-rank snapshots; ``masks`` are the
        masks just returned by :meth:`masks`."""

    # -- training and evaluation ---------------------------------------------------
    def new_cycle(self, epochs: int, held_lr: Optional[float]) -> Cycle:
        """A fresh cycle (fresh history) at the current prune rates."""

    def train(self, cycle: Cycle, epochs: int, progress: bool, desc: str,
              after_step: Optional[StepHook], after_epoch: Optional[StepHook]) -> None:
        """Train from ``cycle.epoch`` up to ``epochs`` epochs; raise Diverged on NaN/inf."""

    def evaluate(self, split: str) -> tuple[float, float]:
        """(mean loss, accuracy) on ``"train"`` or ``"test"`` with the current masks."""

    # -- what only one backend does ---------------------------------------------
    def resume(self):
        """(method state, finished cycles, next cycle number, unfinished Cycle or None) from a
        checkpoint, or None to start afresh."""

    def checkpoint(self, cycle_number: int, cycle: Optional[Cycle], state: dict, cycles: list) -> None: ...

    def final_metrics(self, cycle: Optional[Cycle]) -> dict:
        """Record fields the backend adds once the final masks are evaluated (planted metrics)."""

    def record_extras(self) -> dict:
        """Fields the backend adds to every record (the torch version and device)."""
