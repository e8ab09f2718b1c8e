"""Cells for the runner tests: module-level, so worker processes import them by name.

``counted_cell`` runs a real search and appends ``<pid> <key>`` to the file named by
``$SLTSIM_TEST_CALLS`` (one ``O_APPEND`` write per call), so a test can count which
cells were computed and where; ``$SLTSIM_TEST_DELAY`` seconds of sleep make a run
slow enough to be killed in the middle. ``gated_cell`` logs its call likewise and then
waits for the test to create the file ``$SLTSIM_TEST_RELEASE/<key>``, so that a test
decides which cells may finish and when, instead of racing a timer.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from sltsim.config import RunConfig
from sltsim.studies.runner import search_cell

CALLS = "SLTSIM_TEST_CALLS"
DELAY = "SLTSIM_TEST_DELAY"
RELEASE = "SLTSIM_TEST_RELEASE"
RELEASE_TIMEOUT = 300.0
"""Seconds a gated cell waits for its release file before it fails (so no test leaves it waiting forever)."""


def grid(n_seeds: int = 4) -> list:
    """A tiny real grid: 2 prune rates x ``n_seeds`` seeds of a 64-16-10 MLP on digits, one epoch."""
    return [RunConfig(data="digits", model="mlp:64,16,10", epochs=1, batch_size=256,
                      prune_rate=k, seed=seed) for seed in range(n_seeds) for k in (0.3, 0.6)]


def _log_call(config) -> None:
    path = os.environ.get(CALLS)
    if path:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{os.getpid()} {config.key()}\n".encode())
        finally:
            os.close(fd)


def counted_cell(config) -> dict:
    _log_call(config)
    time.sleep(float(os.environ.get(DELAY, "0")))
    return search_cell(config)


def release(folder, key: str) -> None:
    """Let the gated cell whose config has ``key`` go on (see :func:`gated_cell`)."""
    (Path(folder) / key).touch()


def gated_cell(config) -> dict:
    """:func:`counted_cell` that, once its call is logged, waits until ``$SLTSIM_TEST_RELEASE/<key>`` exists."""
    _log_call(config)
    gate = Path(os.environ[RELEASE]) / config.key()
    deadline = time.monotonic() + RELEASE_TIMEOUT
    while not gate.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{gate} was not created within {RELEASE_TIMEOUT:.0f} s")
        time.sleep(0.02)
    return search_cell(config)


def calls(path) -> list[tuple[int, str]]:
    """The (pid, key) of every call logged in ``path`` so far."""
    try:
        with open(path) as f:
            return [(int(pid), key) for pid, key in (line.split() for line in f if line.strip())]
    except FileNotFoundError:
        return []


def flaky_cell(config) -> dict:
    """Fails for seed 1, reports divergence for seed 2, and is a cheap fake record otherwise."""
    if config.seed == 1:
        raise ZeroDivisionError("seed 1 always fails")
    if config.seed == 2:
        return {"status": "diverged", "reason": "loss became nan at step 3", "prune_rate": config.prune_rate}
    return {"status": "ok", "prune_rate": config.prune_rate, "value": float("nan"), "cell_seconds": time.time()}


def counted_flaky_cell(config) -> dict:
    """:func:`flaky_cell`, logged as :func:`counted_cell` logs its calls."""
    _log_call(config)
    return flaky_cell(config)
