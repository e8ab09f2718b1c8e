"""The prune rate of each cycle of the iterative methods (paper Sec. 4.1, Table 3).

("Schedule" in sltsim means the learning-rate schedule only, :mod:`sltsim.engine.schedules`.)

Cycle i = 1..C runs at the overall prune rate

    k_i = 1 - (1 - p)^i,

where p is the shrinkage rate: each cycle masks a fraction p of the edges that the
previous cycle kept, so the remaining ratio falls by the factor (1 - p) per cycle.
Soft iEP masks k_i of all edges; hard iEP masks p of the remaining ones, which is the
same overall count ((1-p)^i remaining), searched among the previous cycle's mask
only. Either way a layer of n edges has exactly ``floor(k_i * n + 0.5)`` masked
(:func:`sltsim.engine.topk.masked_count`).

Two ways to set it (the ``--shrinkage`` and ``--prune-rate`` flags, with ``--cycles C``):

- shrinkage p given: k_i = 1 - (1 - p)^i; the final prune rate is 1 - (1 - p)^C.
  ``prune_rate`` is then redundant: it must be left at its default or equal that
  final value (within 1e-9), otherwise the config is refused. (A prune_rate equal
  to the default, 0.5, cannot be told apart from one left unset and is ignored.)
- shrinkage unset: the final prune rate is ``prune_rate`` = k and the remaining
  ratio falls by (1 - k)^(1/C) per cycle, k_i = 1 - (1 - k)^(i/C), as in the
  paper's ImageNet setting (30 % remaining after 3 cycles, 0.3^(1/3) per cycle).
  This needs C >= 2: one cycle at k is plain edge-popup (``--method ep``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# An explicit prune_rate may differ from 1 - (1-p)^C by this much (float rounding).
PRUNE_RATE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class CycleRates:
    """The overall prune rate k_i of each cycle i = 1..C.

    Parameters
    ----------
    prune_rates : (C,) non-decreasing prune rates in [0, 1), one per cycle.
    """

    prune_rates: tuple[float, ...]

    def __post_init__(self):
        rates = tuple(float(k) for k in self.prune_rates)
        if not rates:
            raise ValueError("prune_rates must hold at least one cycle, got none")
        if any(not (math.isfinite(k) and 0.0 <= k < 1.0) for k in rates):
            raise ValueError(f"prune_rates must each be in [0, 1), got {rates}")
        if any(b < a for a, b in zip(rates, rates[1:])):
            raise ValueError(f"prune_rates must not decrease from cycle to cycle, got {rates}")
        object.__setattr__(self, "prune_rates", rates)

    @property
    def cycles(self) -> int:
        return len(self.prune_rates)

    @property
    def final_prune_rate(self) -> float:
        return self.prune_rates[-1]

    @property
    def remaining(self) -> tuple[float, ...]:
        """(C,) remaining ratio 1 - k_i after each cycle."""
        return tuple(1.0 - k for k in self.prune_rates)

    def prune_rate(self, cycle: int) -> float:
        """k_i of cycle ``cycle`` (1-based)."""
        if not 1 <= cycle <= self.cycles:
            raise ValueError(f"cycle must be in [1, {self.cycles}], got {cycle}")
        return self.prune_rates[cycle - 1]


def geometric(shrinkage: float, cycles: int) -> CycleRates:
    """k_i = 1 - (1 - p)^i for i = 1..C (shrinkage p in (0, 1))."""
    _check_cycles(cycles)
    if not (isinstance(shrinkage, (int, float)) and 0.0 < shrinkage < 1.0):
        raise ValueError(f"shrinkage must be in (0, 1), got {shrinkage}")
    return CycleRates(tuple(1.0 - (1.0 - shrinkage) ** i for i in range(1, cycles + 1)))


def towards(prune_rate: float, cycles: int) -> CycleRates:
    """k_i = 1 - (1 - k)^(i/C): the remaining ratio falls by (1 - k)^(1/C) per cycle.

    The last entry is ``prune_rate`` itself, exactly.
    """
    _check_cycles(cycles)
    if not 0.0 <= prune_rate < 1.0:
        raise ValueError(f"prune_rate must be in [0, 1), got {prune_rate}")
    rates = [1.0 - (1.0 - prune_rate) ** (i / cycles) for i in range(1, cycles)]
    return CycleRates(tuple(min(k, prune_rate) for k in rates) + (float(prune_rate),))


def from_config(config) -> CycleRates:
    """The per-cycle prune rates of an iterative method's :class:`~sltsim.config.RunConfig`.

    Raises ValueError (one line) for cycles = 1 without a shrinkage, and for a
    prune_rate that contradicts the shrinkage (see the module docstring).
    """
    from sltsim.config import RunConfig

    if config.shrinkage is not None:
        rates = geometric(config.shrinkage, config.cycles)
        default = RunConfig.__dataclass_fields__["prune_rate"].default
        final = rates.final_prune_rate
        if config.prune_rate != default and abs(config.prune_rate - final) > PRUNE_RATE_TOLERANCE:
            raise ValueError(
                f"prune_rate must be 1-(1-shrinkage)^cycles = {final:.6g} when shrinkage is set "
                f"(or be left unset), got prune_rate={config.prune_rate} with shrinkage={config.shrinkage}, "
                f"cycles={config.cycles}")
        return rates
    if config.cycles < 2:
        raise ValueError(f"method {config.method} needs cycles: give --cycles C >= 2 (with --prune-rate k or "
                         f"--shrinkage p), got cycles={config.cycles} and no shrinkage")
    return towards(config.prune_rate, config.cycles)


def _check_cycles(cycles) -> None:
    if not isinstance(cycles, int) or isinstance(cycles, bool) or cycles <= 0:
        raise ValueError(f"cycles must be a positive integer, got {cycles!r}")
