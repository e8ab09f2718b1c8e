"""RunConfig: validation messages, content keys, and the initialisers by name."""

import math

import numpy as np
import pytest

from sltsim.config import RunConfig
from sltsim.init import SCORE_INITS, WEIGHT_INITS, initialise_weights
from sltsim.engine.models import mlp


def test_key_hashes_only_non_default_fields_and_the_seed():
    a = RunConfig(seed=3)
    assert a.non_default() == {"seed": 3}
    assert a.key() == RunConfig(seed=3).key()
    assert a.key() != RunConfig(seed=4).key()
    assert a.key() != RunConfig(seed=3, prune_rate=0.7).key()
    # a field left at its default is not part of the key, so adding fields with defaults moves no key
    assert "epochs" not in RunConfig(seed=3, epochs=50).non_default()


def test_config_is_frozen():
    with pytest.raises(Exception):
        RunConfig().prune_rate = 0.3


@pytest.mark.parametrize("field, value, words", [
    ("prune_rate", 1.0, "prune_rate must be in [0, 1), got 1.0"),
    ("momentum", 1.5, "momentum must be in [0, 1)"),
    ("schedule", "linear", "schedule must be one of constant, cosine, step"),
    ("dtype", "float16", "dtype must be one of float32, float64"),
    ("warmup_epochs", 99, "warmup_epochs must be an integer in [0, epochs=50]"),
])
def test_messages_name_field_value_and_allowed(field, value, words):
    with pytest.raises(ValueError) as info:
        RunConfig(**{field: value})
    assert words in str(info.value)
    assert "\n" not in str(info.value)


def test_from_dict_refuses_unknown_keys_and_wrong_types():
    with pytest.raises(ValueError, match="unknown key 'prune' in p.toml"):
        RunConfig.from_dict({"prune": 0.3}, source="p.toml")
    with pytest.raises(ValueError, match="key 'epochs' in p.toml must be a int"):
        RunConfig.from_dict({"epochs": "ten"}, source="p.toml")
    assert RunConfig.from_dict({"lr": 1}).lr == 1


@pytest.mark.parametrize("name", sorted(WEIGHT_INITS))
def test_weight_inits_have_the_stated_scale(name):
    model = mlp((400, 300, 10), dtype=np.float64)
    params = model.params
    initialise_weights(params, name, prune_rate=0.75, rng=np.random.default_rng(0))
    w = params[0].theta0
    gain_std = math.sqrt(2.0 / 400)
    expected_std = {"signed_kaiming_constant": gain_std, "scaled_signed_constant": gain_std / math.sqrt(0.25),
                    "kaiming_normal": gain_std, "kaiming_uniform": gain_std,
                    "uniform": 1 / math.sqrt(3 * 400)}[name]
    assert w.std() == pytest.approx(expected_std, rel=0.02)
    assert abs(w.mean()) < 0.05 * expected_std + 3 * expected_std / math.sqrt(w.size)
    if "constant" in name:
        assert np.unique(np.abs(w)).size == 1
    np.testing.assert_array_equal(params[0].w_eff, w)


@pytest.mark.parametrize("name", sorted(SCORE_INITS))
def test_score_inits_are_deterministic_per_seed(name):
    draws = [SCORE_INITS[name]((50, 20), 20, 0.5, np.random.default_rng(s)) for s in (0, 0, 1)]
    np.testing.assert_array_equal(draws[0], draws[1])
    assert not np.array_equal(draws[0], draws[2])


@pytest.mark.parametrize("field, value, owner", [("iterand_period", 9, "iterand"), ("iterand_rate", 0.5, "iterand"),
                                                 ("coats", (0.6, 0.7), "multicoat")])
def test_method_specific_fields_are_refused_for_other_methods(field, value, owner):
    with pytest.raises(ValueError, match=f"{field} applies to method {owner} only"):
        RunConfig(method="ep", **{field: value})
    RunConfig(method=owner, **{field: value})
