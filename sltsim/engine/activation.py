"""ReLU: the only nonlinearity edge-popup's networks use."""

from __future__ import annotations

import numpy as np


class ReLU:
    params: list = []

    def __init__(self):
        self.params = []
        self.input_grad = True

    def forward(self, X: np.ndarray, train: bool = True):
        Y = np.maximum(X, 0)

        def backprop(dY):
            # the derivative reuses the saved output: dX = dY where Y > 0
            return np.where(Y > 0, dY, 0).astype(dY.dtype, copy=False)

        return Y, backprop
