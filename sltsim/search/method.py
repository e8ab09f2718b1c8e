"""The search-method protocol: what a method does between and around the cycles of a run.

A method is written once, against :class:`sltsim.search.backend.Backend`, and runs on
either backend through the one driver (:func:`sltsim.search.driver.run_method`). It
says which prune rate each cycle runs at and for how many epochs
(:meth:`Method.prune_rates`, :meth:`Method.epochs`), what it sets up on every start
(:meth:`Method.prepare`), what it carries from one cycle into the next
(:meth:`Method.initial_state`, :meth:`Method.start_cycle`), what it does after each
optimiser step (:meth:`Method.after_step`, None when nothing) and what it adds to a
finished cycle's summary (:meth:`Method.end_cycle`). The carried state is a dict of
host arrays and plain values, so a torch checkpoint holds it as it is.

Adding a method means one module with one :class:`Method` subclass and one
``register`` call (see ``tests/search/test_new_method.py``).
"""

from __future__ import annotations

from typing import Optional


class Method:
    """Defaults: EP's shape, one cycle at the final prune rate of ``config.epochs`` epochs."""

    name = ""
    description = ""
    options: tuple = ()  # the RunConfig fields this method owns: any other method refuses them set
    record_fields: tuple = ()  # fields of the last cycle's summary repeated at the top of the record
    global_topk = False  # True forces one |s| threshold over all searched tensors
    trains_weights = False  # True: SGD on theta0 instead of the scores (the dense baseline)
    searches_from_scores = False  # True: the first mask comes from s0, so a start control applies
    after_step = None  # or a method after_step(backend, state, cycle), run after every optimiser step

    def validate(self, config) -> None:
        if config.cycles != 1 or config.shrinkage is not None:
            raise ValueError(f"method {config.method} runs one cycle: cycles must be 1 and shrinkage unset, "
                             f"got cycles={config.cycles}, shrinkage={config.shrinkage}")

    def final_prune_rate(self, config) -> float:
        return config.prune_rate

    def prune_rates(self, config) -> list[float]:
        return [config.prune_rate]

    def epochs(self, config, cycle: int) -> int:
        return config.epochs

    def prepare(self, backend) -> None:
        """Set up what is not carried state (called on every start, resumed or not)."""

    def initial_state(self, backend) -> dict:
        return {}

    def start_cycle(self, backend, cycle: int, state: dict, cycles: list) -> Optional[float]:
        """Prepare cycle ``cycle`` (1-based; prune rates already set); return a held lr or None."""
        return None

    def end_cycle(self, backend, cycle: int, state: dict, result) -> dict:
        """What the finished cycle ``result`` (a :class:`~sltsim.search.backend.Cycle`) adds to its summary."""
        return {}

    def run(self, backend, progress: bool = False, **hooks) -> list:
        """Every cycle of this method on ``backend``; the :class:`~sltsim.search.backend.Cycle` s."""
        from sltsim.search.driver import run_method

        return run_method(backend, self, progress, **hooks)
