"""What every group of the run config shares: fields that carry their help text, and checks.

A group is a frozen dataclass of the fields of one concern (:mod:`sltsim.config.groups`).
It canonicalises and validates its own fields when it is built; checks that span two groups
live with :class:`~sltsim.config.run.RunConfig`. Every message is one line naming the field,
the value and what is allowed.
"""

from __future__ import annotations

from dataclasses import field, fields
from typing import Any, ClassVar, Mapping


def opt(default, help: str, *, recorded: bool = True, torch_only: bool = False):
    """A config field with its ``--help`` text (read by :mod:`sltsim.cli`).

    ``recorded=False``: the field is left out of the stored config (``to_dict``), for a field
    whose every value gives the same bits (the engine's thread count). ``torch_only``: only
    the torch backend reads it, so the engine refuses it set.
    """
    return field(default=default, metadata={"help": help, "recorded": recorded, "torch_only": torch_only})


class Group:
    """Base of the config's groups. A subclass is a frozen dataclass and sets ``name`` (its
    ``--help`` heading) and ``about``; ``keyed = False`` keeps all its fields out of the
    record's key (the execution group)."""

    name: ClassVar[str]
    about: ClassVar[str]
    keyed: ClassVar[bool] = True

    def __post_init__(self):
        canonicalise_floats(self)
        self.validate()

    def validate(self) -> None:
        """Refuse a bad value of this group's own fields (ValueError, one line)."""

    def values(self) -> dict:
        """{field: value} of this group, in declaration order."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def non_default(self) -> dict:
        """{field: value} of the fields that differ from their defaults."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) != f.default}

    @classmethod
    def pick(cls, values: Mapping[str, Any]) -> "Group":
        """This group, built from the entries of ``values`` that name its fields."""
        return cls(**{f.name: values[f.name] for f in fields(cls) if f.name in values})


def canonicalise_floats(group) -> None:
    """Give equal values equal bits before anything hashes them: an integer in a float field
    becomes a float (``lr = 1`` is ``lr = 1.0``) and ``-0.0`` becomes ``0.0``. A float that
    is already canonical is left exactly as it is, so no key moves."""
    for f in fields(group):
        value = getattr(group, f.name)
        if "float" in str(f.type) and isinstance(value, (int, float)) and not isinstance(value, bool):
            if type(value) is not float or value == 0.0:
                object.__setattr__(group, f.name, float(value) + 0.0)  # + 0.0 turns -0.0 into 0.0


def check_choice(name: str, value, allowed) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(str, allowed))}; got {value!r}")


def check_bool(group, name: str) -> None:
    value = getattr(group, name)
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")


def check_positive_int(group, name: str) -> None:
    value = getattr(group, name)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def same_kind(default, value) -> bool:
    """Whether ``value`` may stand in a field whose default is ``default`` (an int is a float)."""
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, type(default))
