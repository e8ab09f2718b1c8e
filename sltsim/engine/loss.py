"""Losses: each returns (mean loss over the batch, dL/dY)."""

from __future__ import annotations

import numpy as np

from sltsim.engine.kernels import _cross_entropy_grad, _shift_by_row_max


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean softmax cross-entropy and its gradient with respect to the logits.

    Parameters
    ----------
    logits : (B, C) float.
    labels : (B,) int class indices in [0, C).

    The exponential, the row sums and the logarithm are NumPy's; the row max, the
    label terms and the gradient (exp / sum - onehot) / B are two Numba passes that
    compute exactly what the NumPy expressions do, without their per-call overhead
    (fancy indexing and small reductions dominate a (128, 10) batch).
    """
    logits = np.ascontiguousarray(logits)
    labels = np.ascontiguousarray(labels)
    B, C = logits.shape
    if labels.shape != (B,):
        raise ValueError(f"labels must have shape ({B},) for logits of shape {logits.shape}, got {labels.shape}")
    shifted = np.empty_like(logits)
    _shift_by_row_max(logits, shifted)
    exp = np.exp(shifted)
    sum_exp = np.add.reduce(exp, axis=1, keepdims=True)  # exp.sum(axis=1, keepdims=True) without its wrapper
    picked = np.empty(B, logits.dtype)
    grad = np.empty_like(logits)
    if not _cross_entropy_grad(shifted, np.log(sum_exp), exp, sum_exp, labels, picked, grad):
        raise IndexError(f"labels must be class indices in [0, {C}), got min {labels.min()}, max {labels.max()}")
    # picked.mean() as NumPy computes it (sum, then the sum's type of sum / intp(B)), without
    # the 2 us of its Python wrapper: a small model's step is ~100 us
    total = np.add.reduce(picked)
    loss = -float(total.dtype.type(total / np.intp(B)))
    return loss, grad


def mse(outputs: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean squared error, mean over batch and outputs, and its gradient.

    Parameters
    ----------
    outputs, targets : (B, D) float.
    """
    diff = outputs - targets
    loss = float(np.mean(diff * diff))
    grad = (2.0 / diff.size) * diff
    return loss, grad.astype(outputs.dtype, copy=False)

