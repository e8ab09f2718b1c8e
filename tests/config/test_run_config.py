"""RunConfig: validation messages and content keys."""

import pytest

from sltsim.config import RunConfig


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


@pytest.mark.parametrize("field, value, owner", [("iterand_period", 9, "iterand"), ("iterand_rate", 0.5, "iterand"),
                                                 ("coats", (0.6, 0.7), "multicoat")])
def test_method_specific_fields_are_refused_for_other_methods(field, value, owner):
    with pytest.raises(ValueError, match=f"{field} applies to method {owner} only"):
        RunConfig(method="ep", **{field: value})
    RunConfig(method=owner, **{field: value})
