"""Model specs and builders.

A model spec is a short string, the ``--model`` flag:

- ``mlp:64,256,256,10``: a ReLU MLP with these widths (input first, outputs last);
- ``conv2``, ``conv4``, ``conv6``, ``conv8``: the Frankle et al. (2019) family that
  edge-popup uses on CIFAR-10, for any input size;
- ``resnet8``, ``resnet20``: a small CIFAR-style ResNet with non-affine batch norm.

Every builder returns a :class:`~sltsim.engine.layer.Sequential` of supermask
layers with unset theta0 and scores (see :mod:`sltsim.init`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sltsim.engine.activation import ReLU
from sltsim.engine.dense import Dense
from sltsim.engine.layer import Sequential

CONV_NETS = ("conv2", "conv4", "conv6", "conv8")
RESNETS = ("resnet8", "resnet20")


@dataclass(frozen=True)
class ModelSpec:
    family: str
    widths: tuple[int, ...] = ()

    def __str__(self) -> str:
        return f"mlp:{','.join(map(str, self.widths))}" if self.family == "mlp" else self.family


def parse_model_spec(spec: str) -> ModelSpec:
    """Parse ``--model``; raises ValueError naming the value and what is allowed."""
    text = spec.strip()
    if text.startswith("mlp:"):
        parts = text[4:].split(",")
        try:
            widths = tuple(int(w) for w in parts)
        except ValueError:
            widths = ()
        if len(widths) < 2 or any(w <= 0 for w in widths):
            raise ValueError(
                f"model must look like 'mlp:IN,H1,...,OUT' with at least two positive widths, got {spec!r}")
        return ModelSpec("mlp", widths)
    if text in CONV_NETS or text in RESNETS:
        return ModelSpec(text)
    raise ValueError(f"model must be one of mlp:IN,...,OUT, {', '.join(CONV_NETS + RESNETS)}; got {spec!r}")


def mlp(widths, bias: bool = False, score_bias: bool = False, dtype=np.float32) -> Sequential:
    """Dense -> ReLU -> ... -> Dense; layers named fc1, fc2, ..."""
    layers: list = []
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(Dense(f"fc{i + 1}", n_in, n_out, bias=bias, score_bias=score_bias, dtype=dtype))
        if i < len(widths) - 2:
            layers.append(ReLU())
    return Sequential(layers)


def build_model(spec: str | ModelSpec, input_shape: tuple[int, ...], n_outputs: int,
                bias: bool = False, score_bias: bool = False, dtype=np.float32) -> Sequential:
    """Build the model named by ``spec`` for inputs of ``input_shape`` (no batch axis)."""
    spec = parse_model_spec(spec) if isinstance(spec, str) else spec
    if spec.family == "mlp":
        n_in = int(np.prod(input_shape))
        if spec.widths[0] != n_in:
            raise ValueError(f"model input width must equal the data's {n_in} features, got {spec.widths[0]}")
        if spec.widths[-1] != n_outputs:
            raise ValueError(f"model output width must equal the data's {n_outputs} outputs, got {spec.widths[-1]}")
        return mlp(spec.widths, bias=bias, score_bias=score_bias, dtype=dtype)
    if bias or score_bias:
        raise ValueError(f"bias and score_bias are supported for mlp models only, got model {spec} with "
                         f"bias={bias}, score_bias={score_bias}")
    if len(input_shape) != 3:
        raise ValueError(f"model {spec} needs image inputs (C, H, W), got input shape {input_shape}")
    from sltsim.engine import convnets

    if spec.family in CONV_NETS:
        return convnets.conv_net(int(spec.family[4:]), input_shape, n_outputs, dtype=dtype)
    return convnets.resnet(int(spec.family[6:]), input_shape, n_outputs, dtype=dtype)
