"""Losses: each returns (mean loss over the batch, dL/dY)."""

from __future__ import annotations

import numpy as np


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean softmax cross-entropy and its gradient with respect to the logits.

    Parameters
    ----------
    logits : (B, C) float.
    labels : (B,) int class indices in [0, C).
    """
    B = logits.shape[0]
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    sum_exp = exp.sum(axis=1, keepdims=True)
    log_probs = shifted - np.log(sum_exp)
    loss = -float(log_probs[np.arange(B), labels].mean())
    grad = exp / sum_exp
    grad[np.arange(B), labels] -= 1
    grad /= B
    return loss, grad.astype(logits.dtype, copy=False)


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


LOSSES = {"cross_entropy": softmax_cross_entropy, "mse": mse}
