"""Private Numba kernels of the training step: ReLU, the cross-entropy bookkeeping, SGD.

Arrays in, no checks, no allocation.

Public, validating wrappers live in :mod:`sltsim.engine.activation`,
:mod:`sltsim.engine.loss` and :mod:`sltsim.engine.optim`; the selection kernels are in
:mod:`sltsim.engine.topk_kernels` and :mod:`sltsim.engine.restricted_kernels`.
Kernels work on flat (1-D) contiguous views unless a shape comment says otherwise.
A kernel here calls no kernel of another file: Numba's on-disk cache is keyed on the
source file of the function it compiles, so a caller would keep a stale inlined copy
of an edited callee.
"""

from __future__ import annotations

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


@njit
def _shift_by_row_max(logits, shifted):
    # shifted = logits - logits.max(axis=1, keepdims=True), NaN-propagating as np.max; (B, C)
    for b in range(logits.shape[0]):
        m = logits[b, 0]
        for c in range(1, logits.shape[1]):
            v = logits[b, c]
            if m == m and (v > m or v != v):  # a NaN, once met, stays the max
                m = v
        for c in range(logits.shape[1]):
            shifted[b, c] = logits[b, c] - m


@njit
def _cross_entropy_grad(shifted, log_sum_exp, exp, sum_exp, labels, picked, grad):
    """The label terms and the gradient of softmax cross-entropy, as the NumPy expressions
    ``(shifted - log_sum_exp)[b, labels[b]]`` and ``(exp / sum_exp - onehot) / B``.

    shifted, exp, grad: (B, C); log_sum_exp, sum_exp: (B, 1); labels: (B,) int;
    picked: (B,). Returns False when a label is outside [0, C) (nothing written then
    past that row).
    """
    B, C = shifted.shape
    for b in range(B):
        label = labels[b]
        if label < 0 or label >= C:
            return False
        picked[b] = shifted[b, label] - log_sum_exp[b, 0]
        for c in range(C):
            grad[b, c] = exp[b, c] / sum_exp[b, 0]
        grad[b, label] = grad[b, label] - 1
    scale = grad.dtype.type(B)
    for b in range(B):
        for c in range(C):
            grad[b, c] = grad[b, c] / scale
    return True
