"""Non-affine batch normalisation, as edge-popup's ResNets use it (no searched weights).

Ioffe & Szegedy (2015), without the affine scale and shift (torch's
``BatchNorm1d/2d(affine=False)``): in training

    x_hat = (x - mu_B) / sqrt(var_B + eps),

with mu_B and the biased var_B taken over every axis but the channel axis, and the
running statistics move as ``r <- (1 - momentum) r + momentum * stat`` with the
unbiased variance var_B * n / (n - 1). In evaluation x_hat uses the running
statistics instead. The training backward is the closed form

    dx = (dy - mean(dy) - x_hat * mean(dy * x_hat)) / sqrt(var_B + eps).

Training mode runs private Numba kernels, one channel at a time with float64
accumulators (the statistics of a float32 batch are summed in float64).
"""

from __future__ import annotations

import numpy as np

from sltsim.engine.jit import njit


@njit
def _channel_dot(a, b, c, shift):
    # sum over (batch, k) of (a[:, c] - shift) * (b[:, c] - shift), a, b: (B, C, L);
    # four float64 accumulators, so that the adds do not wait on each other
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    L = a.shape[2]
    for batch in range(a.shape[0]):
        x, y = a[batch, c], b[batch, c]
        k = 0
        while k + 4 <= L:
            s0 += (x[k] - shift) * (y[k] - shift)
            s1 += (x[k + 1] - shift) * (y[k + 1] - shift)
            s2 += (x[k + 2] - shift) * (y[k + 2] - shift)
            s3 += (x[k + 3] - shift) * (y[k + 3] - shift)
            k += 4
        while k < L:
            s0 += (x[k] - shift) * (y[k] - shift)
            k += 1
    return (s0 + s1) + (s2 + s3)


@njit
def _channel_sum(a, c):
    # sum over (batch, k) of a[:, c], a: (B, C, L)
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    L = a.shape[2]
    for batch in range(a.shape[0]):
        x = a[batch, c]
        k = 0
        while k + 4 <= L:
            s0 += x[k]
            s1 += x[k + 1]
            s2 += x[k + 2]
            s3 += x[k + 3]
            k += 4
        while k < L:
            s0 += x[k]
            k += 1
    return (s0 + s1) + (s2 + s3)


@njit
def _batch_norm_train(x, eps, y, mean, var):
    # x, y: (B, C, L) -> y = x_hat; mean, var: (C,) batch mean and biased variance,
    # two passes per channel (mean, then squared deviations)
    B, C, L = x.shape
    n = B * L
    for c in range(C):
        mu = _channel_sum(x, c) / n
        v = _channel_dot(x, x, c, mu) / n
        invstd = 1.0 / np.sqrt(v + eps)
        for b in range(B):
            row, out = x[b, c], y[b, c]
            for k in range(L):
                out[k] = (row[k] - mu) * invstd
        mean[c] = mu
        var[c] = v


@njit
def _batch_norm_train_backward(dy, x_hat, var, eps, dx):
    # dy, x_hat, dx: (B, C, L); dx = (dy - mean(dy) - x_hat * mean(dy * x_hat)) / sqrt(var + eps)
    B, C, L = dy.shape
    n = B * L
    for c in range(C):
        mean_dy = _channel_sum(dy, c) / n
        mean_dy_xhat = _channel_dot(dy, x_hat, c, 0.0) / n
        invstd = 1.0 / np.sqrt(var[c] + eps)
        for b in range(B):
            g, h, out = dy[b, c], x_hat[b, c], dx[b, c]
            for k in range(L):
                out[k] = (g[k] - mean_dy - h[k] * mean_dy_xhat) * invstd


class BatchNorm:
    """Batch norm over the channel axis 1 of (B, C) or (B, C, H, W) inputs.

    Parameters
    ----------
    num_features : C.
    eps : added to the variance.
    momentum : weight of the batch statistics in the running averages.
    dtype : dtype of the running statistics.

    Attributes
    ----------
    running_mean, running_var : (C,), start at 0 and 1; updated by every
        training-mode forward.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, dtype=np.float32):
        if int(num_features) < 1:
            raise ValueError(f"num_features must be >= 1, got {num_features}")
        if not eps > 0:
            raise ValueError(f"eps must be > 0, got {eps}")
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1], got {momentum}")
        self.num_features, self.eps, self.momentum = int(num_features), float(eps), float(momentum)
        self.running_mean = np.zeros(self.num_features, dtype)
        self.running_var = np.ones(self.num_features, dtype)
        self.params = []
        self.input_grad = True

    def reset_running_stats(self) -> None:
        self.running_mean.fill(0)
        self.running_var.fill(1)

    def _check(self, X: np.ndarray) -> tuple[int, ...]:
        """The shape that broadcasts a (C,) statistic against X."""
        if X.ndim not in (2, 4) or X.shape[1] != self.num_features:
            raise ValueError(f"BatchNorm({self.num_features}) needs input (B, {self.num_features}) or "
                             f"(B, {self.num_features}, H, W), got shape {X.shape}")
        if X.dtype not in (np.float32, np.float64):
            raise ValueError(f"BatchNorm needs float32 or float64 input, got {X.dtype}")
        return (1, self.num_features) + (1,) * (X.ndim - 2)

    def forward(self, X: np.ndarray, train: bool = True):
        # X: (B, C) or (B, C, H, W) -> Y of the same shape
        shape = self._check(X)
        dtype = X.dtype.type
        if not train:
            mean = self.running_mean.astype(X.dtype, copy=False).reshape(shape)
            invstd = (1 / np.sqrt(self.running_var.astype(X.dtype, copy=False) + dtype(self.eps))).reshape(shape)
            Y = X - mean
            Y *= invstd
            input_grad = self.input_grad

            def backprop_eval(dY):
                return dY * invstd if input_grad else None

            return Y, backprop_eval

        n = X.size // self.num_features
        if n < 2:
            raise ValueError(f"BatchNorm needs more than 1 value per channel in training, got input shape {X.shape}")
        B, C = X.shape[:2]
        x3 = np.ascontiguousarray(X).reshape(B, C, -1)
        Y = np.empty(X.shape, X.dtype)
        mean, var = np.empty(C, np.float64), np.empty(C, np.float64)
        _batch_norm_train(x3, self.eps, Y.reshape(B, C, -1), mean, var)
        m = self.momentum
        self.running_mean *= 1 - m
        self.running_mean += m * mean
        self.running_var *= 1 - m
        self.running_var += (m * n / (n - 1)) * var
        eps, input_grad = self.eps, self.input_grad

        def backprop(dY):
            if not input_grad:
                return None
            # reuses the saved output x_hat = Y
            dX = np.empty(Y.shape, Y.dtype)
            dy3 = np.ascontiguousarray(dY, dtype=Y.dtype).reshape(B, C, -1)
            _batch_norm_train_backward(dy3, Y.reshape(B, C, -1), var, eps, dX.reshape(B, C, -1))
            return dX

        return Y, backprop
