"""Search methods: a registry from ``--method`` names to method objects.

A method has ``validate(config)``, ``final_prune_rate(config)`` and
``run(search, progress) -> list[CycleResult]``; :func:`run_search` wraps it into a
record and turns a diverged run into a record with ``status: "diverged"``.
"""

from __future__ import annotations

from sltsim.search.ep import EdgePopup

METHODS: dict = {m.name: m for m in (EdgePopup(),)}

from sltsim.search.iterative import METHODS as _ITERATIVE  # noqa: E402

METHODS.update({m.name: m for m in _ITERATIVE})


def run_search(config, progress: bool = False) -> dict:
    """Run one config to its record (a plain, JSON-ready dict)."""
    from sltsim.errors import Diverged
    from sltsim.search.loop import build_search, summarise

    search = build_search(config)
    method = METHODS[config.method]
    try:
        return summarise(search, method.run(search, progress=progress))
    except Diverged as e:
        return summarise(search, [], status="diverged", reason=str(e))
