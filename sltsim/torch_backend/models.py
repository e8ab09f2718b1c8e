"""Model builders of the torch backend and the network wrapper that selects masks.

``--model`` takes the engine's specs (``mlp:IN,...,OUT``, ``conv2/4/6/8``,
``resnet8/20``) with the same layer order and tensor names as
:mod:`sltsim.engine.models` and :mod:`sltsim.engine.convnets`
(:mod:`sltsim.torch_backend.convnets`), and the paper-scale ResNets of
:mod:`sltsim.torch_backend.resnets`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from sltsim.engine.models import parse_model_spec
from sltsim.torch_backend.layers import Chain, Linear
from sltsim.torch_backend.resnets import RESNETS, ResNet
from sltsim.torch_backend.supermask import MaskedTensor, coat_multipliers, effective_weights, select


class SupermaskNet(nn.Module):
    """A body of supermask layers and the per-step selection in front of it.

    ``forward(x)`` selects the masks m_t from the current scores, builds
    W_eff = theta0 * m_t (straight-through in backward) and runs the body. It
    returns ``(outputs, masks)``: masks are the flat bool masks of the searched
    tensors, in :attr:`tensors` order, for the history. With :attr:`coats` set, W_eff =
    (coats passed) * theta0 (:func:`~sltsim.torch_backend.supermask.coat_multipliers`).
    """

    def __init__(self, body: nn.Module, global_topk: bool = False):
        super().__init__()
        self.body = body
        self.global_topk = bool(global_topk)
        self.coats: tuple = ()  # inner coats' prune rates of a multicoated supermask
        # a plain tuple, not registered twice; forward order = the engine's ``model.params`` order
        self._tensors = tuple(m for m in body.modules() if isinstance(m, MaskedTensor))

    @property
    def tensors(self) -> list[MaskedTensor]:
        """Every MaskedTensor in forward order."""
        return list(self._tensors)

    @property
    def searched(self) -> list[MaskedTensor]:
        return [m for m in self.tensors if m.searched]

    def forward(self, x: torch.Tensor):
        tensors = self.tensors
        masks = select(tensors, self.global_topk)
        if not self.coats:
            return self.body(x, effective_weights(tensors, masks)), masks
        multipliers = coat_multipliers(tensors, masks, self.coats)
        weights = effective_weights(tensors, masks, multipliers, grad_scale=1.0 + len(self.coats))
        return self.body(x, weights), masks


class _Flatten(nn.Module):
    def forward(self, x):
        return torch.flatten(x, 1)


def mlp(widths, bias: bool = False, score_bias: bool = False, dtype=torch.float32) -> Chain:
    """Linear -> ReLU -> ... -> Linear, layers named fc1, fc2, ... (the engine's :func:`mlp`)."""
    layers: list = [_Flatten()]
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(Linear(f"fc{i + 1}", n_in, n_out, bias=bias, score_bias=score_bias, dtype=dtype))
        if i < len(widths) - 2:
            layers.append(nn.ReLU())
    return Chain(*layers)


def build_body(spec: str, input_shape: tuple, n_outputs: int, bias: bool = False,
               score_bias: bool = False, dtype=torch.float32) -> nn.Module:
    """The network named by ``spec`` for inputs of ``input_shape`` (no batch axis)."""
    if spec in RESNETS:
        _need_image(spec, input_shape)
        return ResNet(spec, input_shape, n_outputs, dtype)
    parsed = parse_model_spec(spec)
    if parsed.family == "mlp":
        n_in = math.prod(input_shape)
        if parsed.widths[0] != n_in:
            raise ValueError(f"model input width must equal the data's {n_in} features, got {parsed.widths[0]}")
        if parsed.widths[-1] != n_outputs:
            raise ValueError(f"model output width must equal the data's {n_outputs} outputs, got {parsed.widths[-1]}")
        return mlp(parsed.widths, bias, score_bias, dtype)
    _need_image(spec, input_shape)
    from sltsim.torch_backend import convnets

    if parsed.family in convnets.CONV_NETS + convnets.SMALL_RESNETS:
        return convnets.build(parsed.family, input_shape, n_outputs, dtype)
    raise ValueError(f"model {spec} is not mirrored by the torch backend yet; use backend numpy")


def _need_image(spec, input_shape) -> None:
    if len(input_shape) != 3:
        raise ValueError(f"model {spec} needs image inputs (C, H, W), got input shape {tuple(input_shape)}")


def build_model(spec: str, input_shape: tuple, n_outputs: int, bias: bool = False, score_bias: bool = False,
                global_topk: bool = False, dtype=torch.float32) -> SupermaskNet:
    """:func:`build_body` wrapped in a :class:`SupermaskNet`; theta0 and scores unset."""
    return SupermaskNet(build_body(spec, input_shape, n_outputs, bias, score_bias, dtype), global_topk)
