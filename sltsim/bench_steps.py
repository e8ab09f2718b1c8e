"""The training steps that ``python -m sltsim.bench`` times, and their FLOP counts.

A bench case is one model on one batch of Gaussian inputs with random labels. Both
backends run one full edge-popup step at prune rate k = 0.5 (top-k of |s| per layer,
forward, softmax cross-entropy, backward straight through to the scores, SGD with
momentum 0.9 and weight decay 5e-4 on the scores, MaskHistory update), from the same
theta0 and s0 (signed Kaiming constant weights, Kaiming uniform scores):

- engine: :func:`sltsim.search.loop.train_step`, the function the engine's ``Search.train`` calls each step;
- torch: :func:`sltsim.torch_backend.cycle.train_step` (``torch.kthvalue`` top-k in
  the network's forward) and :meth:`DeviceHistory.update`, as the torch backend's cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from sltsim.config import RunConfig
from sltsim.data import Dataset
from sltsim.engine.models import build_model
from sltsim.engine.optim import SGD, SGDConfig
from sltsim.init import initialise_scores, initialise_weights
from sltsim.metrics.history import MaskHistory
from sltsim.search.loop import train_step
from sltsim.search.numpy_backend import Search
from sltsim.streams import make_rngs

PRUNE_RATE = 0.5
LR = 0.1
N_CLASSES = 10


@dataclass(frozen=True)
class Case:
    """One bench configuration: ``model`` is a ``--model`` spec, ``input_shape`` has no batch axis."""

    name: str
    model: str
    input_shape: tuple
    batch: int

    def config(self) -> RunConfig:
        return RunConfig(model=self.model, batch_size=self.batch, prune_rate=PRUNE_RATE, lr=LR)


def batch(case: Case, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(X, y): one float32 Gaussian batch of ``case`` and its random labels."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((case.batch, *case.input_shape)).astype(np.float32)
    return X, rng.integers(0, N_CLASSES, case.batch)


def engine_search(case: Case, seed: int = 0) -> Search:
    """A :class:`~sltsim.search.numpy_backend.Search` of ``case`` as ``build_search`` makes one (same draws)."""
    config = case.config()
    rngs = make_rngs(seed)
    model = build_model(case.model, case.input_shape, N_CLASSES)
    params = model.params
    for p in params:
        p.prune_rate = PRUNE_RATE if p.searched else 0.0
    initialise_weights(params, config.weight_init, PRUNE_RATE, rngs["weights"])
    initialise_scores(params, config.score_init, PRUNE_RATE, rngs["scores"])
    X, y = batch(case, seed)
    data = Dataset("bench", X, y, X, y, N_CLASSES)
    optimizer = SGD(params, SGDConfig(config.momentum, config.weight_decay, config.nesterov))
    return Search(config, model, data, optimizer, rngs)


def engine_step(search: Search, history: bool, max_steps: int) -> Callable[[], float]:
    """A function running one engine step on the search's batch; returns the loss.

    With ``history``, a fresh :class:`MaskHistory` sized for ``max_steps`` is updated
    by every step, as in ``Search.train``.
    """
    h = MaskHistory(search.searched, max_steps) if history else None
    X, y = search.data.X_train, search.data.y_train

    def step() -> float:
        return train_step(search, X, y, h, LR)[0]

    return step


def torch_step(case: Case, seed: int = 0, history: bool = True) -> Callable[[], float]:
    """A function running one torch-backend step of ``case`` on the CPU; returns the loss."""
    import torch

    from sltsim.torch_backend.build import Run, make_optimizer
    from sltsim.torch_backend.cycle import train_step as torch_train_step
    from sltsim.torch_backend.history import DeviceHistory
    from sltsim.torch_backend.init import initialise_scores_, initialise_weights_
    from sltsim.torch_backend.models import build_model as build_torch_model

    config = case.config()
    rngs = make_rngs(seed)
    net = build_torch_model(case.model, case.input_shape, N_CLASSES)
    for t in net.tensors:
        t.prune_rate = PRUNE_RATE if t.searched else 0.0
    initialise_weights_(net.tensors, config.weight_init, PRUNE_RATE, rngs["weights"])
    initialise_scores_(net.tensors, config.score_init, PRUNE_RATE, rngs["scores"])
    optimizer = make_optimizer([t.scores for t in net.searched], config)
    run = Run(config, net, net, None, optimizer, rngs, torch.device("cpu"))
    h = DeviceHistory(net.searched) if history else None
    X, y = batch(case, seed)
    x, t = torch.from_numpy(X), torch.from_numpy(y)

    def step() -> float:
        loss, _, masks = torch_train_step(run, x, t, case.batch, LR)
        if h is not None:
            h.update(masks)
        return loss

    return step


def forward_flops(case: Case, step: bool = False) -> int:
    """Multiply-adds x 2 of one forward pass of ``case``'s model over its batch (dense and conv layers).

    With ``step``, of the step's products instead: forward, weight gradient, and input
    gradient of every layer but the first (which has none). Shapes are found by passing
    one example through the layers; only Dense and Conv2d are counted (ReLU, pools and
    the loss are O(activations), not GEMMs).
    """
    from sltsim.engine.conv import Conv2d
    from sltsim.engine.dense import Dense

    model = build_model(case.model, case.input_shape, N_CLASSES)
    X = np.zeros((1, *case.input_shape), np.float32)
    flops = 0
    for layer in model.layers:
        Y, _ = layer.forward(X, train=False)
        products = (3 if layer.input_grad else 2) if step else 1
        if isinstance(layer, Dense):
            flops += 2 * layer.n_in * layer.n_out * products
        elif isinstance(layer, Conv2d):
            kh, kw = layer.kernel
            flops += 2 * Y.shape[1] * Y.shape[2] * Y.shape[3] * layer.c_in * kh * kw * products
        X = Y
    return flops * case.batch


PHASES = ("select", "forward", "loss", "backward", "sgd")


def step_phases(search: Search, steps: int, warmup: int = 2) -> dict[str, float]:
    """Median ms of each phase of ``train_step`` (top-k with history, forward, loss, backward, SGD).

    The phases run in the order ``train_step`` runs them, timed one by one, on the
    threads of the calling context.
    """
    import statistics
    import time

    from sltsim.engine.supermask import select

    h = MaskHistory(search.searched, steps + warmup)
    X, y = search.data.X_train, search.data.y_train
    times: dict[str, list] = {name: [] for name in PHASES}
    clock = time.perf_counter
    for i in range(steps + warmup):
        t0 = clock()
        select(search.params, search.global_topk, h, search.global_buffer)
        t1 = clock()
        out, backprop = search.model.forward(X, train=True)
        t2 = clock()
        _, dout = search.loss(out, y)
        t3 = clock()
        backprop(dout)
        t4 = clock()
        search.optimizer.step(LR)
        t5 = clock()
        if i >= warmup:
            for name, t in zip(PHASES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
                times[name].append(t)
    return {name: 1e3 * statistics.median(t) for name, t in times.items()}


def same_bits_at(case: Case, thread_counts: tuple, steps: int = 3) -> bool:
    """Whether ``steps`` engine steps of ``case`` leave the same bits (scores, masks, gradients,
    loss) at every count of ``thread_counts`` (BLAS on one thread, as runs hold it)."""
    from threadpoolctl import threadpool_limits

    from sltsim.engine import threads

    seen = set()
    for n in thread_counts:
        search = engine_search(case)
        with threadpool_limits(limits=1, user_api="blas"), threads.using(n):
            step = engine_step(search, history=True, max_steps=steps)
            losses = [step() for _ in range(steps)]
        state = b"".join(a.tobytes() for p in search.params for a in (p.scores, p.mask, p.grad))
        seen.add((state, np.array(losses).tobytes()))
    return len(seen) == 1


def products_ms(case: Case, repeats: int = 20) -> float:
    """Median ms of the step's matrix products alone, at the shapes the engine runs them (one thread).

    Dense: ``X @ W.T``, ``dY.T @ X`` and (all but the first layer) ``dY @ W``; Conv2d: the
    same three per batch slice (``W @ cols``, ``dY @ cols.T``, ``W.T @ dY``), on random
    operands. The gap between this and the step is the step's other work.
    """
    import statistics
    import time

    from threadpoolctl import threadpool_limits

    from sltsim.engine import conv
    from sltsim.engine.dense import Dense

    rng = np.random.default_rng(0)
    model = build_model(case.model, case.input_shape, N_CLASSES)
    X = np.zeros((1, *case.input_shape), np.float32)
    shapes = []  # (A shape, B shape, A transposed, B transposed, times)
    B = case.batch
    for layer in model.layers:
        Y, _ = layer.forward(X, train=False)
        if isinstance(layer, Dense):
            n_in, n_out = layer.n_in, layer.n_out
            shapes += [((B, n_in), (n_out, n_in), False, True, 1), ((B, n_out), (B, n_in), True, False, 1)]
            if layer.input_grad:
                shapes.append(((B, n_out), (n_out, n_in), False, False, 1))
        elif isinstance(layer, conv.Conv2d):
            kh, kw = layer.kernel
            K, P, C_out = layer.c_in * kh * kw, Y.shape[2] * Y.shape[3], layer.c_out
            n = max(1, min(B, conv.SLICE_ELEMENTS // (K * P)))
            for b0 in range(0, B, n):
                m = min(B, b0 + n) - b0
                shapes += [((C_out, K), (K, m * P), False, False, 1), ((C_out, m * P), (K, m * P), False, True, 1)]
                if layer.input_grad:
                    shapes.append(((C_out, K), (C_out, m * P), True, False, 1))
        X = Y
    operands = []
    for a, b, ta, tb, _ in shapes:
        A = rng.standard_normal(a).astype(np.float32)
        Bm = rng.standard_normal(b).astype(np.float32)
        operands.append((A.T if ta else A, Bm.T if tb else Bm))
    outs = [np.empty((A.shape[0], Bm.shape[1]), np.float32) for A, Bm in operands]
    times = []
    with threadpool_limits(limits=1, user_api="blas"):
        for i in range(repeats + 2):
            t0 = time.perf_counter()
            for (A, Bm), out in zip(operands, outs):
                np.matmul(A, Bm, out=out)
            if i >= 2:
                times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)
