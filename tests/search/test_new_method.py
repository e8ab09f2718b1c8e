"""A new search method is one class and one ``register`` call: here, written in this file alone.

Random-restart EP runs EP ``cycles`` times at the final prune rate, each restart from fresh
scores, and keeps the restart whose mask fits the training data best. Nothing else in
the package knows of it, yet it validates, runs on the engine and on torch through the
one driver, gets the dying-edge accounting of every cycle, and its record on torch is
the engine's.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from sltsim.config import RunConfig
from sltsim.registry import METHODS
from sltsim.search.method import Method


class RandomRestartEdgePopup(Method):
    """EP restarted ``cycles`` times from fresh scores; the restart with the lowest training loss is kept."""

    name = "ep-restarts"
    description = "EP restarted from fresh scores `cycles` times at k; the best restart on the training loss is kept"
    record_fields = ("best_restart",)

    def validate(self, config) -> None:
        if config.shrinkage is not None:
            raise ValueError(f"method {self.name} restarts at the final prune rate: shrinkage must be unset, "
                             f"got {config.shrinkage}")

    def prune_rates(self, config) -> list[float]:
        return [config.prune_rate] * config.cycles

    def start_cycle(self, backend, cycle: int, state: dict, cycles: list):
        if cycle > 1:
            backend.reset_momentum()
            backend.initialise_scores(backend.rngs["method"])
        return None

    def end_cycle(self, backend, cycle: int, state: dict, result) -> dict:
        backend.select()
        loss, _ = backend.evaluate("train")
        if "best" not in state or loss < state["best_loss"]:
            state.update(best=backend.scores(), best_loss=loss, best_cycle=cycle)
        if cycle == len(self.prune_rates(backend.config)):
            backend.set_scores(state["best"])  # the record evaluates the best restart's mask
        return {"restart_loss": loss, "best_restart": state["best_cycle"]}


@pytest.fixture
def registered(monkeypatch):
    method = RandomRestartEdgePopup()
    monkeypatch.setitem(METHODS, method.name, method)
    return method


CONFIG = dict(method="ep-restarts", cycles=3, model="mlp:64,32,10", data="digits", dtype="float64", epochs=1,
              batch_size=128, prune_rate=0.6)


def test_a_method_defined_outside_the_package_runs_on_the_engine(registered):
    from sltsim.search import run_search

    record = run_search(RunConfig(**CONFIG))
    assert record["status"] == "ok" and len(record["cycles"]) == 3
    losses = [c["restart_loss"] for c in record["cycles"]]
    assert len(set(losses)) == 3, "the restarts start from different scores"
    best = int(np.argmin(losses)) + 1
    assert record["best_restart"] == best
    assert record["loss"] == losses[best - 1]  # the final masks are the best restart's
    for c in record["cycles"]:  # a fresh history per restart: d = k after the first mask, then falls
        assert 0.0 < c["dying_ratio"] < 0.6 and c["prune_rate"] == pytest.approx(0.6, abs=1e-3)


def test_the_config_and_the_cli_know_it_without_being_told(registered, capsys):
    from sltsim.cli import main

    with pytest.raises(ValueError, match="shrinkage must be unset"):
        RunConfig(**{**CONFIG, "shrinkage": 0.3})
    assert main(["--method", "ep-restarts", "--cycles", "2", "--model", "mlp:64,16,10", "--epochs", "1",
                 "--no-progress", "--json"]) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record["config"]["method"] == "ep-restarts" and len(record["cycles"]) == 2


def test_its_torch_record_is_the_engine_record(registered):
    pytest.importorskip("torch")
    from sltsim.search import run_search as engine_run
    from sltsim.torch_backend import run_search as torch_run
    from tests.torch_backend.test_methods import _differences, _timeless

    config = RunConfig(**CONFIG)
    engine = _timeless(engine_run(config))
    mirror = _timeless(torch_run(config.replace(backend="torch")))
    mirror.pop("torch")
    differences = [d for d in _differences(engine, mirror) if not d.startswith(("/config", "/key"))]
    assert not differences, differences[:5]
