"""Private Numba kernels of the training step: ReLU and SGD. Arrays in, no checks, no allocation.

Public, validating wrappers live in :mod:`sltsim.engine.activation` and
:mod:`sltsim.engine.optim`; the selection kernels are in
:mod:`sltsim.engine.topk_kernels` and :mod:`sltsim.engine.restricted_kernels`.
Every kernel works on flat (1-D) contiguous views. A kernel here calls no kernel
of another file: Numba's on-disk cache is keyed on the source file of the function
it compiles, so a caller would keep a stale inlined copy of an edited callee.
"""

from __future__ import annotations

import numpy as np

from sltsim.engine.jit import njit


@njit
def _relu_forward(x, y):
    # y = max(x, 0) as np.maximum: NaN propagates, -0.0 becomes +0.0; (n,) -> (n,)
    zero = y.dtype.type(0)
    for i in range(x.shape[0]):
        v = x[i]
        y[i] = v if (v > 0) | (v != v) else zero


@njit
def _relu_backward(dy, y, dx):
    # dx = dy where y > 0, else +0.0 (np.where(y > 0, dy, 0)); (n,) -> (n,)
    zero = dx.dtype.type(0)
    for i in range(dy.shape[0]):
        dx[i] = dy[i] if y[i] > 0 else zero


@njit
def _sgd_scores(scores, grad_eff, theta0, velocity, lr, momentum, weight_decay, nesterov):
    """One SGD step on the scores through the straight-through estimator.

    The mask is ranked by |s|, so dL/ds = sign(s) * dL/dW_eff * theta0 (the mask is
    the identity in backward, abs is not; sign(0) = 0 as in torch autograd).
    """
    n = scores.shape[0]
    # sign(s) as a multiplier (+1, -1 or 0) instead of a branch on the sign of s, which
    # would be mispredicted half the time; (g * -1) == -g and g * 0 as before, exactly.
    # The momentum/Nesterov choice is made once, outside the loops.
    if momentum == 0:
        for i in range(n):
            s = scores[i]
            g = grad_eff[i] * theta0[i] * ((s > 0) - (s < 0))
            scores[i] = s - lr * (g + weight_decay * s)
    elif nesterov:
        for i in range(n):
            s = scores[i]
            g = grad_eff[i] * theta0[i] * ((s > 0) - (s < 0)) + weight_decay * s
            v = momentum * velocity[i] + g
            velocity[i] = v
            scores[i] = s - lr * (g + momentum * v)
    else:
        for i in range(n):
            s = scores[i]
            g = grad_eff[i] * theta0[i] * ((s > 0) - (s < 0)) + weight_decay * s
            v = momentum * velocity[i] + g
            velocity[i] = v
            scores[i] = s - lr * v


@njit
def _sgd_plain(param, grad, velocity, lr, momentum, weight_decay, nesterov):
    """One SGD step on a dense parameter (torch.optim.SGD semantics, no dampening)."""
    for i in range(param.shape[0]):
        p = param[i]
        g = grad[i] + weight_decay * p
        if momentum != 0:
            v = momentum * velocity[i] + g
            velocity[i] = v
            if nesterov:
                g = g + momentum * v
            else:
                g = v
        param[i] = p - lr * g
