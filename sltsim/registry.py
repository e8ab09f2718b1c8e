"""Registries from names to objects, and the one place that fills them.

A registry maps the names a config may hold (``method = "ep"``, ``plant = "neuron"``,
``data = "digits"``, ``schedule = "cosine"``, ``weight_init = "uniform"``) to the objects that
implement them. The modules that define those objects fill the
registries when they are imported; :mod:`sltsim.config` validates a name through
:func:`get` and never imports those modules itself, so the config sits below every
package it names and no import cycle runs through it.

This module imports nothing from sltsim at module level. :func:`load` is the single,
deliberate exception: it imports the defining packages (late, on the first validation),
and the import-graph test (``tests/test_import_graph.py``) allows exactly that function.
"""

from __future__ import annotations

from typing import Any, Mapping

#: ``--method`` names -> method objects (filled by :mod:`sltsim.search`).
METHODS: dict = {}
#: ``plant`` names -> plants (filled by :mod:`sltsim.planted`).
PLANTS: dict = {}
#: ``data`` names of the real data sets -> ``load(dtype, image) -> Dataset`` (filled by
#: :mod:`sltsim.data`). ``data = "planted"`` is the other value: a teacher's labels (``PLANTS``).
DATASETS: dict = {}
#: ``schedule`` names -> lr multipliers ``f(t, total)`` (filled by :mod:`sltsim.engine.schedules`).
SCHEDULES: dict = {}
#: ``weight_init`` names -> theta0 initialisers (filled by :mod:`sltsim.init`).
WEIGHT_INITS: dict = {}
#: ``score_init`` names -> s0 initialisers (filled by :mod:`sltsim.init`).
SCORE_INITS: dict = {}
#: Config checks that live with what they check: name -> ``check(config)`` (raises ValueError).
#: ``"start_overlap"`` is filled by :mod:`sltsim.controls`.
CHECKS: dict = {}

_loaded = False


def get(registry: Mapping[str, Any], name: str, what: str):
    """``registry[name]``, or a ValueError that names the unknown key and the known ones."""
    try:
        return registry[name]
    except KeyError:
        raise ValueError(f"{what} must be one of {', '.join(sorted(registry))}; got {name!r}") from None


def register(registry: dict, name: str, value) -> None:
    """Add ``name -> value``; a name registered twice to different objects is an error."""
    if name in registry and registry[name] is not value:
        raise ValueError(f"{name!r} is registered twice")
    registry[name] = value


def load() -> None:
    """Import the packages that fill the registries (once; later calls return at once)."""
    global _loaded
    if _loaded:
        return
    import sltsim.controls  # noqa: F401  (fills CHECKS)
    import sltsim.data  # noqa: F401  (fills DATASETS)
    import sltsim.engine.schedules  # noqa: F401  (fills SCHEDULES)
    import sltsim.init  # noqa: F401  (fills WEIGHT_INITS, SCORE_INITS)
    import sltsim.planted  # noqa: F401  (fills PLANTS)
    import sltsim.search  # noqa: F401  (fills METHODS)

    _loaded = True
