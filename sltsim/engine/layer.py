"""The layer protocol every engine op follows (STYLE.md 2).

``forward(X, train) -> (Y, backprop)``: the output and a closure that maps dL/dY to
dL/dX and writes dL/dw_eff into each of the layer's :class:`MaskedParam` ``grad``.
What backward needs lives in the closure, never on ``self``.

A layer whose ``input_grad`` is False (the first layer of a model) may return
None from backprop instead of computing dL/dX.
"""

from __future__ import annotations

from typing import Callable, Protocol

import numpy as np

Backprop = Callable[[np.ndarray], "np.ndarray | None"]


class Layer(Protocol):
    params: list
    input_grad: bool

    def forward(self, X: np.ndarray, train: bool) -> tuple[np.ndarray, Backprop]: ...


class Sequential:
    """Layers applied in order; the model every builder returns."""

    def __init__(self, layers: list):
        self.layers = list(layers)
        if self.layers:
            self.layers[0].input_grad = False
        self.input_grad = False

    @property
    def params(self) -> list:
        return [p for layer in self.layers for p in layer.params]

    def forward(self, X: np.ndarray, train: bool = True):
        backprops = []
        for layer in self.layers:
            X, bp = layer.forward(X, train)
            backprops.append(bp)

        def backprop(dY):
            for bp in reversed(backprops):
                dY = bp(dY)
            return dY

        return X, backprop

    def set_input_grad(self, value: bool) -> None:
        self.input_grad = value
        if self.layers:
            self.layers[0].input_grad = value
