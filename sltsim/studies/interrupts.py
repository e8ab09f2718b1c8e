"""What a study command does with signals and warnings while it runs.

SIGTERM (what ``timeout``, SLURM and ``docker stop`` send) raises :class:`Terminated`, a
``KeyboardInterrupt``, so it unwinds exactly as Ctrl-C does: the local pool's workers are
stopped, the stored records stay, and the command exits 128 + 15. Warnings (a store
written by other code, a repaired line, a wait for another run's lock) print as one line
``PROG: warning: MESSAGE``.
"""

from __future__ import annotations

import signal
import sys
import warnings
from contextlib import contextmanager
from typing import Iterator


class Terminated(KeyboardInterrupt):
    """SIGTERM (timeout, SLURM, docker stop), raised where Ctrl-C raises KeyboardInterrupt."""

    signum = signal.SIGTERM


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` in the main thread for the block (elsewhere: as is)."""
    def handler(signum, frame):
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def one_line_warnings(prog: str) -> Iterator[None]:
    """Warnings (a stale store, a repaired line, a wait for a lock) as ``PROG: warning: MESSAGE``."""
    previous = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        print(f"{prog}: warning: {' '.join(str(message).split())}", file=sys.stderr if file is None else file)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = previous
