"""Initial weights theta0 and scores s0, drawn by the engine's initialisers.

The draws are made by :func:`sltsim.init.initialise_weights` and
:func:`sltsim.init.initialise_scores` on NumPy arrays, from the same seed streams
as the engine (:func:`sltsim.streams.make_rngs`), then copied into torch: a
torch run and a NumPy run of one config start from identical theta0 and s0, which
the parity tests rely on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from sltsim.init import initialise_scores, initialise_weights


@dataclass
class _Shell:
    """The attributes of a MaskedParam that the initialisers read and write."""

    name: str
    shape: tuple
    fan_in: int
    searched: bool
    prune_rate: float
    dtype: np.dtype
    theta0: np.ndarray = field(init=False)
    scores: np.ndarray = field(init=False)

    def __post_init__(self):
        self.theta0 = np.zeros(self.shape, self.dtype)
        self.scores = np.zeros(self.shape, self.dtype)

    @property
    def w_eff(self) -> np.ndarray:  # initialise_weights copies theta0 here
        return self.theta0


def _shells(tensors, dtype) -> list[_Shell]:
    return [_Shell(t.name, t.shape, t.fan_in, t.searched, t.prune_rate, dtype) for t in tensors]


def _numpy_dtype(t) -> np.dtype:
    return np.dtype(str(t.theta0.dtype).replace("torch.", ""))


def initialise_weights_(tensors, weight_init: str, final_prune_rate: float, rng: np.random.Generator) -> None:
    """theta0 of every tensor (in order), as the engine draws it for the same params."""
    if not tensors:
        return
    shells = _shells(tensors, _numpy_dtype(tensors[0]))
    initialise_weights(shells, weight_init, final_prune_rate, rng)
    with torch.no_grad():
        for t, s in zip(tensors, shells):
            t.theta0.copy_(torch.from_numpy(s.theta0))


def initialise_scores_(tensors, score_init: str, final_prune_rate: float, rng: np.random.Generator) -> None:
    """Scores of every searched tensor (in order), as the engine draws them."""
    if not tensors:
        return
    shells = _shells(tensors, _numpy_dtype(tensors[0]))
    initialise_scores(shells, score_init, final_prune_rate, rng)
    with torch.no_grad():
        for t, s in zip(tensors, shells):
            if t.searched:
                t.scores.copy_(torch.from_numpy(s.scores))
