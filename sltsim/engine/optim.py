"""SGD with momentum, Nesterov and weight decay, on scores (straight-through) or on weights.

Semantics follow torch.optim.SGD with dampening 0: g <- g + wd * p;
v <- mu * v + g; step = g + mu * v (Nesterov) or v; p <- p - lr * step.
The update is one fused Numba pass per tensor with no allocation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sltsim.engine import threads
from sltsim.engine.kernels import _sgd_plain, _sgd_scores

PIECE = 1 << 16
"""Elements per range of one tensor's update on several threads (ranges start at multiples of it)."""


@dataclass(frozen=True)
class SGDConfig:
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool = False

    def __post_init__(self):
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov needs momentum > 0, got momentum 0")


class SGD:
    """SGD over a list of MaskedParams.

    ``target="scores"`` (edge-popup): the scores of searched params are updated with
    dL/ds = sign(s) * dL/dw_eff * theta0, or with dL/ds = dL/dw_eff * theta0 once
    ``identity_straight_through`` is set (a mask ranking the raw scores, IteRand as
    released). ``target="weights"`` (dense baseline): theta0 itself is updated with dL/dw_eff.
    """

    def __init__(self, params, config: SGDConfig, target: str = "scores"):
        if target not in ("scores", "weights"):
            raise ValueError(f"target must be 'scores' or 'weights', got {target!r}")
        self.target = target
        self.config = config
        self.params = [p for p in params if p.searched] if target == "scores" else list(params)
        self.velocity = [np.zeros(p.size, p.dtype) for p in self.params]
        self.identity_straight_through = False
        self._grad: list = []  # dL/ds buffers of the identity straight-through, made on first use

    def reset_state(self) -> None:
        for v in self.velocity:
            v.fill(0)

    def step(self, lr: float) -> None:
        c = self.config
        if self.identity_straight_through and self.target == "scores":
            if not self._grad:
                self._grad = [np.empty(p.size, p.dtype) for p in self.params]
            for p, v, g in zip(self.params, self.velocity, self._grad):
                np.multiply(p.flat("grad"), p.flat("theta0"), out=g)  # dL/ds = dL/dw_eff * theta0
                _sgd_plain(p.flat("scores"), g, v, lr, c.momentum, c.weight_decay, c.nesterov)
            return
        n_threads = threads.current()
        if n_threads <= 1 or sum(p.size for p in self.params) < 2 * PIECE:
            for p, v in zip(self.params, self.velocity):
                if self.target == "scores":
                    _sgd_scores(p.flat("scores"), p.flat("grad"), p.flat("theta0"), v,
                                lr, c.momentum, c.weight_decay, c.nesterov)
                else:
                    _sgd_plain(p.flat("theta0"), p.flat("grad"), v, lr, c.momentum, c.weight_decay, c.nesterov)
            return
        tasks = []
        for p, v in zip(self.params, self.velocity):
            # elementwise: any ranges give the same bits; ranges of large tensors run side by side
            for a, b in threads.bounds(p.size, n_threads, PIECE):
                if self.target == "scores":
                    args = (p.flat("scores")[a:b], p.flat("grad")[a:b], p.flat("theta0")[a:b], v[a:b])
                    tasks.append(lambda args=args: _sgd_scores(*args, lr, c.momentum, c.weight_decay, c.nesterov))
                else:
                    args = (p.flat("theta0")[a:b], p.flat("grad")[a:b], v[a:b])
                    tasks.append(lambda args=args: _sgd_plain(*args, lr, c.momentum, c.weight_decay, c.nesterov))
        threads.run(tasks, n_threads)
