"""The engine's convolutional models in torch: conv2/4/6/8 and the small CIFAR ResNets.

Mirrors :mod:`sltsim.engine.convnets` layer for layer, with the same tensor names
(conv1, conv2, ..., fc1, fc2, fc3; conv1, block{stage}.{block}.conv1/conv2/shortcut,
fc) in the same order, so theta0 and s0 are drawn identically:

- conv{depth} (Frankle & Carbin, 2019; Ramanujan et al., 2020): depth / 2 stages of
  [3x3 conv, ReLU, 3x3 conv, ReLU, 2x2 max pool] at 64, 128, 256, 512 channels, then
  Linear 256, ReLU, Linear 256, ReLU, Linear out; no biases.
- resnet{6n+2} (He et al., 2016, Sec. 4.2): a 3x3 conv of 16 channels, non-affine batch
  norm, ReLU, three stages of n basic blocks at 16, 32, 64 channels, global average
  pool, Linear out; a shortcut that changes shape is a strided 1x1 conv and batch norm.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sltsim.torch_backend.layers import Chain, Conv2d, Linear, batch_norm
from sltsim.torch_backend.resnets import BasicBlock

CONV_NETS = ("conv2", "conv4", "conv6", "conv8")
SMALL_RESNETS = ("resnet8", "resnet20")
CONV_NET_CHANNELS = (64, 128, 256, 512)
CONV_NET_HIDDEN = 256
RESNET_WIDTHS = (16, 32, 64)


class _Flatten(nn.Module):
    def forward(self, x):
        return torch.flatten(x, 1)


def conv_net(family: str, input_shape, n_outputs: int, dtype=torch.float32) -> Chain:
    """conv2/4/6/8 for inputs of ``input_shape`` = (C, H, W)."""
    depth = int(family[4:])
    C, H, W = (int(d) for d in input_shape)
    layers: list = []
    c_in = C
    for stage, c_out in enumerate(CONV_NET_CHANNELS[: depth // 2]):
        first = 2 * stage + 1
        layers += [Conv2d(f"conv{first}", c_in, c_out, 3, 1, 1, dtype), nn.ReLU(),
                   Conv2d(f"conv{first + 1}", c_out, c_out, 3, 1, 1, dtype), nn.ReLU(), nn.MaxPool2d(2)]
        H, W, c_in = H // 2, W // 2, c_out
        if H < 1 or W < 1:
            raise ValueError(f"model {family} needs inputs of at least {2 ** (depth // 2)} pixels per side "
                             f"(one 2x2 max pool per stage); input shape {tuple(input_shape)} "
                             f"shrinks below 1 pixel at stage {stage + 1}")
    layers += [_Flatten(),
               Linear("fc1", c_in * H * W, CONV_NET_HIDDEN, dtype=dtype), nn.ReLU(),
               Linear("fc2", CONV_NET_HIDDEN, CONV_NET_HIDDEN, dtype=dtype), nn.ReLU(),
               Linear("fc3", CONV_NET_HIDDEN, n_outputs, dtype=dtype)]
    return Chain(*layers)


class SmallResNet(nn.Module):
    """The CIFAR ResNet of depth 6n + 2 (resnet8: n = 1, resnet20: n = 3)."""

    takes_weights = True

    def __init__(self, family: str, input_shape, n_outputs: int, dtype=torch.float32):
        super().__init__()
        depth = int(family[6:])
        n_blocks = (depth - 2) // 6
        self.conv1 = Conv2d("conv1", int(input_shape[0]), RESNET_WIDTHS[0], 3, 1, 1, dtype)
        self.bn1 = batch_norm(RESNET_WIDTHS[0], dtype)
        blocks, c_in = [], RESNET_WIDTHS[0]
        for stage, width in enumerate(RESNET_WIDTHS, start=1):
            for block in range(1, n_blocks + 1):
                stride = 2 if stage > 1 and block == 1 else 1
                blocks.append(BasicBlock(f"block{stage}.{block}", c_in, width, stride, 1, dtype))
                c_in = width
        self.blocks = nn.ModuleList(blocks)
        self.fc = Linear("fc", c_in, n_outputs, dtype=dtype)

    def forward(self, x: torch.Tensor, w: dict) -> torch.Tensor:
        # x: (B, C, H, W) -> (B, n_outputs)
        x = F.relu(self.bn1(self.conv1(x, w)))
        for block in self.blocks:
            x = block(x, w)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1), w)


def build(family: str, input_shape, n_outputs: int, dtype=torch.float32) -> nn.Module:
    if family in CONV_NETS:
        return conv_net(family, input_shape, n_outputs, dtype)
    return SmallResNet(family, input_shape, n_outputs, dtype)
