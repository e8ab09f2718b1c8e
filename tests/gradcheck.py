"""Float64 central differences: the reference every hand-written backprop is checked against."""

from __future__ import annotations

import numpy as np


def sampled_numerical_grad(f, x: np.ndarray, index, eps: float = 1e-6) -> np.ndarray:
    """Central differences of ``f`` (a float, reading ``x`` in place) at the flat entries ``index`` of ``x``."""
    flat = x.reshape(-1)
    out = np.empty(len(index))
    for n, i in enumerate(index):
        old = flat[i]
        flat[i] = old + eps
        plus = f()
        flat[i] = old - eps
        minus = f()
        flat[i] = old
        out[n] = (plus - minus) / (2 * eps)
    return out


def smooth_entries(f, x: np.ndarray, index, eps: float = 1e-6, rtol: float = 1e-4, atol: float = 1e-7) -> np.ndarray:
    """(len(index),) bool: True where ``f`` is differentiable enough at ``x`` for a central
    difference to be a reference, i.e. its forward and backward one-sided differences agree.
    False at a kink (e.g. a ReLU whose input is exactly 0, where the engine takes the
    derivative 0 and a central difference sees half the slope)."""
    flat = x.reshape(-1)
    out = np.empty(len(index), bool)
    base = f()
    for n, i in enumerate(index):
        old = flat[i]
        flat[i] = old + eps
        forward = (f() - base) / eps
        flat[i] = old - eps
        backward = (base - f()) / eps
        flat[i] = old
        out[n] = abs(forward - backward) <= atol + rtol * max(abs(forward), abs(backward))
    return out


def numerical_grad(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """d f(x) / dx by central differences at every entry of ``x``, in its shape."""
    return sampled_numerical_grad(f, x, range(x.size), eps).reshape(x.shape)


def assert_close(actual, expected, rtol: float = 1e-5, atol: float = 1e-7, what: str = "gradient") -> None:
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=f"{what} mismatch")
