"""Evaluation of a model on a data split: mean loss and accuracy, in eval mode.

Used by the search loop after every epoch and by the planted-target metrics; it lives in
the engine because it needs only a model, arrays and a loss.
"""

from __future__ import annotations

import math

import numpy as np


def evaluate(model, X: np.ndarray, y: np.ndarray, loss_fn, batch_size: int = 1024) -> tuple[float, float]:
    """(mean loss, accuracy) with the current w_eff in eval mode; accuracy is NaN for regression.

    Parameters
    ----------
    model : engine model
        Its ``forward(X, train=False)`` returns (outputs, backprop).
    X : ndarray, shape (n, ...)
        Inputs.
    y : ndarray, shape (n,) of class indices, or (n, d_out) regression targets
    loss_fn : callable
        ``loss_fn(outputs, targets) -> (mean loss, gradient)``.
    batch_size : int
        Examples per forward pass.
    """
    total_loss, correct = 0.0, 0
    for start in range(0, X.shape[0], batch_size):
        xb, yb = X[start : start + batch_size], y[start : start + batch_size]
        out, _ = model.forward(xb, train=False)
        loss, _ = loss_fn(out, yb)
        total_loss += loss * xb.shape[0]
        if yb.ndim == 1:
            correct += int((out.argmax(axis=1) == yb).sum())
    n = X.shape[0]
    return total_loss / n, (correct / n if y.ndim == 1 else math.nan)
