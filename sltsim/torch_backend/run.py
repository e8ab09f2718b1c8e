"""``run_search(config) -> record`` on the torch backend, with checkpoints and resumption.

The entry point of ``--backend torch``: build the run (:mod:`.build`), then the one
driver and record builder every backend shares (:mod:`sltsim.search.driver`). With
``--checkpoint PATH`` a checkpoint is written after every epoch and at every cycle
end; with ``--resume`` as well, the run continues from that file when it exists.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Optional

import torch

from sltsim.registry import METHODS
from sltsim.search.driver import run_to_record
from sltsim.torch_backend.build import build_run


def run_search(config, progress: bool = False, on_finish=None) -> dict:
    """Run one config on the torch backend to its record (a plain, JSON-ready dict).

    Raises ValueError (one line) for a missing or malformed data directory. ``on_finish(run)``,
    if given, is called with the finished run (not a diverged one) before its resources
    are released, e.g. to save the ticket found.

    torch's CPU threads are those of the enclosing setting (a study cell: one, so that
    cells side by side do not oversubscribe the cores), else torch's own default (every
    core); ``threads`` of the config is the engine's and refused on torch.
    """
    from sltsim.engine import threads

    with torch_threads(threads.ambient()):
        run = build_run(config)
        try:
            record = run_to_record(run, METHODS[config.method], progress, on_finish)
        except BaseException:
            run.close(clean=False)
            raise
        run.close()
        return record


@contextmanager
def torch_threads(n: Optional[int]) -> Iterator[None]:
    """torch's intra-op CPU threads set to ``n`` inside the block (None: left as they are)."""
    if n is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
