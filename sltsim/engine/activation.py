"""ReLU: the only nonlinearity edge-popup's networks use."""

from __future__ import annotations

import numpy as np

from sltsim.engine import threads
from sltsim.engine.kernels import _relu_backward, _relu_forward

PIECE = 1 << 16
"""Elements per range of an elementwise pass on several threads."""


def _elementwise(kernel, *flat: np.ndarray) -> None:
    # kernel(*flat) over ranges of the flat arrays, side by side on several threads
    n_threads = threads.current()
    if n_threads <= 1 or flat[0].size <= PIECE:
        return kernel(*flat)
    threads.run([(lambda a=a, b=b: kernel(*(x[a:b] for x in flat)))
                 for a, b in threads.bounds(flat[0].size, n_threads, PIECE)], n_threads)


class ReLU:
    params: list = []

    def __init__(self):
        self.params = []
        self.input_grad = True

    def forward(self, X: np.ndarray, train: bool = True):
        # X, Y: any shape; Y = np.maximum(X, 0) in one Numba pass (NaN kept, -0.0 -> +0.0)
        X = np.ascontiguousarray(X)
        Y = np.empty(X.shape, X.dtype)
        if threads.current() > 1:
            _elementwise(_relu_forward, X.reshape(-1), Y.reshape(-1))
        else:
            _relu_forward(X.reshape(-1), Y.reshape(-1))

        def backprop(dY):
            # the derivative reuses the saved output: dX = dY where Y > 0, else +0.0
            # (np.where(Y > 0, dY, 0), which is ~20x slower with its scalar operand)
            dY = np.ascontiguousarray(dY)
            dX = np.empty(dY.shape, dY.dtype)
            if threads.current() > 1:
                _elementwise(_relu_backward, dY.reshape(-1), Y.reshape(-1), dX.reshape(-1))
            else:
                _relu_backward(dY.reshape(-1), Y.reshape(-1), dX.reshape(-1))
            return dX

        return Y, backprop
