"""One grid run per store: an exclusive ``flock`` on the store's folder, held across the grid.

:func:`sltsim.studies.runner.run_grid` holds it from reading the store to its last
append, so a second run on the same ``--out`` waits (saying so in one warning) and then
reads what the first stored: no cell is computed twice. The lock is on the folder, not
on the store file, because appends lock the file itself; it leaves no lock file behind.
"""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None


@contextmanager
def grid_lock(store_path, wait: bool = True) -> Iterator[None]:
    """Hold an exclusive ``flock`` on the folder of ``store_path`` (created if missing) for the
    whole ``with`` block: one grid run per store at a time. A second run waits, after a
    warning that says so; with ``wait=False`` it raises a one-line ValueError instead (rank 0
    of a run under torchrun, whose other ranks cannot wait that long). Where folders cannot be
    locked (no ``fcntl``, some network file systems) the block runs unlocked."""
    folder = Path(store_path).parent
    folder.mkdir(parents=True, exist_ok=True)
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                raise ValueError(f"{folder}: another run holds this store; a run under torchrun does not "
                                 "wait for it (its other ranks would time out): run again when it has "
                                 "finished, or give this run its own --out") from None
            warnings.warn(f"{folder}: another run holds this store; waiting for it to finish "
                          "(the cells it stores are not computed again)", stacklevel=3)
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:  # pragma: no cover - a file system without flock on folders
            yield
            return
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
