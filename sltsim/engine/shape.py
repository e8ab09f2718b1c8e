"""Shape-only layers: Flatten, between the conv stages and the dense head."""

from __future__ import annotations

import numpy as np


class Flatten:
    """(B, d1, d2, ...) -> (B, d1 * d2 * ...) in C order, as torch's ``nn.Flatten``."""

    def __init__(self):
        self.params = []
        self.input_grad = True

    def forward(self, X: np.ndarray, train: bool = True):
        if X.ndim < 2:
            raise ValueError(f"Flatten needs a batch axis and at least one feature axis, got shape {X.shape}")
        shape, input_grad = X.shape, self.input_grad
        Y = X.reshape(shape[0], -1)

        def backprop(dY):
            return dY.reshape(shape) if input_grad else None

        return Y, backprop
