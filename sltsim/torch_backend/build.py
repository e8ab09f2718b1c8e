"""Build a torch run from a config: device, data, network, theta0 and s0, SGD on the scores.

The order of the random draws is the engine's :func:`sltsim.search.numpy_backend.build_search`:
the seed spawns the streams of :func:`sltsim.streams.make_rngs`; theta0 of every
tensor is drawn from ``"weights"`` (in forward order), then the scores of every
searched tensor from ``"scores"``; batches come from ``"batches"``. A torch run and a
NumPy run of the same config therefore start from the same theta0 and s0 and see the
same batches.
"""

from __future__ import annotations

import numpy as np
import torch

from sltsim.config import RunConfig
from sltsim.registry import METHODS
from sltsim.streams import make_rngs
from sltsim.torch_backend import distributed
from sltsim.torch_backend.backend import Run
from sltsim.torch_backend.init import initialise_scores_, initialise_weights_
from sltsim.torch_backend.loaders import ImageLoaderData, InMemoryData, Shard
from sltsim.torch_backend.models import SupermaskNet, build_body
from sltsim.torch_backend.names import IMAGE_DATASETS

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def load_data(config: RunConfig, device, dtype, shard: Shard):
    if config.data in IMAGE_DATASETS:
        from sltsim.torch_backend.images import load_image_data

        images = load_image_data(config.data, config.data_dir, config.download)
        return ImageLoaderData(images, device, dtype, config.loader_workers, shard)
    from sltsim.data import REAL_DATASETS

    dataset = REAL_DATASETS[config.data](dtype=np.dtype(config.dtype), image=not config.model.startswith("mlp"))
    return InMemoryData(dataset, device, shard)


def make_optimizer(params, config: RunConfig) -> torch.optim.SGD:
    """torch.optim.SGD, whose semantics :mod:`sltsim.engine.optim` copies (no dampening)."""
    return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                           weight_decay=config.weight_decay, nesterov=config.nesterov)


def build_run(config: RunConfig) -> Run:
    """Network with theta0 and s0 drawn, data, SGD on the scores, all from ``config.seed``.

    A method that trains weights (the dense baseline, ``trains_weights``) gets SGD on theta0
    of every tensor instead, as the engine's ``SGD(params, target="weights")``; decided
    before DDP wraps the network.
    """
    method = METHODS[config.method]
    shard, device, started = distributed.setup(config.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input shapes: pick the fastest conv kernels once
    try:
        dtype = DTYPES[config.dtype]
        rngs = make_rngs(config.seed)
        data = load_data(config, device, dtype, shard)
        body = build_body(config.model, data.input_shape, data.n_outputs, config.bias, config.score_bias, dtype)
        net = SupermaskNet(body, config.global_topk or method.global_topk)
        tensors = net.tensors
        weights = [t for t in tensors if t.name.endswith(".weight")]
        if config.dense_first and weights:
            weights[0].set_searched(False)
        if config.dense_last and weights:
            weights[-1].set_searched(False)
        for t in tensors:
            t.prune_rate = config.prune_rate if t.searched else 0.0
        final_k = config.final_prune_rate
        initialise_weights_(tensors, config.weight_init, final_k, rngs["weights"])
        initialise_scores_(tensors, config.score_init, final_k, rngs["scores"])
        net.to(device)
        if method.trains_weights:
            for t in tensors:
                t.theta0.requires_grad_(True)
                t.scores.requires_grad_(False)
            optimizer = make_optimizer([t.theta0 for t in tensors], config)
        else:
            optimizer = make_optimizer([t.scores for t in net.searched], config)
        model = distributed.wrap(net, device, shard)
    except BaseException:
        distributed.teardown(started, clean=False)
        raise
    return Run(config, net, model, data, optimizer, rngs, device, shard, started)
