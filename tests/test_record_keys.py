"""Record keys: canonical (equal configs, equal keys), and stable for every committed record;
the stored config states the final prune rate an iterative run reached."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sltsim.config import RunConfig

REPO = Path(__file__).resolve().parents[1]
COMMITTED = sorted((REPO / "studies" / "records").glob("*/*.jsonl"))
#: Config fields that old records still carry but the config no longer has (always at their default).
RETIRED = {"workers": 0}


def _committed_records():
    for path in COMMITTED:
        with open(path) as f:
            for number, line in enumerate(f, 1):
                yield path, number, json.loads(line)


def test_the_keys_of_every_committed_record_are_unchanged():
    seen = 0
    for path, number, record in _committed_records():
        config = dict(record["config"])
        for name, default in RETIRED.items():
            assert config.pop(name, default) == default, f"{path}:{number} has {name}={record['config'][name]}"
        assert RunConfig.from_dict(config).key() == record["key"], f"{path}:{number}"
        seen += 1
    # the six committed stores (recovery and iterative are computed, not kept in git) hold 720
    # records; a glob that missed a store or a store cut short would check fewer
    assert len(COMMITTED) >= 6 and seen >= 700


def test_the_stored_config_of_every_committed_record_is_rebuilt_byte_for_byte():
    """``to_dict`` of the config a record's ``config`` builds is that ``config``, byte for byte
    as the store writes it (sorted keys): no field moved in or out of the stored config."""
    seen = 0
    for path, number, record in _committed_records():
        config = {k: v for k, v in record["config"].items() if k not in RETIRED}
        rebuilt = RunConfig.from_dict(config).to_dict()
        assert json.dumps(rebuilt, sort_keys=True) == json.dumps(config, sort_keys=True), f"{path}:{number}"
        seen += 1
    assert seen >= 700


@pytest.mark.parametrize("a, b", [
    ({"lr": 1}, {"lr": 1.0}),
    ({"prune_rate": 0}, {"prune_rate": 0.0}),
    ({"label_noise": -0.0, "data": "planted", "model": "mlp:32,256,256,10"},
     {"data": "planted", "model": "mlp:32,256,256,10"}),
    ({"momentum": np.float64(0.5)}, {"momentum": 0.5}),
    ({"model": "mlp: 64, 256, 256, 10"}, {}),
    ({"model": " mlp:64,32,10 "}, {"model": "mlp:64,32,10"}),
    ({"method": "multicoat", "coats": [0.875], "prune_rate": 0.75},
     {"method": "multicoat", "coats": (0.875,), "prune_rate": 0.75}),
])
def test_equal_configs_get_equal_keys(a, b):
    ca, cb = RunConfig.from_dict(a) if isinstance(a.get("coats"), list) else RunConfig(**a), RunConfig(**b)
    assert ca == cb
    assert ca.key() == cb.key()
    assert json.dumps(ca.to_dict(), sort_keys=True) == json.dumps(cb.to_dict(), sort_keys=True)


def test_a_canonical_config_keeps_the_key_written_before_canonicalisation():
    # sha256 of {"lr":1.0,"seed":0}, {"model":"mlp:64,32,10","seed":2} as the key always hashed them
    import hashlib

    for config, text in ((RunConfig(lr=1.0), '{"lr":1.0,"seed":0}'),
                         (RunConfig(model="mlp:64,32,10", seed=2), '{"model":"mlp:64,32,10","seed":2}')):
        assert config.key() == hashlib.sha256(text.encode()).hexdigest()[:16]
    assert RunConfig(lr=1).key() == RunConfig(lr=1.0).key()


def test_the_stored_config_states_the_final_prune_rate_of_an_iterative_run():
    from sltsim.search import run_search

    config = RunConfig(method="hard-ft", model="mlp:64,16,10", epochs=1, cycles=4, shrinkage=0.5, batch_size=256)
    record = run_search(config)
    assert record["status"] == "ok"
    assert record["config"]["prune_rate"] == 0.5  # the field as given
    assert record["config"]["final_prune_rate"] == pytest.approx(1 - 0.5**4)  # 1 - (1 - p)^C
    # what the final masks actually prune, summed over the layers
    layers = record["per_layer"].values()
    masked = sum(layer["prune_rate"] * layer["size"] for layer in layers) / sum(layer["size"] for layer in layers)
    assert masked == pytest.approx(record["config"]["final_prune_rate"], abs=2e-3)
    # one-shot EP states its prune rate; the derived key is not hashed
    assert RunConfig(prune_rate=0.3).to_dict()["final_prune_rate"] == 0.3
    assert config.key() == RunConfig.from_dict(record["config"]).key()


def test_a_stated_final_prune_rate_that_disagrees_is_refused():
    values = RunConfig(method="hard-ft", cycles=4, shrinkage=0.5).to_dict()
    values["final_prune_rate"] = 0.5
    with pytest.raises(ValueError, match="key 'final_prune_rate' in config is 0.5, but the other fields give 0.9375"):
        RunConfig.from_dict(values)
