"""Run a grid of cells through a ``concurrent.futures`` executor, storing each record at once.

A study is a list of :class:`~sltsim.config.RunConfig` s and a *cell*: a pure,
picklable, module-level function ``cell(config) -> record``. :func:`run_grid` skips
the configs whose key is already in the :class:`~sltsim.studies.store.RecordStore`,
runs the others in process (``workers=1``), in a local process pool (``workers=N``)
or on a Dask cluster (``scheduler="tcp://HOST:PORT"``), and appends every record
the moment its cell finishes, so a killed run loses only the cells in flight.

Provenance. Every record gets a ``provenance`` object (:mod:`sltsim.provenance`: the
sltsim version, the code fingerprint, library versions, machine and UTC time); it never
enters the key. A grid whose stored records another code made reuses them with a
warning naming the fingerprints; ``recompute_stale=True`` computes them again, and the
record of the current code is then the one returned.

One grid per store. :func:`run_grid` holds an exclusive ``flock`` on the store's folder
from reading the store to its last append: a second run on the same store waits (and
says so), then reads what the first stored, so no cell is ever computed twice. Workers
ignore SIGINT, and each watches its parent: a worker whose parent died (SIGKILL, an
out-of-memory kill) exits within a second instead of computing on as an orphan.

Under torchrun (``WORLD_SIZE > 1``) a grid of torch cells runs as one DDP grid
(:mod:`sltsim.studies.ranks`): every rank runs the pending cells of rank 0 in order, in
process, and only rank 0 takes the lock, reads the store and appends to it.

Determinism. OpenBLAS splits a matrix product differently with 1 and with 2
threads, and the results differ in the last bits, so every cell runs with one
BLAS thread (threadpoolctl) whatever the executor: a record is then the same bit
for bit in process, in a pool and on a cluster of identical machines. Machines
with other CPUs may pick other BLAS kernels and differ in the last bits. A cell's
engine runs on one thread (``config.threads`` when set): cells run side by side.
"""

from __future__ import annotations

import importlib
import json
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from contextlib import ExitStack, contextmanager
from typing import Callable, Iterator, Optional, Sequence

from tqdm.auto import tqdm

from sltsim import provenance
from sltsim.studies import ranks
from sltsim.studies.lock import grid_lock
from sltsim.studies.plan import StaleRecordsWarning, plan  # noqa: F401  (re-exported)
from sltsim.studies.store import RecordStore, encode, strip_timing  # noqa: F401  (re-exported)

Cell = Callable[[object], dict]

#: The start method of local worker processes; "fork" is unsafe with BLAS and numba threads.
POOL_CONTEXT = "spawn"

#: Seconds between a worker's checks that its parent is alive.
PARENT_POLL_SECONDS = 0.5

_blas_pinned = False


def search_cell(config) -> dict:
    """The plain cell: one run on the config's backend (:func:`sltsim.api.run`, which reads
    ``config.backend``: the NumPy engine or torch), without a progress bar."""
    from sltsim.api import run

    return run(config, progress=False)


def failed_record(config, error: BaseException) -> dict:
    """The record of a cell that raised: key, config, ``status: "failed"`` and the reason."""
    reason = f"{type(error).__name__}: {error}".splitlines()[0] if str(error) else type(error).__name__
    return {"key": config.key(), "config": config.to_dict(), "status": "failed", "reason": reason,
            "traceback": "".join(traceback.format_exception(type(error), error, error.__traceback__))}


def evaluate_cell(cell: Cell, config) -> dict:
    """Run one cell and return its stored (JSON) form; an exception becomes a failed record.

    The record gets ``key = config.key()`` when the cell set none, and this process's
    ``provenance`` when it has none; a cell that returns another key, or something that
    is not a JSON-ready dict, fails.
    """
    try:
        with one_thread_per_cell(config):
            record = cell(config)
        if not isinstance(record, dict):
            raise TypeError(f"cell {getattr(cell, '__name__', cell)} returned a "
                            f"{type(record).__name__}, expected a record dict")
        record = dict(record)
        key = record.setdefault("key", config.key())
        if key != config.key():
            raise ValueError(f"cell returned key {key!r} for a config whose key is {config.key()!r}")
        line = encode(provenance.stamp(record))
    except Exception as e:  # noqa: BLE001 - a failing cell must not stop the grid
        line = encode(provenance.stamp(failed_record(config, e)))
    return json.loads(line)


def one_thread_per_cell(config):
    """Engine threads of a cell: ``config.threads`` when set, else 1 (cells run side by side)."""
    from sltsim.engine import threads

    return threads.using(getattr(config, "threads", 0) or 1)


