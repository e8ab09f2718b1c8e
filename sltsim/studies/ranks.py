"""A study under torchrun: every rank runs the same cells, rank 0 alone keeps the store.

``python -m torch.distributed.run --nproc_per_node N -m sltsim.studies NAME --preset P ...``
starts N processes with ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` set. Each cell of a torch
study is one DistributedDataParallel run, whose all-reduces need every rank inside the same
cell, so when ``WORLD_SIZE > 1`` (:func:`current`):

- every rank runs the same pending cells in the same order, in its own process: no worker
  pool and no Dask scheduler (``--workers N > 1`` and ``--scheduler`` are refused in one
  line), and no cell on the NumPy engine, which would compute one record N times
  (:func:`check_grid`);
- the process group is started once for the grid (:func:`group`, by
  :func:`sltsim.torch_backend.distributed.setup`: NCCL on CUDA devices, gloo on CPUs) and
  every cell's run joins it rather than starting its own;
- rank 0 alone writes: it checks ``--out``, takes the store's folder lock, reads the store,
  appends the records, prints the tables and draws the figures. What it decides reaches the
  other ranks through :func:`from_main`, one ``broadcast_object_list`` of its value (the keys
  of the pending cells; at the end the grid's records) or of the error that stopped it, which
  every rank then raises (:class:`MainRankFailed` on the others: exit code, no second line).

Why the ranks cannot diverge: only rank 0 reads the store, once, under its lock; the others
take its list of pending keys, so a record appended meanwhile (by rank 0, or by another run)
cannot make two ranks skip different cells. Before that, :func:`agree` checks with one
``all_gather_object`` that every rank built the same grid (the same keys, in the same order)
and refuses on every rank when one did not. Why they cannot deadlock: every rank reaches the
runner's collectives in the same order, because it runs the same code on the same grid; an
error of rank 0 before a broadcast is itself broadcast; rank 0 never waits for another run's
lock on the store (the others would time out inside the broadcast), it refuses in one line;
and a cell that raises on a rank stops the grid on that rank (:class:`CellFailedUnderDDP`)
instead of going on to the next cell, because the other ranks may still be inside that
cell's all-reduces: torchrun then stops them, and a rerun computes what was not stored.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional, Sequence

#: the environment torchrun sets on every process it starts
ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
EXIT_BAD_INPUT = 2
EXIT_FAILED = 1


@dataclass(frozen=True)
class Ranks:
    """This process's place among torchrun's: ``rank`` of ``world`` (``world == 1`` without torchrun)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that reads and writes the store and the outputs."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1


