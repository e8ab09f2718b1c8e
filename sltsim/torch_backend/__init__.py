"""The optional torch backend: the engine's searches on CPUs and GPUs, for CIFAR and ImageNet.

Imported only when a run asks for ``backend = "torch"``; the NumPy engine never
imports torch. ``from sltsim.torch_backend import run_search`` imports torch and
raises ImportError when it is missing (the CLI turns that into an install hint);
``sltsim.torch_backend.names`` is torch-free, so the config can validate torch
runs without torch.
"""

from __future__ import annotations

__all__ = ["run_search"]


def __getattr__(name: str):
    # Lazy on purpose: importing the package (e.g. for .names) must not import torch.
    if name == "run_search":
        from sltsim.torch_backend.run import run_search

        return run_search
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
