"""What the torch backend accepts, checked without importing torch.

:class:`sltsim.config.RunConfig` calls :func:`validate` when ``backend == "torch"``,
so a bad ``--model``, ``--data``, ``--device`` or ``--data-dir`` combination is refused
with one line before anything heavy is imported. This module must never import
torch: the config (and so the NumPy engine) imports it.
"""

from __future__ import annotations

import importlib.util
import re

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

_DEVICE = re.compile(r"^(cpu|cuda(:\d+)?)$")

# Config fields that say how a run executes, not what it computes: they do not enter
# the record key (the same cell run on a GPU or resumed from a checkpoint keeps its key).
OPERATIONAL_FIELDS = ("data_dir", "download", "device", "loader_workers", "checkpoint", "resume")


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


def validate_execution(config) -> None:
    """Checks of the operational fields, for either backend."""
    if not isinstance(config.device, str) or not _DEVICE.match(config.device):
        raise ValueError(f"device must be cpu, cuda or cuda:N; got {config.device!r}")
    if config.device != "cpu" and config.backend != "torch":
        raise ValueError(f"device {config.device} needs backend torch; got backend {config.backend!r}")
    if not isinstance(config.loader_workers, int) or isinstance(config.loader_workers, bool) or config.loader_workers < 0:
        raise ValueError(f"loader_workers must be an integer >= 0, got {config.loader_workers!r}")
    for name in ("data_dir", "checkpoint"):
        value = getattr(config, name)
        if value is not None and (not isinstance(value, str) or not value):
            raise ValueError(f"{name} must be a non-empty path, got {value!r}")
    torch_only = [name for name in ("data_dir", "checkpoint") if getattr(config, name) is not None]
    torch_only += [name for name in ("download", "resume") if getattr(config, name)]
    torch_only += ["loader_workers"] if config.loader_workers else []
    if torch_only and config.backend != "torch":
        raise ValueError(f"{torch_only[0]} needs backend torch; got backend {config.backend!r}")
    if config.resume and config.checkpoint is None:
        raise ValueError("resume needs --checkpoint PATH to resume from; got none")
