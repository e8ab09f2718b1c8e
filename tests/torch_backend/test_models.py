"""The paper-scale ResNets have the published architectures (counted on the meta device)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sltsim.torch_backend.models import build_model

# torchvision's published parameter counts (ImageNet, 1000 classes): convolutions and the
# fully connected layer, plus the affine batch-norm parameters and the fc bias that the
# edge-popup networks do not have (their batch norm is non-affine, their fc has no bias)
TORCHVISION_PARAMETERS = {"resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032,
                          "resnet101": 44_549_160, "wide_resnet50_2": 68_883_240}


def _count(name: str, shape=(3, 224, 224), classes: int = 1000):
    with torch.device("meta"):
        net = build_model(name, shape, classes)
    weights = sum(t.size for t in net.tensors)
    bn_channels = sum(m.num_features for m in net.modules() if isinstance(m, nn.BatchNorm2d))
    return net, weights, bn_channels


@pytest.mark.parametrize("name", sorted(TORCHVISION_PARAMETERS))
def test_imagenet_resnets_match_torchvision(name):
    net, weights, bn_channels = _count(name)
    assert weights + 2 * bn_channels + 1000 == TORCHVISION_PARAMETERS[name]
    assert all(not m.affine for m in net.modules() if isinstance(m, nn.BatchNorm2d))
    with torch.device("meta"):
        out, masks = net(torch.empty(2, 3, 224, 224))
    assert out.shape == (2, 1000) and len(masks) == len(net.tensors)


def test_cifar_stem_and_resnet18x2():
    net, weights, _ = _count("resnet18", (3, 32, 32), 10)
    assert net.body.cifar_stem and weights == 11_164_352  # 3x3 stem, no max-pool: the CIFAR ResNet-18
    wide, wide_weights, _ = _count("resnet18x2", (3, 32, 32), 10)
    assert 3.9 < wide_weights / weights < 4.0  # every width doubled: about 4x the weights
    names = [t.name for t in net.tensors]
    assert names[:3] == ["conv1.weight", "layer1.0.conv1.weight", "layer1.0.conv2.weight"]
    assert "layer2.0.shortcut.weight" in names and names[-1] == "fc.weight"
