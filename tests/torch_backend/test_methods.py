"""Every --method, written once, gives the engine's record on the torch backend (float64, digits
MLP): the same dying-edge accounting, method extras and accuracies, losses to 1e-6."""

from __future__ import annotations

import math

import pytest

from sltsim.config import RunConfig
from sltsim.search import METHODS as ENGINE_METHODS

OPTIONS = {
    "ep-global": dict(prune_rate=0.6),
    "iterand": dict(iterand_period=5, iterand_rate=0.3),
    "multicoat": dict(prune_rate=0.4, coats=(0.6, 0.8)),
    "random-smart": dict(prune_rate=0.7),
    "dense": dict(prune_rate=0.7),
}
ITERATIVE = dict(cycles=2, shrinkage=0.3)


def _timeless(x):
    if isinstance(x, dict):
        return {k: _timeless(v) for k, v in x.items() if k != "seconds"}
    if isinstance(x, list):
        return [_timeless(v) for v in x]
    return x


def _differences(a, b, path=""):
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{path}/{k} only on one side" for k in set(a) ^ set(b)]
        return out + [d for k in set(a) & set(b) for d in _differences(a[k], b[k], f"{path}/{k}")]
    if isinstance(a, list) and isinstance(b, list):
        out = [f"{path}: lengths {len(a)}, {len(b)}"] if len(a) != len(b) else []
        return out + [d for i, (x, y) in enumerate(zip(a, b)) for d in _differences(x, y, f"{path}[{i}]")]
    if isinstance(a, float) and isinstance(b, float):
        same = a == b or (math.isnan(a) and math.isnan(b)) or abs(a - b) < 1e-6
        return [] if same else [f"{path}: {a} vs {b}"]
    return [] if a == b else [f"{path}: {a!r} vs {b!r}"]


@pytest.mark.parametrize("method", sorted(ENGINE_METHODS))
def test_torch_record_equals_the_engine_record(method):
    from sltsim.search import run_search as engine_run
    from sltsim.torch_backend import run_search as torch_run

    options = OPTIONS.get(method, ITERATIVE if hasattr(ENGINE_METHODS[method], "variant") else {})
    config = RunConfig(method=method, model="mlp:64,32,10", dtype="float64", epochs=2, batch_size=128, **options)
    engine = _timeless(engine_run(config))
    mirror = _timeless(torch_run(config.replace(backend="torch")))
    assert mirror.pop("torch")["world_size"] == 1
    differences = [d for d in _differences(engine, mirror) if not d.startswith(("/config", "/key"))]
    assert not differences, differences[:5]
    assert engine["status"] == "ok" and "dying_ratio" in engine

