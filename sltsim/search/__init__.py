"""Search methods: a registry from ``--method`` names to method objects.

A method is a :class:`~sltsim.search.method.Method`, written once for both backends;
:func:`run_search` runs one on the NumPy engine (:class:`~sltsim.search.numpy_backend.Search`)
through the one driver and record builder (:mod:`sltsim.search.driver`), and turns a
diverged run into a record with ``status: "diverged"``.
"""

from __future__ import annotations

from sltsim.search.dense import DenseBaseline
from sltsim.search.ep import EdgePopup
from sltsim.search.global_ep import GlobalEdgePopup
from sltsim.search.iterand import IteRand
from sltsim.search.iterative import METHODS as ITERATIVE_METHODS
from sltsim.search.multicoat import MultiCoat
from sltsim.search.random_ticket import RANDOM_TICKETS, RearrangedEdgePopup

from sltsim.registry import METHODS, register

for _method in (EdgePopup(), *ITERATIVE_METHODS, GlobalEdgePopup(), IteRand(), MultiCoat(), *RANDOM_TICKETS,
                RearrangedEdgePopup(), DenseBaseline()):
    register(METHODS, _method.name, _method)


def run_search(config, progress: bool = False, on_finish=None) -> dict:
    """Run one config to its record (a plain, JSON-ready dict).

    ``on_finish(search)``, if given, is called with the :class:`~sltsim.search.numpy_backend.Search`
    once its final masks are set (not for a diverged run), e.g. to save the ticket found.

    BLAS runs on one thread: OpenBLAS's float32 GEMMs differ in the last bits between
    thread counts, and a record must not depend on where it was computed (a single
    run, a study in process, a process pool or a Dask worker). The engine runs on
    ``config.threads`` threads of its own (:mod:`sltsim.engine.threads`), which give the
    same bits at any count; 0 means the enclosing setting (a study cell: 1), else every
    core available.
    """
    from threadpoolctl import threadpool_limits

    from sltsim.engine import threads

    n = config.threads or threads.ambient() or threads.available()
    with threadpool_limits(limits=1, user_api="blas"), threads.using(n):
        return _run_search(config, progress, on_finish)


def _run_search(config, progress: bool, on_finish=None) -> dict:
    from sltsim.search.driver import run_to_record
    from sltsim.search.numpy_backend import build_search

    return run_to_record(build_search(config), METHODS[config.method], progress, on_finish)
