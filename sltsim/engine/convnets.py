"""Convolutional model builders: the conv2/4/6/8 family and small CIFAR ResNets.

- ``conv_net(depth)``: Frankle & Carbin (2019) / Ramanujan et al. (2020) (edge-popup's
  CIFAR-10 models): depth / 2 stages of [3x3 conv, ReLU, 3x3 conv, ReLU, 2x2 max pool]
  with 64, 128, 256, 512 channels, then Dense 256, ReLU, Dense 256, ReLU, Dense out.
  Layers are named conv1, conv2, ..., fc1, fc2, fc3.
- ``resnet(depth)``: He et al. (2016) Sec. 4.2: a 3x3 conv of 16 channels, three stages
  of n = (depth - 2) / 6 basic blocks at 16, 32, 64 channels (stride 2 entering stages 2
  and 3), global average pool, Dense out. Batch norm is non-affine and there are no
  biases, as in edge-popup; a shortcut that changes shape is a strided 1x1 conv and a
  batch norm (option B). Layers are named conv1, block{stage}.{block}.conv1/conv2/shortcut, fc.

No weight is drawn here: theta0 and scores are set by :mod:`sltsim.init`.
"""

from __future__ import annotations

import numpy as np

from sltsim.engine.activation import ReLU
from sltsim.engine.conv import Conv2d
from sltsim.engine.dense import Dense
from sltsim.engine.layer import Sequential
from sltsim.engine.norm import BatchNorm
from sltsim.engine.pool import GlobalAvgPool2d, MaxPool2d
from sltsim.engine.residual import Residual
from sltsim.engine.shape import Flatten

CONV_NET_CHANNELS = (64, 128, 256, 512)
CONV_NET_HIDDEN = 256
RESNET_WIDTHS = (16, 32, 64)


def _check_image_shape(model: str, input_shape) -> tuple[int, int, int]:
    shape = tuple(int(d) for d in input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"model {model} needs image inputs (C, H, W) of positive sizes, "
                         f"got input shape {tuple(input_shape)}")
    return shape


def conv_net(depth: int, input_shape, n_outputs: int, dtype=np.float32) -> Sequential:
    """The conv{depth} model for inputs of ``input_shape`` = (C, H, W).

    Raises ValueError if ``depth`` is not 2, 4, 6 or 8, or if a 2x2 max pool would
    leave less than one pixel (each stage halves H and W, rounding down).
    """
    model = f"conv{depth}"
    if depth not in (2, 4, 6, 8):
        raise ValueError(f"conv_net depth must be one of 2, 4, 6, 8, got {depth}")
    C, H, W = _check_image_shape(model, input_shape)
    layers: list = []
    c_in = C
    for stage, c_out in enumerate(CONV_NET_CHANNELS[: depth // 2]):
        first = 2 * stage + 1
        layers += [Conv2d(f"conv{first}", c_in, c_out, 3, padding=1, dtype=dtype), ReLU(),
                   Conv2d(f"conv{first + 1}", c_out, c_out, 3, padding=1, dtype=dtype), ReLU(),
                   MaxPool2d(2)]
        H, W, c_in = H // 2, W // 2, c_out
        if H < 1 or W < 1:
            raise ValueError(f"model {model} needs inputs of at least {2 ** (depth // 2)} pixels per side "
                             f"(one 2x2 max pool per stage); input shape {tuple(input_shape)} "
                             f"shrinks below 1 pixel at stage {stage + 1}")
    layers += [Flatten(),
               Dense("fc1", c_in * H * W, CONV_NET_HIDDEN, dtype=dtype), ReLU(),
               Dense("fc2", CONV_NET_HIDDEN, CONV_NET_HIDDEN, dtype=dtype), ReLU(),
               Dense("fc3", CONV_NET_HIDDEN, n_outputs, dtype=dtype)]
    return Sequential(layers)


def basic_block(name: str, c_in: int, c_out: int, stride: int, dtype=np.float32) -> Residual:
    """conv3x3(stride) - BN - ReLU - conv3x3 - BN, plus the identity or a 1x1 conv + BN shortcut."""
    branch = [Conv2d(f"{name}.conv1", c_in, c_out, 3, stride=stride, padding=1, dtype=dtype),
              BatchNorm(c_out, dtype=dtype), ReLU(),
              Conv2d(f"{name}.conv2", c_out, c_out, 3, padding=1, dtype=dtype),
              BatchNorm(c_out, dtype=dtype)]
    shortcut = None
    if stride != 1 or c_in != c_out:
        shortcut = [Conv2d(f"{name}.shortcut", c_in, c_out, 1, stride=stride, dtype=dtype),
                    BatchNorm(c_out, dtype=dtype)]
    return Residual(branch, shortcut)


def resnet(depth: int, input_shape, n_outputs: int, dtype=np.float32) -> Sequential:
    """The CIFAR ResNet of ``depth`` = 6n + 2 layers (resnet8: n = 1, resnet20: n = 3).

    Any H, W >= 1 works: a stride-2 3x3 conv with padding 1 maps H to ceil(H / 2).
    """
    model = f"resnet{depth}"
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"resnet depth must be 6n + 2 with n >= 1 (8, 14, 20, ...), got {depth}")
    C, _, _ = _check_image_shape(model, input_shape)
    n_blocks = (depth - 2) // 6
    layers: list = [Conv2d("conv1", C, RESNET_WIDTHS[0], 3, padding=1, dtype=dtype),
                    BatchNorm(RESNET_WIDTHS[0], dtype=dtype), ReLU()]
    c_in = RESNET_WIDTHS[0]
    for stage, width in enumerate(RESNET_WIDTHS, start=1):
        for block in range(1, n_blocks + 1):
            stride = 2 if stage > 1 and block == 1 else 1
            layers.append(basic_block(f"block{stage}.{block}", c_in, width, stride, dtype=dtype))
            c_in = width
    layers += [GlobalAvgPool2d(), Dense("fc", c_in, n_outputs, dtype=dtype)]
    return Sequential(layers)