class MainRankFailed(Exception):
    """Rank 0 stopped with an error it has already printed; another rank exits with ``code``, silently."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


class CellFailedUnderDDP(RuntimeError):
    """A cell raised under DDP: the grid stops on this rank (the others may be inside its collectives)."""


def current() -> Ranks:
    """:class:`Ranks` from torchrun's environment (one process when ``WORLD_SIZE`` is unset or 1);
    one ValueError line naming a bad variable."""
    if os.environ.get("WORLD_SIZE", "1").strip() == "1":
        return Ranks()
    values = {}
    for name, default in zip(ENV, ("0", "1", "0")):
        text = os.environ.get(name, default)
        try:
            values[name] = int(text)
        except ValueError:
            raise ValueError(f"environment variable {name} must be an integer (torchrun sets it), "
                             f"got {text!r}") from None
    rank, world, local = values["RANK"], values["WORLD_SIZE"], values["LOCAL_RANK"]
    if world < 1 or not 0 <= rank < world or local < 0:
        raise ValueError(f"RANK={rank}, WORLD_SIZE={world}, LOCAL_RANK={local}: need WORLD_SIZE >= 1, "
                         "0 <= RANK < WORLD_SIZE and LOCAL_RANK >= 0 (torchrun sets them)")
    return Ranks(rank, world, local)


def check_grid(configs: Sequence, workers: int = 1, scheduler: Optional[str] = None) -> None:
    """Under torchrun (``WORLD_SIZE > 1``), refuse in one line (:func:`refusal`) what cannot
    run as one DDP grid: a worker pool, a Dask scheduler, a cell on the NumPy engine, cells
    on two kinds of device. Nothing is checked on one process."""
    ranks = current()
    if not ranks.distributed:
        return
    where = f"under torchrun (WORLD_SIZE={ranks.world})"
    if scheduler is not None:
        raise refusal(ranks, f"--scheduler {scheduler}: {where} every rank runs the cells itself, in process, "
                         "and each cell is one DDP run across the ranks; drop --scheduler")
    if workers != 1:
        raise refusal(ranks, f"--workers {workers}: {where} every rank runs the cells in process, one after the "
                         "other, and each cell is one DDP run across the ranks; use --workers 1")
    engine = [c for c in configs if getattr(c, "backend", "numpy") != "torch"]
    if engine:
        raise refusal(ranks, f"cell {engine[0].key()} runs on backend {getattr(engine[0], 'backend', 'numpy')}: "
                         f"{where} every cell must have backend = \"torch\" (the engine does not use DDP, "
                         "so each rank would compute the same record); run it without torchrun, "
                         "with --workers N for a pool")
    kinds = sorted({str(c.device).split(":")[0] for c in configs})
    if len(kinds) > 1:
        raise refusal(ranks, f"device: {where} the cells must all run on one kind of device, got {', '.join(kinds)}")


@contextmanager
def group(configs: Sequence) -> Iterator[Ranks]:
    """Hold torch's process group for the ``with`` block when ``WORLD_SIZE > 1``: started here
    (and destroyed at the end) unless it already runs; the cells' runs join it. Yields
    :func:`current`. On one process it starts nothing and imports no torch."""
    ranks = current()
    if not ranks.distributed:
        yield ranks
        return
    from sltsim.torch_backend import distributed

    device = next((c.device for c in configs), "cpu")
    _, _, started = distributed.setup(device)
    try:
        yield ranks
    except BaseException:
        distributed.teardown(started, clean=False)  # the other ranks may be anywhere: wait for none
        raise
    distributed.teardown(started)


def from_main(fn: Callable[[], Any]) -> Any:
    """``fn()`` on rank 0, and its value on every rank (one broadcast).

    On one process this is ``fn()``. Under torchrun only rank 0 calls ``fn``; when it raises,
    rank 0 broadcasts the error and raises it again, and every other rank raises
    :class:`MainRankFailed` with the exit code (2 for a ValueError, bad input; 1 otherwise).
    Every rank must call it at the same point (it is a collective).
    """
    ranks = current()
    if not ranks.distributed:
        return fn()
    import torch.distributed as dist

    if ranks.is_main:
        try:
            message = ("ok", fn())
        except Exception as e:
            dist.broadcast_object_list([("error", str(e), EXIT_BAD_INPUT if isinstance(e, ValueError)
                                         else EXIT_FAILED)], src=0)
            raise
        dist.broadcast_object_list([message], src=0)
        return message[1]
    box = [None]
    dist.broadcast_object_list(box, src=0)
    if box[0][0] == "error":
        raise MainRankFailed(box[0][1], box[0][2])
    return box[0][1]


def agree(value: Any, what: str) -> None:
    """Refuse on every rank (:func:`refusal`) unless every rank passes an equal ``value`` (one
    ``all_gather_object``); ``what`` names it. Nothing happens on one process."""
    ranks = current()
    if not ranks.distributed:
        return
    import torch.distributed as dist

    values = [None] * ranks.world
    dist.all_gather_object(values, value)
    differ = [r for r, v in enumerate(values) if v != values[0]]
    if differ:
        raise refusal(ranks, f"rank {differ[0]} built another {what} than rank 0; every rank must run the "
                             "same command on the same files")


def refusal(ranks: Ranks, message: str) -> Exception:
    """The error of bad input that every rank finds alike: a ValueError on rank 0, which prints it,
    and :class:`MainRankFailed` (exit 2, silent) on the others, so the line is printed once."""
    return ValueError(message) if ranks.is_main else MainRankFailed(message, EXIT_BAD_INPUT)
