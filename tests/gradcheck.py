"""Float64 central differences: the reference every hand-written backprop is checked against."""

from __future__ import annotations

import numpy as np


def numerical_grad(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """d f(x) / dx by central differences; ``f`` returns a float and may read ``x`` in place."""
    grad = np.zeros_like(x, dtype=np.float64)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        plus = f()
        flat[i] = old - eps
        minus = f()
        flat[i] = old
        gflat[i] = (plus - minus) / (2 * eps)
    return grad


def assert_close(actual, expected, rtol: float = 1e-5, atol: float = 1e-7, what: str = "gradient") -> None:
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=f"{what} mismatch")
