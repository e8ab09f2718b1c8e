"""Dense (fully connected) supermask layer: Y = X @ (m * theta0).T (+ b).

On one thread the products are the NumPy calls ``X @ W.T``, ``dY.T @ X`` and ``dY @ W``;
on more, :func:`sltsim.engine.gemm.matmuls` runs them side by side, with the same bits.
"""

from __future__ import annotations

import numpy as np

from sltsim.engine.gemm import matmuls
from sltsim.engine.threads import current
from sltsim.engine.supermask import MaskedParam


class Dense:
    """A fully connected layer whose weight is searched by top-k on its scores.

    Parameters
    ----------
    name : layer name; the weight is ``f"{name}.weight"``.
    n_in, n_out : input and output features; the weight is (n_out, n_in) as in torch.
    bias : add a bias; frozen at its init unless ``score_bias``, in which case it is
        a searched tensor of its own at the layer's prune rate.
    """

    def __init__(self, name: str, n_in: int, n_out: int, bias: bool = False,
                 score_bias: bool = False, dtype=np.float32):
        self.name = name
        self.n_in, self.n_out = int(n_in), int(n_out)
        self.weight = MaskedParam(f"{name}.weight", (n_out, n_in), fan_in=n_in, dtype=dtype)
        self.bias = MaskedParam(f"{name}.bias", (n_out,), fan_in=n_in, dtype=dtype) if bias else None
        if self.bias is not None and not score_bias:
            self.bias.searched = False
        self.params = [self.weight] + ([self.bias] if self.bias is not None else [])
        self.input_grad = True

    def forward(self, X: np.ndarray, train: bool = True):
        # X: (B, n_in) -> Y: (B, n_out)
        W = self.weight.w_eff
        parallel = current() > 1
        if parallel:
            Y = np.empty((X.shape[0], self.n_out), np.result_type(X, W))
            matmuls([(X, W.T, Y)])
        else:
            Y = X @ W.T
        if self.bias is not None:
            Y += self.bias.w_eff
        weight, bias, input_grad = self.weight, self.bias, self.input_grad

        def backprop(dY):
            if parallel:
                # the weight and input gradients are independent products: side by side
                dX = np.empty((dY.shape[0], W.shape[1]), np.result_type(dY, W)) if input_grad else None
                matmuls([(dY.T, X, weight.grad)] + ([(dY, W, dX)] if input_grad else []))
            else:
                np.matmul(dY.T, X, out=weight.grad)
                dX = dY @ W if input_grad else None
            if bias is not None:
                np.sum(dY, axis=0, out=bias.grad)
            return dX

        return Y, backprop
