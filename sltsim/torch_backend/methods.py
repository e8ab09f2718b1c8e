"""The search methods on the torch backend, each the mirror of its engine method.

A torch method says which prune rate each cycle runs at and for how many epochs,
what it carries from one cycle into the next (:meth:`TorchMethod.start_cycle`,
called before a cycle's first step and never when a checkpoint resumes inside the
cycle), what it does after each optimiser step (:meth:`TorchMethod.after_step`) and
what it adds to a finished cycle's summary (:meth:`TorchMethod.end_cycle`). Its
carried state is a dict of tensors and plain values, so checkpoints hold it as it
is. The driver is :func:`sltsim.torch_backend.run.run_method`.

Mirrored: ``ep``, ``ep-global``, every Table 3 variant of :mod:`sltsim.search.iterative`
(:mod:`.iterative`), ``iterand``, ``multicoat``, ``random-uniform``, ``random-smart``,
``rearranged-ep`` and ``dense`` (:mod:`.baselines`). A method without a mirror is
refused with one line by :func:`get`.
"""

from __future__ import annotations

from typing import Optional


class TorchMethod:
    """Defaults: one cycle at the final prune rate of ``config.epochs`` epochs, nothing carried."""

    name = ""
    trains_weights = False  # the dense baseline trains theta0 instead of the scores
    record_fields: tuple = ()  # last-cycle fields repeated at the top of the record

    def prune_rates(self, config) -> list[float]:
        return [config.prune_rate]

    def epochs(self, config, cycle: int) -> int:
        return config.epochs

    def prepare(self, run) -> None:
        """Set up what is not carried state (called on every start, resumed or not)."""

    def initial_state(self, run) -> dict:
        return {}

    def start_cycle(self, run, cycle: int, state: dict, summaries: list) -> Optional[float]:
        """Prepare cycle ``cycle`` (prune rates already set); return a held lr or None."""
        return None

    def end_cycle(self, run, cycle: int, state: dict, cycle_state) -> dict:
        return {}


class TorchEdgePopup(TorchMethod):
    """EP: one cycle at the final prune rate k from s0 (Ramanujan et al., 2020)."""

    name = "ep"


class TorchGlobalEdgePopup(TorchEdgePopup):
    """EP with one |s| threshold over all searched layers (the engine's ``ep-global``)."""

    name = "ep-global"  # the global threshold is forced by the engine method's global_topk


def _mirrors() -> dict:
    from sltsim.search.iterative import VARIANTS
    from sltsim.torch_backend import baselines
    from sltsim.torch_backend.iterative import TorchIterative

    methods = [TorchEdgePopup(), TorchGlobalEdgePopup(), *(TorchIterative(v) for v in VARIANTS),
               *baselines.METHODS]
    return {m.name: m for m in methods}


METHODS = _mirrors()


def get(name: str):
    """The torch mirror of ``--method name``; one-line ValueError when there is none."""
    if name not in METHODS:
        raise ValueError(f"method {name} is not mirrored by the torch backend yet (mirrored: "
                         f"{', '.join(sorted(METHODS))}); run it with --backend numpy")
    return METHODS[name]
