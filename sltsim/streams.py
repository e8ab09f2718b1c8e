"""The independent random streams of one run, spawned from its seed.

A run draws from one stream per concern (:data:`STREAMS`, spawned in that order from
``np.random.SeedSequence(seed)``), so a change in how one concern draws moves no other
draw. Streams added later take the next children (the start control: child
``len(STREAMS)``; the padded ticket of :mod:`sltsim.metrics.planted`: ``len(STREAMS) + 1``),
which leaves every existing stream as it was.
"""

from __future__ import annotations

import numpy as np

#: The order in which a run's independent random streams are spawned from its seed.
STREAMS = ("weights", "scores", "batches", "data", "method")


def make_rngs(seed: int) -> dict:
    """{stream name: numpy Generator} for :data:`STREAMS`, spawned from ``seed``."""
    children = np.random.SeedSequence(seed).spawn(len(STREAMS))
    return {name: np.random.default_rng(child) for name, child in zip(STREAMS, children)}


__all__ = ["STREAMS", "make_rngs"]
