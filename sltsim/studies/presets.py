"""Study presets: TOML files shipped inside the package, in ``sltsim/presets/``.

They are package data (read through :mod:`importlib.resources`), so a study runs the
same from a source checkout, an editable install or a wheel. A preset
``sltsim/presets/<study>.<name>.toml`` (``quick``, ``default``, ``paper``) has two
tables::

    [study]            # the study's own knobs, checked against the keys it allows
    prune_rates = [0.2, 0.36, 0.488]
    seeds = 4

    [config]           # fields of sltsim.config.RunConfig shared by every cell
    model = "mlp:64,256,256,10"
    epochs = 20

Anything else (another table, an unknown key, a value of the wrong type, an empty
list) is refused with a one-line ``ValueError`` naming the key and the file.
"""

from __future__ import annotations

import importlib.resources
import sys
import typing
from pathlib import Path
from typing import Any, Mapping, Optional

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

TABLES = ("study", "config")


def presets_dir() -> Path:
    """The folder of the shipped presets, ``sltsim/presets/`` (package data)."""
    return Path(str(importlib.resources.files("sltsim") / "presets"))


def preset_path(study: str, name_or_path) -> Path:
    """The file of a preset: ``sltsim/presets/<study>.<name>.toml``, or ``name_or_path`` itself when
    it is a path (it contains a path separator or ends in ``.toml``)."""
    text = str(name_or_path)
    if "/" in text or "\\" in text or text.endswith(".toml"):
        path = Path(text)
        if path.is_dir():
            raise ValueError(f"preset file {path} is a folder; give a TOML file")
        if not path.is_file():
            raise ValueError(f"preset file {path} does not exist")
        return path
    path = presets_dir() / f"{study}.{text}.toml"
    if not path.is_file():
        known = sorted(p.name[len(study) + 1 : -len(".toml")] for p in presets_dir().glob(f"{study}.*.toml"))
        raise ValueError(f"no preset {text!r} for study {study}: {path} does not exist; "
                         f"known presets: {', '.join(known) or 'none'}")
    return path


def load_preset(study: str, name_or_path, allowed: Optional[Mapping[str, Any]] = None) -> dict:
    """Read and check one preset.

    Parameters
    ----------
    study : the study's name, e.g. ``"dying_edges"``.
    name_or_path : a preset name (``"quick"``) or the path of a TOML file.
    allowed : the ``[study]`` keys the study accepts and their types: a type
        (``int`` refuses booleans, ``float`` accepts integers), a tuple of types, or
        ``list[T]`` (a TOML array whose items are all T). None accepts any key.

    Returns
    -------
    preset : ``{"study": dict, "config": dict, "path": Path}``. ``config`` holds only the
        RunConfig fields the file sets; they have been checked by building a
        :class:`~sltsim.config.RunConfig` from them.

    Raises
    ------
    ValueError : one line naming the file, and the key when a key is at fault.
    """
    path = preset_path(study, name_or_path)
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{path}: invalid TOML: {e}") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text (byte {e.start}); a preset is a UTF-8 TOML file") from None
    except OSError as e:
        raise ValueError(f"preset file {path} cannot be read: {e.strerror or e}") from None
    for key, value in data.items():
        if key not in TABLES:
            raise ValueError(f"unknown key {key!r} in {path}; a preset has only the tables "
                             f"{', '.join(f'[{t}]' for t in TABLES)}")
        if not isinstance(value, dict):
            raise ValueError(f"key {key!r} in {path} must be a table [{key}], got {value!r}")
    study_values = dict(data.get("study", {}))
    if allowed is not None:
        for key, value in study_values.items():
            if key not in allowed:
                raise ValueError(f"unknown key {key!r} in [study] of {path}; known keys: "
                                 f"{', '.join(sorted(allowed))}")
            if not _matches(value, allowed[key]):
                raise ValueError(f"key {key!r} in [study] of {path} must be {_describe(allowed[key])}, "
                                 f"got {value!r}")
            if isinstance(value, (list, dict)) and not value:
                raise ValueError(f"key {key!r} in [study] of {path} must hold at least one value, got {value!r}")
    config_values = dict(data.get("config", {}))
    _check_config(config_values, path)
    return {"study": study_values, "config": config_values, "path": path}


def _check_config(values: dict, path: Path) -> None:
    from sltsim.config import RunConfig

    source = f"[config] of {path}"
    try:
        RunConfig.from_dict(values, source=source)
    except ValueError as e:
        message = str(e)
        raise ValueError(message if source in message else f"{source}: {message}") from None
    except TypeError as e:  # e.g. a TOML table where a field takes a number
        raise ValueError(f"{source}: {e}") from None


def _matches(value, kind) -> bool:
    origin = typing.get_origin(kind)
    if origin is list:
        (item,) = typing.get_args(kind) or (object,)
        return isinstance(value, list) and all(_matches(v, item) for v in value)
    if isinstance(kind, tuple):
        return any(_matches(value, k) for k in kind)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def _describe(kind) -> str:
    if typing.get_origin(kind) is list:
        (item,) = typing.get_args(kind) or (object,)
        return f"a list of {_describe(item).removeprefix('a ').removeprefix('an ')}s"
    if isinstance(kind, tuple):
        return " or ".join(_describe(k) for k in kind)
    name = {int: "integer", float: "number", str: "string", bool: "boolean", list: "list",
            dict: "table"}.get(kind, getattr(kind, "__name__", str(kind)))
    return f"an {name}" if name[0] in "aeiou" else f"a {name}"
