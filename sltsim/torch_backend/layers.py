"""Supermask layers in torch: each forward takes the input and the step's effective weights.

A layer owns :class:`~sltsim.torch_backend.supermask.MaskedTensor` s named as in the
engine (``"fc1.weight"``, ``"conv1.weight"``, ...); the network computes every
``W_eff`` once per step (:func:`~sltsim.torch_backend.supermask.effective_weights`)
and passes the dict down, so no mask is cached on a layer between steps.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from sltsim.torch_backend.supermask import MaskedTensor


class Linear(nn.Module):
    """y = x @ W_eff.T (+ b); the weight is (n_out, n_in) as in the engine's Dense.

    ``bias`` adds a frozen random bias; with ``score_bias`` it is searched too, as a
    tensor of its own at the layer's prune rate.
    """

    def __init__(self, name: str, n_in: int, n_out: int, bias: bool = False,
                 score_bias: bool = False, dtype=torch.float32):
        super().__init__()
        self.weight = MaskedTensor(f"{name}.weight", (n_out, n_in), n_in, dtype)
        self.bias: Optional[MaskedTensor] = None
        if bias:
            self.bias = MaskedTensor(f"{name}.bias", (n_out,), n_in, dtype)
            self.bias.set_searched(score_bias)

    def forward(self, x: torch.Tensor, weights: dict) -> torch.Tensor:
        # x: (B, n_in) -> (B, n_out)
        b = weights[self.bias.name] if self.bias is not None else None
        return F.linear(x, weights[self.weight.name], b)


class Conv2d(nn.Module):
    """2-D convolution without bias (edge-popup's convs), NCHW, zero padding."""

    def __init__(self, name: str, c_in: int, c_out: int, kernel: int, stride: int = 1,
                 padding: int = 0, dtype=torch.float32):
        super().__init__()
        self.weight = MaskedTensor(f"{name}.weight", (c_out, c_in, kernel, kernel), c_in * kernel * kernel, dtype)
        self.stride, self.padding = stride, padding

    def forward(self, x: torch.Tensor, weights: dict) -> torch.Tensor:
        # x: (B, C_in, H, W) -> (B, C_out, H', W')
        return F.conv2d(x, weights[self.weight.name], None, self.stride, self.padding)


class Chain(nn.Module):
    """Modules applied in order; supermask layers get the weights, the others do not."""

    def __init__(self, *modules: nn.Module):
        super().__init__()
        self.items = nn.ModuleList(modules)

    def forward(self, x: torch.Tensor, weights: dict) -> torch.Tensor:
        for m in self.items:
            x = m(x, weights) if _takes_weights(m) else m(x)
        return x


def _takes_weights(m: nn.Module) -> bool:
    return isinstance(m, (Linear, Conv2d, Chain)) or getattr(m, "takes_weights", False)


def batch_norm(channels: int, dtype=torch.float32) -> nn.BatchNorm2d:
    """Non-affine batch norm (no learned scale or shift), as edge-popup's networks use."""
    return nn.BatchNorm2d(channels, affine=False, dtype=dtype)
