"""Gradient checks of engine layers and models against float64 central differences.

The scalar is a random linear functional of the output, L = sum(R * Y), so dL/dY = R
and every entry of the Jacobian is exercised.
"""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from tests.gradcheck import assert_close, numerical_grad, sampled_numerical_grad


@pytest.fixture(autouse=True)
def one_blas_thread():
    """Tiny GEMMs on a shared 2-core machine: BLAS threads only wait on each other
    (20x slower under load). Import this fixture into a test module to use it."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def analytic(layer, X, R, train=True):
    """dL/dX (None when the layer has no input grad) and a copy of every param's grad."""
    for p in layer.params:
        p.grad.fill(np.nan)  # a grad the backward does not write fails the check
    _, backprop = layer.forward(X, train)
    dX = backprop(R.copy())
    return dX, [p.grad.copy() for p in layer.params]


def check_layer(layer, X: np.ndarray, rng: np.random.Generator, train: bool = True,
                rtol: float = 1e-5, atol: float = 1e-7) -> None:
    """Every entry of dL/dX and of dL/dw_eff of every param against central differences."""
    Y, _ = layer.forward(X, train)
    R = rng.standard_normal(Y.shape)
    dX, grads = analytic(layer, X, R, train)

    def loss():
        return float(np.sum(layer.forward(X, train)[0] * R))

    if layer.input_grad:
        assert_close(dX, numerical_grad(loss, X), rtol, atol, what="input gradient")
    else:
        assert dX is None
    for p, g in zip(layer.params, grads):
        assert_close(g, numerical_grad(loss, p.w_eff), rtol, atol, what=f"{p.name} gradient")


def check_model_sampled(model, X: np.ndarray, rng: np.random.Generator, n_entries: int = 6,
                        rtol: float = 1e-5, atol: float = 1e-7) -> None:
    """dL/dX (when the model has input grads) and dL/dw_eff of every param at sampled entries."""
    Y, _ = model.forward(X, True)
    R = rng.standard_normal(Y.shape)
    dX, grads = analytic(model, X, R)

    def loss():
        return float(np.sum(model.forward(X, True)[0] * R))

    targets = [("input", X, dX)] if model.input_grad else []
    targets += [(p.name, p.w_eff, g) for p, g in zip(model.params, grads)]
    for name, array, grad in targets:
        index = rng.choice(array.size, size=min(n_entries, array.size), replace=False)
        expected = sampled_numerical_grad(loss, array, index)
        assert_close(grad.reshape(-1)[index], expected, rtol, atol, what=f"{name} gradient")
