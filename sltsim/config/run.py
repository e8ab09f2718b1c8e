"""The run config: the six groups composed into one frozen, validated :class:`RunConfig`.

``RunConfig``'s fields are the groups' fields (each declared once, in its group), so every
existing way of building and reading a config is flat: ``RunConfig(epochs=5)``,
``config.epochs``, ``config.replace(lr=0.2)``, :meth:`RunConfig.from_dict`, and
:meth:`RunConfig.to_dict`. Building one builds, and so validates, each group; the groups are
``config.groups`` (``config.groups["training"].epochs``), and the checks that span two groups
are here. The key hashes the non-default fields of the keyed groups only: execution fields
never reach it, whichever they are.

The flat fields are what a RunConfig stores, and the groups are built from them: so
``dataclasses.fields(RunConfig)`` and ``RunConfig.__dataclass_fields__[name].default``, which
the CLI and the studies read, keep working, and a stored config stays flat.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, Mapping, Optional  # noqa: F401  (Optional: the fields' annotations)

from sltsim import registry
from sltsim.config.base import same_kind
from sltsim.config.groups import (DataConfig, ExecutionConfig, ModelConfig, PlantedConfig, TrainingConfig,
                                  engine_data_names)
from sltsim.config.memory import check_footprint
from sltsim.config.search import SearchConfig

#: The groups, in ``--help`` order; every RunConfig field is declared in exactly one of them.
GROUPS = (SearchConfig, TrainingConfig, ModelConfig, DataConfig, PlantedConfig, ExecutionConfig)

#: Planted-only fields whose default changed, with the default they had: the key hashes them
#: (for planted data only; elsewhere they do nothing) whenever they differ from that old
#: default, so no stored record's key moves (``task`` was classification before regression
#: became the planted default).
KEY_DEFAULTS = {"task": "classification"}

#: A key of :meth:`RunConfig.to_dict` that is not a field: computed from the fields.
DERIVED_FIELD = "final_prune_rate"


def _compose(*groups):
    """Give the decorated class every field of ``groups`` (with its type, default, help text
    and, in ``metadata["group"]``, its group's name), before :func:`dataclass` reads them."""
    def decorate(cls):
        annotations = {}
        for group in groups:
            for f in fields(group):
                if f.name in annotations:
                    raise TypeError(f"field {f.name!r} is declared in two groups")
                annotations[f.name] = f.type
                setattr(cls, f.name, field(default=f.default, metadata={**f.metadata, "group": group.name}))
        cls.__annotations__ = annotations
        return cls
    return decorate


@dataclass(frozen=True)
@_compose(*GROUPS)
class RunConfig:
    """One search: method x model x data x prune rate x seed, and its hyperparameters.

    Every field has a default; validation raises ``ValueError`` with one line naming the
    field, the value and what is allowed (the CLI prints it and exits 2).
    """

    def __post_init__(self):
        built = {}
        for group in GROUPS:  # each group canonicalises and validates its own fields
            built[group.name] = group.pick({f.name: getattr(self, f.name) for f in fields(group)})
            for name, value in built[group.name].values().items():
                object.__setattr__(self, name, value)  # the canonical value (frozen dataclass)
        object.__setattr__(self, "_groups", built)  # not a field: out of eq, hash and repr
        _check_across(self)

    @property
    def groups(self) -> Mapping[str, Any]:
        """{group name: its frozen config}, in :data:`GROUPS` order (read-only)."""
        return MappingProxyType(self._groups)

    @property
    def final_prune_rate(self) -> float:
        """The prune rate of the final mask (for iterative methods, after the last cycle)."""
        registry.load()
        return registry.METHODS[self.method].final_prune_rate(self)

    def to_dict(self) -> dict:
        """Every recorded field (all but ``threads``), plus ``final_prune_rate``: what the run's
        final mask prunes (for an iterative method, after its last cycle; otherwise
        ``prune_rate``). It is derived, never part of the key, and :meth:`from_dict` checks it
        against the fields when present."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.metadata["recorded"]}
        out[DERIVED_FIELD] = self.final_prune_rate
        return out

    def non_default(self) -> dict:
        """Fields that differ from the defaults, seed always included. A method's own init
        (:meth:`SearchConfig.method_inits_used`) counts as its default, so resolving it never
        moves a key."""
        return {name: value for group in self.groups.values() for name, value in group.non_default().items()}

    def key(self) -> str:
        """Content hash of the non-default fields of the keyed groups: the record's ``key``."""
        values = {name: value for group in self.groups.values() if group.keyed
                  for name, value in group.non_default().items()}
        for name, old in KEY_DEFAULTS.items():  # a changed default is hashed against the old one
            values.pop(name, None)
            if self.data == "planted" and getattr(self, name) != old:
                values[name] = getattr(self, name)
        text = json.dumps(values, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def replace(self, **changes) -> "RunConfig":
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], source: str = "config") -> "RunConfig":
        """Build from a flat mapping, refusing unknown keys and values of the wrong type.

        A planted-only field at its old default (:data:`KEY_DEFAULTS`) on another data set is
        read as unset: configs stored before regression became the planted default carry
        ``task = "classification"`` on every data set, where it did nothing.
        """
        known = {f.name: f for f in fields(cls)}
        values = dict(values)
        if values.get("data", known["data"].default) != "planted":
            for name, old in KEY_DEFAULTS.items():
                if values.get(name, old) == old:
                    values.pop(name, None)
        stated = values.pop(DERIVED_FIELD, None)
        # tuple fields (coats) arrive as lists from TOML and JSON records
        values = {k: tuple(v) if k in known and isinstance(known[k].default, tuple) and isinstance(v, list) else v
                  for k, v in values.items()}
        for k, v in values.items():
            if k not in known:
                raise ValueError(f"unknown key {k!r} in {source}; known keys: {', '.join(sorted(known))}")
            default = known[k].default
            if default is not None and v is not None and not same_kind(default, v):
                raise ValueError(f"key {k!r} in {source} must be a {type(default).__name__}, got {v!r}")
        config = cls(**values)
        if stated is not None and not math.isclose(stated, config.final_prune_rate, rel_tol=0, abs_tol=1e-12):
            raise ValueError(f"key {DERIVED_FIELD!r} in {source} is {stated!r}, but the other fields give "
                             f"{config.final_prune_rate!r}; drop it or fix the fields")
        return config


