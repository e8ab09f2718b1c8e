"""Learning-rate schedules: lr as a function of the step within a cycle.

Each schedule maps (step, total_steps) to a multiplier of the base lr; a linear
warm-up over ``warmup_steps`` multiplies any of them. Cosine follows
torch's CosineAnnealingLR with eta_min = 0, stepped per iteration.
"""

from __future__ import annotations

import math


def constant(step: int, total: int) -> float:
    return 1.0


def cosine(step: int, total: int) -> float:
    return 0.5 * (1.0 + math.cos(math.pi * step / max(total, 1)))


def step_decay(step: int, total: int, gamma: float = 0.1, milestones: tuple = (0.5, 0.75)) -> float:
    """lr * gamma at each milestone (fractions of the cycle): 0.5 and 0.75 by default."""
    return gamma ** sum(step >= m * total for m in milestones)


SCHEDULES = {"constant": constant, "cosine": cosine, "step": step_decay}


def learning_rate(base_lr: float, schedule: str, step: int, total: int, warmup_steps: int = 0) -> float:
    """The learning rate at ``step`` (0-based) of a cycle of ``total`` steps."""
    factor = SCHEDULES[schedule](step, total)
    if warmup_steps > 0 and step < warmup_steps:
        factor *= (step + 1) / warmup_steps
    return base_lr * factor
