"""Non-affine batch normalisation, as edge-popup's ResNets use it (no searched weights).

Ioffe & Szegedy (2015), without the affine scale and shift (torch's
``BatchNorm1d/2d(affine=False)``): in training

    x_hat = (x - mu_B) / sqrt(var_B + eps),

with mu_B and the biased var_B taken over every axis but the channel axis, and the
running statistics move as ``r <- (1 - momentum) r + momentum * stat`` with the
unbiased variance var_B * n / (n - 1). In evaluation x_hat uses the running
statistics instead. The training backward is the closed form

    dx = (dy - mean(dy) - x_hat * mean(dy * x_hat)) / sqrt(var_B + eps).
"""

from __future__ import annotations

import numpy as np


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

    def _axes(self, X: np.ndarray) -> tuple[tuple[int, ...], tuple[int, ...]]:
        if X.ndim not in (2, 4) or X.shape[1] != self.num_features:
            raise ValueError(f"BatchNorm({self.num_features}) needs input (B, {self.num_features}) or "
                             f"(B, {self.num_features}, H, W), got shape {X.shape}")
        if X.ndim == 2:
            return (0,), (1, self.num_features)
        return (0, 2, 3), (1, self.num_features, 1, 1)

    def forward(self, X: np.ndarray, train: bool = True):
        axes, shape = self._axes(X)
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
        mean = X.mean(axis=axes)
        Y = X - mean.reshape(shape)  # centred, normalised in place below
        var = np.mean(Y * Y, axis=axes)
        invstd = 1 / np.sqrt(var + dtype(self.eps))
        Y *= invstd.reshape(shape)
        m = self.momentum
        self.running_mean *= 1 - m
        self.running_mean += m * mean
        self.running_var *= 1 - m
        self.running_var += (m * n / (n - 1)) * var
        invstd = invstd.reshape(shape)
        input_grad = self.input_grad

        def backprop(dY):
            if not input_grad:
                return None
            # reuses the saved output x_hat = Y
            dX = dY - dY.mean(axis=axes).reshape(shape)
            dX -= Y * (dY * Y).mean(axis=axes).reshape(shape)
            dX *= invstd
            return dX

        return Y, backprop
