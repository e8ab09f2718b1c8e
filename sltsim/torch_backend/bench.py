"""Step and epoch time of EP against dense training of the same network, on any device.

::

    python -m sltsim.torch_backend.bench --model resnet18 --device cuda --batch-size 128

Times ``--steps`` training steps (after ``--warmup`` steps) on random CIFAR-shaped
batches already on the device, so the data loader is left out, for

- ``ep``: the torch backend's EP step (top-k of every layer, straight-through
  backward, SGD on the scores, the history update);
- ``dense``: the same network with the weights trained by SGD (the backend's
  ``dense`` method: every edge kept, no top-k, no history);
- ``select``: the top-k selection of every layer alone.

and prints one JSON line per measurement with the step time and the epoch time it
implies for ``--train-size`` examples (50 000: CIFAR-10). CUDA timings synchronise
before reading the clock.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from sltsim.config import RunConfig
from sltsim.torch_backend.cycle import train_step
from sltsim.torch_backend.history import DeviceHistory
from sltsim.torch_backend.supermask import select


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn, steps: int, warmup: int, device) -> float:
    for _ in range(warmup):
        fn()
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    _sync(device)
    return (time.perf_counter() - t0) / steps


def measure(model: str, device: str, batch_size: int, steps: int, warmup: int, prune_rate: float,
            image=(3, 32, 32), n_outputs: int = 10) -> list[dict]:
    """Seconds per step of EP, dense training and the selection alone."""
    from sltsim.torch_backend.build import Run, make_optimizer
    from sltsim.torch_backend.init import initialise_scores_, initialise_weights_
    from sltsim.torch_backend.loaders import Shard
    from sltsim.torch_backend.models import build_model
    from sltsim.streams import make_rngs

    dev = torch.device(device)
    x = torch.randn(batch_size, *image, device=dev)
    y = torch.randint(0, n_outputs, (batch_size,), device=dev)
    out = []
    for method in ("ep", "dense"):
        config = RunConfig(backend="torch", model=model, prune_rate=prune_rate, device=device,
                           method=method, data="digits")
        net = build_model(model, image, n_outputs)
        rngs = make_rngs(0)
        for t in net.tensors:
            t.prune_rate = prune_rate if method == "ep" else 0.0
        initialise_weights_(net.tensors, config.weight_init, prune_rate, rngs["weights"])
        initialise_scores_(net.tensors, config.score_init, prune_rate, rngs["scores"])
        net.to(dev)
        if method == "dense":
            for t in net.tensors:
                t.theta0.requires_grad_(True)
                t.scores.requires_grad_(False)
            params = [t.theta0 for t in net.tensors]
        else:
            params = [t.scores for t in net.searched]
        run = Run(config, net, net, None, make_optimizer(params, config), rngs, dev, Shard())
        history = DeviceHistory(net.searched) if method == "ep" else None

        def step():
            _, _, masks = train_step(run, x, y, batch_size, config.lr)
            if history is not None:
                history.update(masks)

        out.append({"method": method, "seconds_per_step": _timed(step, steps, warmup, dev)})
        if method == "ep":
            seconds = _timed(lambda: select(net.tensors), steps, warmup, dev)
            out.append({"method": "select", "seconds_per_step": seconds})
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sltsim.torch_backend.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--prune-rate", type=float, default=0.5)
    parser.add_argument("--train-size", type=int, default=50_000)
    args = parser.parse_args(argv)
    if args.device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True
    steps_per_epoch = -(-args.train_size // args.batch_size)
    rows = measure(args.model, args.device, args.batch_size, args.steps, args.warmup, args.prune_rate)
    dense = next(r["seconds_per_step"] for r in rows if r["method"] == "dense")
    for r in rows:
        r.update(model=args.model, device=args.device, batch_size=args.batch_size,
                 epoch_seconds=r["seconds_per_step"] * steps_per_epoch, relative_to_dense=r["seconds_per_step"] / dense,
                 torch=torch.__version__)
        print(json.dumps(r))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