def _pinned_cell(cell: Cell, config) -> dict:
    """:func:`evaluate_cell` in a worker process, with BLAS held to one thread for good."""
    _pin_blas_for_process()
    return evaluate_cell(cell, config)


def _init_worker(parent: int) -> None:
    """A local pool worker: one BLAS thread, Ctrl-C left to the parent, and a daemon thread
    that ends the worker when ``parent`` is no longer its parent (it died)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _pin_blas_for_process()
    threading.Thread(target=_watch_parent, args=(parent,), name="sltsim-watch-parent", daemon=True).start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(1)  # the parent is gone: nobody will store this worker's results


def _pin_blas_for_process() -> None:
    # Never restored: cells on several threads of one Dask worker all see one thread.
    global _blas_pinned
    if not _blas_pinned:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1, user_api="blas")
        _blas_pinned = True


@contextmanager
def _one_blas_thread() -> Iterator[None]:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


@contextmanager
def _executor(workers: int, scheduler: Optional[str], n_cells: int) -> Iterator[Optional[Executor]]:
    """The executor for a grid of ``n_cells``; None means: run in this process."""
    if scheduler is not None:
        try:
            from distributed import Client
        except ImportError as e:
            raise ValueError(f"--scheduler needs dask.distributed: pip install -e '.[dask]' ({e})") from None
        try:
            client = Client(scheduler, timeout="20s")
        except OSError as e:
            raise ValueError(f"cannot reach the Dask scheduler at {scheduler}: {e}") from None
        try:
            yield client.get_executor(pure=False)
        finally:
            client.close()
        return
    if workers == 1 or n_cells <= 1:
        with _one_blas_thread():
            yield None
        return
    context = multiprocessing.get_context(POOL_CONTEXT)
    pool = ProcessPoolExecutor(max_workers=min(workers, n_cells), mp_context=context,
                               initializer=_init_worker, initargs=(os.getpid(),))
    try:
        yield pool
    except BaseException:  # Ctrl-C, SIGTERM, a broken store: stop the workers now
        _terminate(pool)
        raise
    pool.shutdown(wait=True)


def _terminate(pool: ProcessPoolExecutor) -> None:
    """Kill the pool's workers (a running cell is lost: its record was not stored) and wait."""
    processes = list((getattr(pool, "_processes", None) or {}).values())  # no public accessor
    for process in processes:
        if process.is_alive():
            process.terminate()
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.join(timeout=5)


def importable(cell: Cell) -> Cell:
    """``cell`` as a function other processes can import by name.

    A study run as ``python -m sltsim.studies.NAME`` defines its cell in ``__main__``;
    workers that did not start from that command (spawned processes, Dask) cannot find
    ``__main__.cell``, so the cell is looked up again in the module under its real name.
    """
    if getattr(cell, "__module__", None) != "__main__":
        return cell
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    if spec is None or not spec.name or spec.name == "__main__":
        return cell
    module = importlib.import_module(spec.name)
    return getattr(module, cell.__qualname__, cell)


def _completed(executor: Optional[Executor], cell: Cell, configs: list) -> Iterator[dict]:
    """Records in completion order (in config order when ``executor`` is None)."""
    if executor is None:
        for config in configs:
            yield evaluate_cell(cell, config)
        return
    cell = importable(cell)
    futures = {executor.submit(_pinned_cell, cell, config): config for config in configs}
    for future in as_completed(futures):
        try:
            yield future.result()
        except Exception as e:  # the executor broke (a worker died, the cell did not pickle)
            raise RuntimeError(f"the executor failed on cell {futures[future].key()} "
                               f"({type(e).__name__}: {e}); the records stored so far are kept "
                               "and a rerun computes only the missing cells") from e


