"""What a run's engine arrays need in memory, checked against the machine before the run.

A model too wide for the machine is refused in one line at config time, not with a
``MemoryError`` (or the kernel's OOM killer) minutes into the run.
"""

from __future__ import annotations

import os
from typing import Optional

#: Bytes the engine holds per searched edge: theta0, scores, the score gradient and the
#: SGD momentum in the run's dtype, and the mask, ever-selected and history flags (a byte each).
_ARRAYS_PER_EDGE, _FLAGS_PER_EDGE = 4, 3


def physical_memory() -> Optional[int]:
    """Bytes of physical memory of this machine, or None where the OS does not say."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):  # pragma: no cover - not POSIX
        return None


def footprint(config) -> Optional[int]:
    """An estimate (in bytes, a lower bound) of what the engine holds for an MLP ``config``:
    the per-edge arrays of every layer (twice for a planted target, whose teacher and
    ticket have the student's shape) and the training inputs. None for other models."""
    from sltsim.engine.models import parse_model_spec

    spec = parse_model_spec(config.model)
    if spec.family != "mlp":
        return None
    itemsize = 8 if config.dtype == "float64" else 4
    edges = sum(a * b for a, b in zip(spec.widths[:-1], spec.widths[1:]))
    per_edge = _ARRAYS_PER_EDGE * itemsize + _FLAGS_PER_EDGE
    total = edges * per_edge
    if config.data == "planted":
        total += edges * (itemsize + 1) + (config.n_train + config.n_test) * spec.widths[0] * itemsize
    return total


def check_footprint(config) -> None:
    """Refuse, in one line, an MLP whose engine arrays exceed this machine's memory."""
    needed, available = footprint(config), physical_memory()
    if needed is not None and available is not None and needed > available:
        raise ValueError(f"model {config.model} needs at least {needed / 2**30:.1f} GiB (weights, scores, "
                         f"gradients, momentum and masks of its edges), more than this machine's "
                         f"{available / 2**30:.1f} GiB of memory; use narrower layers")
