"""The engine and the torch backend give every run the same status: a run whose scores
became NaN or inf is diverged on both, even when its loss stayed finite."""

from __future__ import annotations

import math

import pytest

from sltsim.config import RunConfig
from sltsim.search import run_search as engine_run
from sltsim.torch_backend import run_search as torch_run

BASE = dict(model="mlp:64,16,10", data="digits", epochs=2, batch_size=128)


@pytest.mark.parametrize("lr, expected", [
    (0.1, "ok"),
    (1e30, "diverged"),  # the scores overflow; the loss stays finite (the masks still pick theta0 edges)
    (1e300, "diverged"),
])
def test_engine_and_torch_agree_on_the_status(lr, expected):
    engine = engine_run(RunConfig(**BASE, lr=lr))
    torch_record = torch_run(RunConfig(**BASE, lr=lr, backend="torch"))
    assert engine["status"] == expected
    assert torch_record["status"] == engine["status"], torch_record.get("reason")
    if expected == "diverged":
        assert "NaN or inf" in torch_record["reason"] and "test_acc" not in torch_record


def test_non_finite_scores_with_a_finite_loss_are_caught(monkeypatch):
    """The loss check alone passes lr 1e30: every epoch's loss is finite."""
    from sltsim.torch_backend import cycle

    losses = []
    step = cycle.train_step

    def logged(run, x, y, n_global, lr):
        out = step(run, x, y, n_global, lr)
        losses.append(float(out[0]))
        return out

    monkeypatch.setattr(cycle, "train_step", logged)
    record = torch_run(RunConfig(**BASE, lr=1e30, backend="torch"))
    assert losses and all(math.isfinite(v) for v in losses)
    assert record["status"] == "diverged"
    assert "scores became NaN or inf in epoch 1" in record["reason"]