def run_grid(configs: Sequence, cell: Cell, store: RecordStore | str, *, workers: int = 1,
             scheduler: Optional[str] = None, progress: bool = True, desc: str = "cells",
             retry_failed: bool = True, recompute_stale: bool = False,
             tag: Optional[dict] = None) -> list[dict]:
    """Run every config's cell that the store lacks; return all records in config order.

    Parameters
    ----------
    configs : the grid, a sequence of :class:`~sltsim.config.RunConfig`; a config that
        appears twice runs once.
    cell : a module-level function ``cell(config) -> dict`` (it must pickle by name).
        A record may hold wall-clock times only under keys named ``seconds`` or ending
        in ``_seconds`` (see :func:`~sltsim.studies.store.strip_timing`).
    store : a :class:`RecordStore`, or the path of its ``.jsonl`` file.
    workers : 1 runs in this process; N > 1 runs a local pool of N spawned processes.
    scheduler : ``"tcp://HOST:PORT"`` of a Dask scheduler; the cells then run on its
        workers (through ``Client.get_executor``) and ``workers`` is ignored.
    progress : draw a tqdm bar on stderr (ETA, and counts of failed and diverged cells).
    desc : the bar's label.
    retry_failed : run again the cells stored with ``status: "failed"`` (an exception,
        not a result); a stored ``"diverged"`` cell is a result and is kept. A cell that
        fails again with the same reason, under the same code, is not stored twice.
    recompute_stale : run again the cells whose stored record another code computed (a
        different code fingerprint, or no provenance). Without it they are reused, with a
        :class:`StaleRecordsWarning` naming the fingerprints.
    tag : fields added to every new record (e.g. ``{"preset": "quick"}``); never the key.

    Under torchrun every rank must call it with the same grid; it needs ``workers=1`` and no
    scheduler, stops at the first failed cell (:class:`~sltsim.studies.ranks.CellFailedUnderDDP`),
    and returns rank 0's records on every rank.

    Returns
    -------
    records : one stored-form record per config, in the order of ``configs``.

    Raises
    ------
    ValueError : bad ``workers``, an unreachable scheduler, or a store with a corrupt line.
    RuntimeError : the executor itself broke; what was stored stays stored.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    store = store if isinstance(store, RecordStore) else RecordStore(store)
    keys = [c.key() for c in configs]
    if ranks.current().distributed:
        return _run_ranked_grid(configs, keys, cell, store, workers, scheduler, progress, desc,
                                retry_failed, recompute_stale, tag)
    with grid_lock(store.path):
        grid = plan(store, configs, keys, retry_failed, recompute_stale)
        with _bar(len(set(keys)), len(grid.todo), desc, progress) as count:
            if grid.todo:
                with _executor(workers, scheduler, len(grid.todo)) as executor:
                    for record in _completed(executor, cell, list(grid.todo.values())):
                        count(grid.keep(store, record, tag))
    return [grid.done[key] for key in keys]


def _run_ranked_grid(configs, keys, cell, store, workers, scheduler, progress, desc, retry_failed,
                     recompute_stale, tag) -> list[dict]:
    """:func:`run_grid` under torchrun (:mod:`sltsim.studies.ranks`): every rank runs rank 0's
    pending cells in order, in process; rank 0 alone locks, reads and appends to the store; every
    rank returns rank 0's records."""
    ranks.check_grid(configs, workers, scheduler)
    with ranks.group(configs) as here:
        ranks.agree(keys, "grid (the keys of its cells)")
        by_key = dict(zip(keys, configs))
        with ExitStack() as held:
            grid = None

            def pending() -> list[str]:  # rank 0, while it holds the store until the grid ends
                nonlocal grid
                held.enter_context(grid_lock(store.path, wait=False))
                grid = plan(store, configs, keys, retry_failed, recompute_stale)
                return list(grid.todo)

            todo = ranks.from_main(pending)
            with _bar(len(by_key), len(todo), desc, progress and here.is_main) as count, _one_blas_thread():
                for key in todo:
                    record = evaluate_cell(cell, by_key[key])
                    if here.is_main:
                        record = count(grid.keep(store, record, tag))
                    if record.get("status") == "failed":
                        raise ranks.CellFailedUnderDDP(
                            f"cell {key} failed on rank {here.rank} ({record.get('reason', '')}); under "
                            "torchrun the grid stops at a failed cell, since the other ranks may still be "
                            "inside its all-reduces; the records stored so far are kept and a rerun "
                            "computes the others")
            return ranks.from_main(lambda: [grid.done[key] for key in keys])


@contextmanager
def _bar(total: int, todo: int, desc: str, progress: bool) -> Iterator[Callable[[dict], dict]]:
    """A tqdm bar over the grid's unique cells; yields ``count(record) -> record``, which advances
    it and keeps the counts of failed and diverged cells."""
    counts = {"failed": 0, "diverged": 0}
    bar = tqdm(total=total, initial=total - todo, desc=desc, unit="cell",
               disable=not progress, file=sys.stderr, dynamic_ncols=True)
    bar.set_postfix(counts, refresh=False)

    def count(record: dict) -> dict:
        if record.get("status") in counts:
            counts[record["status"]] += 1
            bar.set_postfix(counts, refresh=False)
        bar.update(1)
        return record

    try:
        yield count
    finally:
        bar.close()
