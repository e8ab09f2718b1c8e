"""The config's groups: each field declared in one group, flat and grouped reads agree, and
the key moves with every field but the execution group's."""

from __future__ import annotations

import dataclasses
import importlib.util
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sltsim import registry
from sltsim.config import (GROUPS, DataConfig, ExecutionConfig, ModelConfig, PlantedConfig, RunConfig, SearchConfig,
                           TrainingConfig)
from tests.strategies import run_config_fields

FIELDS = [f.name for f in dataclasses.fields(RunConfig)]
PLANTED = {"data": "planted", "model": "mlp:32,64,10"}
HARD_FT = {"method": "hard-ft", "cycles": 2, "shrinkage": 0.5}
TORCH = {"backend": "torch", "model": "mlp:64,32,10"}

#: field -> (the config it is changed in, the value it is changed to); a test asserts that
#: every RunConfig field is here, so a new field must say how it may change.
CHANGES = {
    "method": ({}, "dense"), "prune_rate": ({}, 0.7), "seed": ({}, 1), "weight_init": ({}, "uniform"),
    "score_init": ({}, "normal"), "global_topk": ({}, True), "dense_first": ({}, True), "dense_last": ({}, True),
    "score_bias": ({"bias": True}, True), "track_history": ({}, False), "cycles": (HARD_FT, 3),
    "shrinkage": (HARD_FT, 0.25), "keep_momentum": (HARD_FT, True), "iterand_period": ({"method": "iterand"}, 100),
    "iterand_rate": ({"method": "iterand"}, 0.2), "iterand_ranking": ({"method": "iterand"}, "abs"),
    "coats": ({"method": "multicoat"}, (0.75, 0.875)), "method_inits": ({"method": "multicoat"}, False),
    "epochs": ({}, 3), "batch_size": ({}, 64), "lr": ({}, 0.2), "momentum": ({}, 0.5), "nesterov": ({}, True),
    "weight_decay": ({}, 0.0), "schedule": ({}, "step"), "warmup_epochs": ({}, 2),
    "schedule_granularity": ({}, "step"), "model": ({}, "mlp:64,16,10"), "bias": ({}, True),
    "dtype": ({}, "float64"), "backend": ({"model": "mlp:64,32,10"}, "torch"), "data": ({}, "mnist1d"),
    "random_labels": ({}, True), "plant": (PLANTED, "neuron"), "ticket_remaining": (PLANTED, 0.5),
    "ticket_width": (PLANTED, 0.5), "inputs": (PLANTED, "digits"), "task": (PLANTED, "classification"),
    "n_train": (PLANTED, 500), "n_test": (PLANTED, 200), "label_noise": (PLANTED, 0.1),
    "sub_budget_ticket": (PLANTED, True), "start_overlap": (PLANTED, 0.5),
    "data_dir": (TORCH, "/data/images"), "download": ({**TORCH, "data": "cifar10", "data_dir": "/data"}, True),
    "device": (TORCH, "cuda:1"), "loader_workers": (TORCH, 2), "checkpoint": (TORCH, "run.pt"),
    "resume": ({**TORCH, "checkpoint": "run.pt"}, True), "threads": ({}, 3),
}


def test_every_field_is_declared_in_exactly_one_group():
    declared = [f.name for group in GROUPS for f in dataclasses.fields(group)]
    assert sorted(declared) == sorted(FIELDS) and len(declared) == len(set(declared))
    assert [group.name for group in GROUPS] == ["search", "training", "model", "data", "planted", "execution"]
    for group in GROUPS:
        for f in dataclasses.fields(group):
            flat = RunConfig.__dataclass_fields__[f.name]
            assert (flat.metadata["group"], flat.default, flat.metadata["help"]) == (group.name, f.default,
                                                                                       f.metadata["help"])


def test_two_groups_cannot_declare_one_field():
    from sltsim.config.run import _compose

    @dataclasses.dataclass(frozen=True)
    class Other(TrainingConfig):  # a second group that declares lr again
        name = "other"

    with pytest.raises(TypeError, match="field 'epochs' is declared in two groups"):
        _compose(TrainingConfig, Other)(type("C", (), {}))


@settings(max_examples=60, deadline=None)
@given(run_config_fields())
def test_flat_and_grouped_reads_agree(values):
    config = RunConfig(**values)
    for name, group in config.groups.items():
        for f in dataclasses.fields(group):
            flat, grouped = getattr(config, f.name), getattr(group, f.name)
            assert flat == grouped and type(flat) is type(grouped), (name, f.name, flat, grouped)
    # each group is rebuilt from the config's flat fields alone, and equals the stored one
    for group in GROUPS:
        assert group.pick(dataclasses.asdict(config)) == config.groups[group.name]
    # the values the groups made canonical are what the flat reads see
    assert " " not in config.model and isinstance(config.lr, float) and str(config.lr) != "-0.0"
    assert all(type(c) is float for c in config.coats)


def test_every_field_has_a_change_in_the_table():
    assert sorted(CHANGES) == sorted(FIELDS)


