"""How many threads one run uses, and the pool that runs its independent pieces of work.

A record must not depend on the number of threads. So nothing here splits a sum:
a parallel pass runs pieces whose results are each computed exactly as the serial
code computes them (one GEMM per conv batch slice, the two backward GEMMs of a dense
layer, the rows of a GEMM's output, one layer's top-k, a range of an elementwise
pass), and every reduction across pieces (a conv layer's weight gradient over its
batch slices) is added up in the serial order, by the calling thread.

BLAS runs on one thread in every piece (``run_search`` and the study runner pin
it): OpenBLAS's own threading changes the blocking of the shared dimension and
with it the last bits of a float32 product.

The setting is per calling thread (a Dask worker runs several cells in threads of
one process), set with :func:`using`; outside any :func:`using`, everything runs on
the calling thread alone.
"""

from __future__ import annotations

import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Callable, Iterator, Sequence

class _Setting(threading.local):
    threads: int | None = None  # None: no using() around the calling thread


_local = _Setting()
_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_size = 0


def available() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def check_threads(threads, what: str = "threads") -> int:
    """``threads`` as a positive int, or a one-line ValueError naming the value."""
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise ValueError(f"{what} must be a positive integer, got {threads!r}")
    return threads


def current() -> int:
    """Threads the calling thread's run may use: the innermost :func:`using`, else 1."""
    return _local.threads or 1


def ambient() -> int | None:
    """The innermost :func:`using` of the calling thread, or None outside any."""
    return _local.threads


@contextmanager
def using(threads: int) -> Iterator[int]:
    """Run the engine on ``threads`` threads inside the block (this calling thread only)."""
    threads = check_threads(threads)
    old = _local.threads
    _local.threads = threads
    try:
        yield threads
    finally:
        _local.threads = old


def _executor(workers: int) -> ThreadPoolExecutor:
    # one pool per process, shared by the runs of all its threads; a larger request replaces
    # it by a larger one and leaves the old one be (a run may still be handing it work)
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size < workers:
            _pool_size = max(workers, available() - 1)
            _pool = ThreadPoolExecutor(max_workers=_pool_size, thread_name_prefix="sltsim-engine")
        return _pool


def run(tasks: Sequence[Callable[[], object]], threads: int | None = None) -> list:
    """Run every task, on up to ``threads`` threads (default :func:`current`); results in task order.

    The calling thread takes its share; tasks are handed out in order, one at a time.
    Tasks must be independent (no task may read what another writes). An exception
    of a task is raised once every task has finished or been skipped.
    """
    n = len(tasks)
    threads = current() if threads is None else threads
    if threads <= 1 or n <= 1:
        return [task() for task in tasks]
    results: list = [None] * n
    errors: list = []
    counter = itertools.count()  # next() is atomic under the GIL

    def drain() -> None:
        while not errors:
            i = next(counter)
            if i >= n:
                return
            try:
                results[i] = tasks[i]()
            except BaseException as e:  # noqa: BLE001 - re-raised by the caller below
                errors.append(e)

    helpers = min(threads, n) - 1
    pool = _executor(helpers)
    futures = [pool.submit(drain) for _ in range(helpers)]
    drain()
    for f in futures:
        f.result()
    if errors:
        raise errors[0]
    return results


def bounds(n: int, pieces: int, quantum: int = 1) -> list[tuple[int, int]]:
    """[start, stop) of ``pieces`` near-equal contiguous ranges of range(n), starts multiples of ``quantum``.

    Fewer ranges come back when n has fewer than ``pieces`` quanta; never an empty range.
    """
    blocks = -(-n // quantum)
    pieces = max(1, min(pieces, blocks))
    edges = [min(n, quantum * (blocks * i // pieces)) for i in range(pieces + 1)]
    return [(a, b) for a, b in zip(edges, edges[1:]) if b > a]
