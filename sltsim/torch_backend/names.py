"""What the torch backend accepts, checked without importing torch.

:class:`sltsim.config.RunConfig` calls :func:`validate` when ``backend == "torch"``,
so a bad ``--model``, ``--data`` or ``--data-dir`` combination is refused
with one line before anything heavy is imported. This module must never import
torch: the config (and so the NumPy engine) imports it.
"""

from __future__ import annotations

import importlib.util

# The engine's specs (mlp:..., conv2/4/6/8, resnet8/20, all mirrored) plus the paper-scale networks.
TORCH_ONLY_MODELS = ("resnet18", "resnet34", "resnet50", "resnet101", "wide_resnet50_2", "resnet18x2")
"""ResNets of He et al. (2016) with non-affine batch norm, as edge-popup searches them;
``wide_resnet50_2`` doubles the bottleneck width (Zagoruyko & Komodakis, 2016);
``resnet18x2`` doubles every width (paper Fig. 4b)."""

IMAGE_DATASETS = ("cifar10", "cifar100", "svhn", "imagenet")
"""Read from ``--data-dir`` by :mod:`sltsim.torch_backend.images`."""

IN_MEMORY_DATASETS = ("digits", "mnist1d")
"""The engine's own data sets (:mod:`sltsim.data`), batched exactly as the engine does."""

TORCH_DATASETS = IN_MEMORY_DATASETS + IMAGE_DATASETS


def validate(config) -> None:
    """Refuse a torch-backend config the backend cannot run; one-line ValueErrors."""
    from sltsim.engine.models import parse_model_spec

    if config.model not in TORCH_ONLY_MODELS:
        try:
            parse_model_spec(config.model)
        except ValueError:
            raise ValueError(f"model must be one of mlp:IN,...,OUT, conv2, conv4, conv6, conv8, resnet8, resnet20, "
                             f"{', '.join(TORCH_ONLY_MODELS)} with backend torch; got {config.model!r}") from None
    if config.data not in TORCH_DATASETS:
        raise ValueError(f"data must be one of {', '.join(TORCH_DATASETS)} with backend torch; got {config.data!r}")
    if config.data in IMAGE_DATASETS and config.data_dir is None:
        raise ValueError(f"data_dir must name the local directory that holds {config.data} "
                         f"(nothing is downloaded); got none")
    if config.download:
        if config.data not in IMAGE_DATASETS:
            raise ValueError(f"download only fetches {', '.join(IMAGE_DATASETS[:3])}; got data {config.data!r}")
        if config.data == "imagenet":
            raise ValueError("download cannot fetch imagenet (it needs a licence); put the ImageFolder "
                             "layout under --data-dir, got --download")
        if importlib.util.find_spec("torchvision") is None:
            raise ValueError("download needs torchvision (pip install torchvision); without it, put the "
                             f"{config.data} files under --data-dir yourself")