@pytest.mark.parametrize("name", FIELDS)
def test_only_an_execution_field_changed_keeps_the_key(name, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # the checkpoint path is checked against the file system
    if name == "download" and importlib.util.find_spec("torchvision") is None:
        real = importlib.util.find_spec  # the config asks whether torchvision could be imported
        monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: object() if n == "torchvision" else real(n, *a))
    base_fields, value = CHANGES[name]
    base = RunConfig(**base_fields)
    changed = base.replace(**{name: value})
    assert getattr(changed, name) != getattr(base, name)
    moved = changed.to_dict() != base.to_dict()
    if name in [f.name for f in dataclasses.fields(ExecutionConfig)]:
        assert changed.key() == base.key()
        recorded = RunConfig.__dataclass_fields__[name].metadata["recorded"]
        assert moved == recorded  # device, data_dir, ... are stored with the record; threads is not
    else:
        assert changed.key() != base.key() and moved


@settings(max_examples=60, deadline=None)
@given(run_config_fields(), st.integers(1, 64))
def test_the_thread_count_never_moves_a_key(values, threads):
    config = RunConfig(**values)
    more = config.replace(threads=threads)
    assert more.key() == config.key() and json.dumps(more.to_dict()) == json.dumps(config.to_dict())
    assert more != config


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["cpu", "cuda", "cuda:3"]), st.integers(0, 8), st.sampled_from([None, "/data"]),
       st.sampled_from([None, "ckpt/run.pt"]), st.booleans(), st.sampled_from(["mlp:64,32,10", "conv2"]))
def test_torch_execution_fields_never_move_a_key(device, workers, data_dir, checkpoint, resume, model):
    base = RunConfig(backend="torch", model=model)
    changed = base.replace(device=device, loader_workers=workers, data_dir=data_dir, checkpoint=checkpoint,
                           resume=resume and checkpoint is not None)
    assert changed.key() == base.key()


def test_each_group_validates_its_own_fields_alone():
    for group, values, words in [
        (SearchConfig, {"method": "magic"}, "method must be one of"),
        (SearchConfig, {"coats": (0.9, 0.8)}, "coats must be strictly increasing"),
        (TrainingConfig, {"lr": float("inf")}, "lr must be a finite number >= 0, got inf"),
        (TrainingConfig, {"epochs": 2, "warmup_epochs": 3}, "warmup_epochs must be an integer in [0, epochs=2]"),
        (ModelConfig, {"model": "mlp:"}, "model"),
        (ModelConfig, {"backend": "jax"}, "backend must be one of numpy, torch; got 'jax'"),
        (DataConfig, {"random_labels": 1}, "random_labels must be true or false, got 1"),
        (PlantedConfig, {"n_train": 0}, "n_train must be a positive integer, got 0"),
        (PlantedConfig, {"inputs": "cifar10"}, "inputs must be one of gaussian, digits, mnist1d; got 'cifar10'"),
        (ExecutionConfig, {"device": "tpu"}, "device must be cpu, cuda or cuda:N; got 'tpu'"),
        (ExecutionConfig, {"resume": True}, "resume needs --checkpoint PATH"),
    ]:
        with pytest.raises(ValueError) as info:
            group(**values)
        assert words in str(info.value) and "\n" not in str(info.value), (group.__name__, values)
    with pytest.raises(dataclasses.FrozenInstanceError):
        RunConfig().groups["training"].lr = 0.3
    with pytest.raises(TypeError):
        RunConfig().groups["training"] = TrainingConfig()  # the mapping is read-only


def test_the_search_group_resolves_the_method_inits_on_its_own():
    assert SearchConfig(method="multicoat").weight_init == "scaled_signed_constant"
    assert SearchConfig(method="multicoat", method_inits=False).weight_init == "signed_kaiming_constant"
    assert RunConfig(method="multicoat").groups["search"] == SearchConfig(method="multicoat")


@pytest.mark.parametrize("table, field, extra", [
    ("SCHEDULES", "schedule", {}), ("WEIGHT_INITS", "weight_init", {}), ("SCORE_INITS", "score_init", {}),
    ("DATASETS", "data", {}), ("PLANTS", "plant", PLANTED), ("METHODS", "method", {}),
])
def test_the_config_reads_each_name_from_the_registry(table, field, extra):
    """A name registered at run time is accepted at once, and an unknown one is refused in one
    line that lists the registered names (the config keeps no copy of a registry)."""
    names = getattr(registry, table)
    template = next(iter(names.values()))
    with pytest.raises(ValueError) as info:
        RunConfig(**extra, **{field: "test-added"})
    assert f"{field} must be one of" in str(info.value) and "got 'test-added'" in str(info.value)
    for name in names:
        assert name in str(info.value)
    registry.register(names, "test-added", template)
    try:
        assert getattr(RunConfig(**extra, **{field: "test-added"}), field) == "test-added"
    finally:
        del names["test-added"]


@settings(max_examples=60, deadline=None)
@given(run_config_fields())
def test_the_stored_config_builds_the_same_config(values):
    config = RunConfig(**values)
    stored = json.loads(json.dumps(config.to_dict()))  # as a record store reads it back
    again = RunConfig.from_dict(stored)
    assert again == config and again.key() == config.key() and again.groups == config.groups
