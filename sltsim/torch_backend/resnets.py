"""ResNet-18/34/50/101, WideResNet-50-2 and ResNet-18x2 as supermask networks.

He et al. (2016), "Deep residual learning for image recognition", with every
convolution and the final linear layer searched and non-affine batch norm, as in
edge-popup (Ramanujan et al., 2020). WideResNet-50-2 (Zagoruyko & Komodakis, 2016)
doubles the bottleneck width; ResNet-18x2 (the paper's Fig. 4b) doubles every width.

Inputs of at most 64 pixels a side get the CIFAR stem (one 3x3 convolution, stride
1, no max-pool: He et al. Sec. 4.2); larger ones the ImageNet stem (7x7 stride 2,
then a 3x3 max-pool of stride 2). Tensor names follow torchvision's
(``conv1.weight``, ``layer2.0.conv1.weight``, ``layer2.0.shortcut.weight``,
``fc.weight``), in forward order, which is the order of the history and of the
initialisers' draws.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sltsim.torch_backend.layers import Conv2d, Linear, batch_norm

# name -> (block, blocks per stage, width multiplier of the bottleneck, width multiplier of every layer)
RESNETS = {
    "resnet18": ("basic", (2, 2, 2, 2), 1, 1),
    "resnet18x2": ("basic", (2, 2, 2, 2), 1, 2),
    "resnet34": ("basic", (3, 4, 6, 3), 1, 1),
    "resnet50": ("bottleneck", (3, 4, 6, 3), 1, 1),
    "resnet101": ("bottleneck", (3, 4, 23, 3), 1, 1),
    "wide_resnet50_2": ("bottleneck", (3, 4, 6, 3), 2, 1),
}

CIFAR_STEM_MAX_SIZE = 64


class BasicBlock(nn.Module):
    """Two 3x3 convolutions and an identity (or 1x1 projection) shortcut."""

    expansion = 1
    takes_weights = True

    def __init__(self, name: str, c_in: int, planes: int, stride: int, width: int, dtype):
        super().__init__()
        self.conv1 = Conv2d(f"{name}.conv1", c_in, planes, 3, stride, 1, dtype)
        self.bn1 = batch_norm(planes, dtype)
        self.conv2 = Conv2d(f"{name}.conv2", planes, planes, 3, 1, 1, dtype)
        self.bn2 = batch_norm(planes, dtype)
        self.shortcut, self.bn_shortcut = _projection(name, c_in, planes, stride, dtype)

    def forward(self, x, w):
        out = F.relu(self.bn1(self.conv1(x, w)))
        out = self.bn2(self.conv2(out, w))
        return F.relu(out + _shortcut(self, x, w))


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided), 1x1 expand by 4; ``width`` scales the inner channels."""

    expansion = 4
    takes_weights = True

    def __init__(self, name: str, c_in: int, planes: int, stride: int, width: int, dtype):
        super().__init__()
        inner = planes * width
        out = planes * self.expansion
        self.conv1 = Conv2d(f"{name}.conv1", c_in, inner, 1, 1, 0, dtype)
        self.bn1 = batch_norm(inner, dtype)
        self.conv2 = Conv2d(f"{name}.conv2", inner, inner, 3, stride, 1, dtype)
        self.bn2 = batch_norm(inner, dtype)
        self.conv3 = Conv2d(f"{name}.conv3", inner, out, 1, 1, 0, dtype)
        self.bn3 = batch_norm(out, dtype)
        self.shortcut, self.bn_shortcut = _projection(name, c_in, out, stride, dtype)

    def forward(self, x, w):
        out = F.relu(self.bn1(self.conv1(x, w)))
        out = F.relu(self.bn2(self.conv2(out, w)))
        out = self.bn3(self.conv3(out, w))
        return F.relu(out + _shortcut(self, x, w))


def _projection(name, c_in, c_out, stride, dtype):
    if stride == 1 and c_in == c_out:
        return None, None
    return Conv2d(f"{name}.shortcut", c_in, c_out, 1, stride, 0, dtype), batch_norm(c_out, dtype)


def _shortcut(block, x, w):
    return x if block.shortcut is None else block.bn_shortcut(block.shortcut(x, w))


class ResNet(nn.Module):
    """A supermask ResNet body; ``forward(x, weights)`` returns (B, n_outputs) logits.

    Parameters
    ----------
    name : a key of :data:`RESNETS`.
    input_shape : (C, H, W) of one image.
    n_outputs : classes.
    """

    takes_weights = True

    def __init__(self, name: str, input_shape: tuple, n_outputs: int, dtype=torch.float32):
        super().__init__()
        kind, depths, width, scale = RESNETS[name]
        block = BasicBlock if kind == "basic" else Bottleneck
        channels, height = input_shape[0], input_shape[1]
        base = 64 * scale
        self.cifar_stem = height <= CIFAR_STEM_MAX_SIZE
        if self.cifar_stem:
            self.conv1 = Conv2d("conv1", channels, base, 3, 1, 1, dtype)
        else:
            self.conv1 = Conv2d("conv1", channels, base, 7, 2, 3, dtype)
        self.bn1 = batch_norm(base, dtype)
        stages, c_in = [], base
        for i, depth in enumerate(depths):
            planes = base * 2 ** i
            blocks = []
            for j in range(depth):
                stride = 2 if (i > 0 and j == 0) else 1
                blocks.append(block(f"layer{i + 1}.{j}", c_in, planes, stride, width, dtype))
                c_in = planes * block.expansion
            stages.append(nn.ModuleList(blocks))
        self.stages = nn.ModuleList(stages)
        self.fc = Linear("fc", c_in, n_outputs, dtype=dtype)

    def forward(self, x: torch.Tensor, w: dict) -> torch.Tensor:
        # x: (B, C, H, W) -> (B, n_outputs)
        x = F.relu(self.bn1(self.conv1(x, w)))
        if not self.cifar_stem:
            x = F.max_pool2d(x, 3, 2, 1)
        for stage in self.stages:
            for block in stage:
                x = block(x, w)
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x, w)
