"""Learning-rate schedules over one cycle, stepped per epoch (default) or per step.

A schedule is a multiplier of the base lr as a function of a position ``t`` in
``[0, total)``. A linear warm-up over the first ``warmup`` units *precedes* it:
for ``t < warmup`` the lr is ``base * (t + 1) / warmup``, after it the schedule runs
over the remaining ``total - warmup`` units from its start, so ``t = warmup`` gets
the full base lr. The unit is the granularity:

- ``"epoch"`` (default): the lr is set once at the start of each epoch and held for
  all its steps, ``t`` = the epoch index. This is how the edge-popup release steps
  its cosine (Ramanujan et al., "What's Hidden in a Randomly Weighted Neural
  Network?", CVPR 2020; allenai/hidden-networks, ``utils/schedulers.py``
  ``cosine_lr`` and ``_warmup_lr``, called once per epoch in ``main.py``).
- ``"step"``: the lr changes at every optimiser step, ``t`` = the step index (as a
  per-iteration ``CosineAnnealingLR`` with ``eta_min = 0``).

Cosine is ``0.5 * (1 + cos(pi * t / total))`` with ``eta_min = 0``; ``step`` is our
decay by ``gamma`` at fixed fractions of the (post-warm-up) cycle, not the release's
``multistep_lr`` (decay every ``lr_adjust`` epochs).
"""

from __future__ import annotations

import math
from typing import Callable

from sltsim import registry


def constant(t: int, total: int) -> float:
    return 1.0


def cosine(t: int, total: int) -> float:
    return 0.5 * (1.0 + math.cos(math.pi * t / max(total, 1)))


def step_decay(t: int, total: int, gamma: float = 0.1, milestones: tuple = (0.5, 0.75)) -> float:
    """lr * gamma at each milestone (fractions of the cycle): 0.5 and 0.75 by default."""
    return gamma ** sum(t >= m * total for m in milestones)


for _name, _schedule in (("constant", constant), ("cosine", cosine), ("step", step_decay)):
    registry.register(registry.SCHEDULES, _name, _schedule)
del _name, _schedule
GRANULARITIES = ("epoch", "step")

LrFn = Callable[[int, int], float]


def learning_rate(base_lr: float, schedule: str, t: int, total: int, warmup: int = 0) -> float:
    """The lr at position ``t`` (0-based) of a cycle of ``total`` units, ``warmup`` of them warm-up.

    The units are epochs or steps, whichever the caller steps in (see the module
    docstring); the warm-up precedes the schedule, which spans ``total - warmup``.
    """
    if warmup > 0 and t < warmup:
        return base_lr * (t + 1) / warmup
    return base_lr * registry.get(registry.SCHEDULES, schedule, "schedule")(t - warmup, max(total - warmup, 1))


def cycle_lr(base_lr: float, schedule: str, granularity: str, warmup_epochs: int, steps_in_epoch: int) -> LrFn:
    """``lr(step, total_steps)`` of one cycle (restarted at step 0 each cycle: LR rewinding).

    ``granularity == "epoch"``: the lr of step ``step`` is that of its epoch
    ``step // steps_in_epoch`` in a cycle of ``total_steps // steps_in_epoch`` epochs.
    ``granularity == "step"``: per step, the warm-up spanning ``warmup_epochs * steps_in_epoch``.
    """
    if granularity not in GRANULARITIES:
        raise ValueError(f"schedule_granularity must be one of {', '.join(GRANULARITIES)}; got {granularity!r}")
    if steps_in_epoch <= 0:
        raise ValueError(f"steps_in_epoch must be a positive integer, got {steps_in_epoch!r}")
    if granularity == "epoch":
        return lambda step, total: learning_rate(base_lr, schedule, step // steps_in_epoch,
                                                 max(total // steps_in_epoch, 1), warmup_epochs)
    warmup = warmup_epochs * steps_in_epoch
    return lambda step, total: learning_rate(base_lr, schedule, step, total, warmup)