#: Fields of the execution group (how a run executes): never in the key.
EXECUTION_FIELDS = tuple(f.name for f in fields(ExecutionConfig))
#: Fields of the planted group: refused on any data set but planted.
PLANTED_ONLY = tuple(f.name for f in fields(PlantedConfig))


def _check_across(config: RunConfig) -> None:
    """The checks that read two groups (each group has checked its own fields)."""
    execution = config.groups["execution"]
    if config.device != "cpu" and config.backend != "torch":
        raise ValueError(f"device {config.device} needs backend torch; got backend {config.backend!r}")
    if execution.torch_only() and config.backend != "torch":
        raise ValueError(f"{execution.torch_only()[0]} needs backend torch; got backend {config.backend!r}")
    if config.threads and config.backend != "numpy":
        raise ValueError(f"threads applies to backend numpy (torch sets its own), got threads={config.threads} "
                         f"with backend {config.backend!r}")
    if config.backend == "torch":
        from sltsim.torch_backend import names as torch_names  # torch-free

        torch_names.validate(config)
    else:
        registry.get(engine_data_names(), config.data, "data")
    if config.score_bias and not config.bias:
        raise ValueError("score_bias needs bias=True, got bias=False")
    if config.random_labels and config.backend != "numpy":
        raise ValueError(f"random_labels needs backend numpy, got backend {config.backend!r}")
    if config.start_overlap is not None:
        if config.data != "planted":
            raise ValueError(f"start_overlap needs data planted (it places the first mask on the planted "
                             f"ticket), got data {config.data!r}")
        registry.CHECKS["start_overlap"](config)
    registry.METHODS[config.method].validate(config)
    if config.data != "planted":  # the planted group describes a planted target only
        for name, value in config.groups["planted"].non_default().items():
            raise ValueError(f"{name} applies to data planted only, got {name}={value!r} with data {config.data}")
    if config.backend == "numpy":
        check_footprint(config)
