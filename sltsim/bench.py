"""``python -m sltsim.bench``: how fast one edge-popup step runs, against torch and the hardware.

For each case it times one full EP training step (top-k at k = 0.5, forward,
backward, SGD on the scores, MaskHistory update; :mod:`sltsim.bench_steps`) of the
NumPy/Numba engine and of the torch backend on the CPU, in one process:

- ``numpy_ms``: the engine on one thread, as a study cell runs it (BLAS on one thread);
  ``numpy_t_ms``: on ``--threads`` engine threads (default: every core available, what a
  single run uses), BLAS still on one thread per piece, the same bits (``same_bits``:
  checked in this run, steps at 1 and at max(2, threads) threads);
- ``torch_ms`` / ``torch_t_ms``: ``torch.set_num_threads(1)`` / ``(threads)``;
- ``speedup``: torch_ms / numpy_ms; ``speedup_t``: torch_t_ms / numpy_t_ms (equal threads);
- ``floor_ms``: the GEMM floor, the step's product FLOPs (forward, weight gradients, input
  gradients of all layers but the first) / the float32 GFLOP/s of a large one-thread
  matmul measured right before the case (``floor_t_ms``: OpenBLAS's own rate at
  ``threads`` threads); ``floor_x`` / ``floor_x_t``: step / floor;
- ``phases_ms``: the step's parts (top-k, forward, loss, backward, SGD) on one thread;
  ``products_ms``: the step's matrix products alone, at the engine's shapes, one thread;
  ``overhead_ms`` = numpy_ms - floor_ms: what a step spends above its floor, of which
  products_ms - floor_ms is the BLAS at these shapes and numpy_ms - products_ms the rest;
- ``history_overhead_pct``: step with history vs without, one-thread, alternating steps;
- ``peak_mb``: peak of the engine's allocations (``tracemalloc``, which NumPy reports
  its array buffers to) from building the case through three steps.

Every time is the median of at least ``--repeats`` steps after warm-up (cheap cases
run more, up to about 1.5 s per backend); the engine and torch steps alternate in
blocks so that a change of machine load hits both, and the load average is printed
with the table. Further rows: top-k on 10M scores (the engine's ``select`` with
history: threshold, mask, masked weights, ever-selected, vs the torch backend's
``keep_top``), and cold start (a fresh interpreter: import, build, one step of every
case's model family, with an empty and with a warm Numba cache). ``--json`` prints
one JSON list of rows.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import tracemalloc
from typing import Callable

import numpy as np

from sltsim.bench_cold import bench_cold
from sltsim.bench_report import machine, table
from sltsim.bench_steps import (Case, engine_search, engine_step, forward_flops, products_ms, same_bits_at, step_phases,
                                torch_step)
from sltsim.engine import threads as engine_threads

CASES = (
    Case("mlp 32-256-10", "mlp:32,256,10", (32,), 128),
    Case("mlp 32-256-256-10", "mlp:32,256,256,10", (32,), 128),
    Case("mlp 64-128-128-10", "mlp:64,128,128,10", (64,), 128),
    Case("mlp 256-1024-1024-10", "mlp:256,1024,1024,10", (256,), 128),
    Case("mlp 784-2048-2048-10", "mlp:784,2048,2048,10", (784,), 128),
    Case("conv4 32x32x3", "conv4", (3, 32, 32), 64),
)
QUICK_CASES = (
    Case("mlp 16-32-32-10 (quick)", "mlp:16,32,32,10", (16,), 16),
    Case("conv4 8x8x3 (quick)", "conv4", (3, 8, 8), 4),
)
TOPK_SIZE, QUICK_TOPK_SIZE = 10_000_000, 100_000
BLOCKS = 3  # alternating blocks of engine and torch steps per thread setting
PAUSE_S = 0.5  # lets idle BLAS / OpenMP threads stop spinning before a 2-thread measurement
HISTORY_BUDGET_S, HISTORY_MAX_STEPS = 2.0, 2000  # steps of the history on/off comparison
CASE_BUDGET_S, CASE_MAX_STEPS = 1.5, 500  # steps of the engine/torch comparison of a cheap case


def gemm_gflops(threads: int, n: int = 2048, repeats: int = 5) -> float:
    """float32 GFLOP/s of an n x n x n matmul with ``threads`` BLAS threads (median of ``repeats``)."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n)).astype(np.float32), rng.standard_normal((n, n)).astype(np.float32)
    out = np.empty((n, n), np.float32)
    with threadpool_limits(limits=threads, user_api="blas"):
        np.matmul(a, b, out=out)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            np.matmul(a, b, out=out)
            times.append(time.perf_counter() - t0)
    return 2.0 * n**3 / statistics.median(times) / 1e9


def alternate(steps: dict[str, Callable], repeats: int, warmup: int, blocks: int = BLOCKS) -> dict[str, float]:
    """Median ms per call of each function; calls run in ``blocks`` alternating blocks after warm-up."""
    for fn in steps.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list] = {name: [] for name in steps}
    per_block = max(1, -(-repeats // blocks))
    for _ in range(blocks):
        for name, fn in steps.items():
            for _ in range(per_block):
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
    return {name: 1e3 * statistics.median(t) for name, t in times.items()}


def _threads(engine: int, torch_threads: int):
    """The engine on ``engine`` threads (BLAS on one) and torch on ``torch_threads`` (a context manager)."""
    from contextlib import contextmanager

    from threadpoolctl import threadpool_limits

    @contextmanager
    def limits():
        import torch

        old = torch.get_num_threads()
        torch.set_num_threads(torch_threads)
        try:
            with threadpool_limits(limits=1, user_api="blas"), engine_threads.using(engine):
                yield
        finally:
            torch.set_num_threads(old)

    return limits()


def many_threads(steps: dict[str, Callable], n: int, repeats: int, warmup: int) -> dict[str, float]:
    """Median ms of the engine (n engine threads, torch on 1) and of torch (n threads, engine on 1).

    Idle worker threads of one library spin for a while before they sleep and would steal
    the cores from the other's threads, so the two run one after the other, with a pause
    before each, never interleaved.
    """
    out = {}
    for name, (engine, torch_threads) in (("numpy", (n, 1)), ("torch", (1, n))):
        with _threads(engine, torch_threads):
            time.sleep(PAUSE_S)
            out.update(alternate({name: steps[name]}, repeats, warmup, blocks=1))
    return out


def engine_peak_mb(case: Case) -> float:
    """Peak MB of NumPy allocations (tracemalloc) while building ``case`` and running three steps."""
    tracemalloc.start()
    try:
        step = engine_step(engine_search(case), history=True, max_steps=3)
        for _ in range(3):
            step()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def bench_case(case: Case, repeats: int, warmup: int, gemm_size: int, n_threads: int,
               history_budget_s: float = HISTORY_BUDGET_S, case_budget_s: float = CASE_BUDGET_S) -> dict:
    """One row: engine and torch at one and ``n_threads`` threads, floor, phases, history overhead, memory.

    The matmul rates of the floors are measured right before the case, so that a change of
    machine load between cases moves a case's floor with its steps.
    """
    gflops = {1: gemm_gflops(1, gemm_size)}
    gflops[n_threads] = gemm_gflops(n_threads, gemm_size)
    search = engine_search(case)
    with_history = engine_step(search, history=True, max_steps=warmup + 1)
    torch_fn = torch_step(case)
    with _threads(1, 1):
        # cheap cases get more steps (up to CASE_BUDGET_S per setting): a median of 30 steps
        # of a fraction of a millisecond moves with every hiccup of a shared machine
        probe = alternate({"numpy": with_history, "torch": torch_fn}, 1, warmup, blocks=1)
        repeats = max(repeats, min(CASE_MAX_STEPS, int(case_budget_s * 1e3 / sum(probe.values()))))
        with_history = engine_step(search, history=True, max_steps=2 * (warmup + repeats) + BLOCKS + 2)
        one = alternate({"numpy": with_history, "torch": torch_fn}, repeats, warmup)
        # history overhead: the same search with and without history, one step of each in turn,
        # for about history_budget_s (a difference of a few percent needs many steps)
        n = max(repeats, min(HISTORY_MAX_STEPS, int(history_budget_s * 1e3 / (2 * one["numpy"]))))
        hist = alternate({"on": engine_step(search, history=True, max_steps=n + warmup),
                          "off": engine_step(search, history=False, max_steps=0)}, n, warmup, blocks=n)
        phases = step_phases(engine_search(case), max(3, min(repeats, 200)))
    if n_threads > 1:
        with_history = engine_step(search, history=True, max_steps=warmup + repeats + 2)
        many = many_threads({"numpy": with_history, "torch": torch_fn}, n_threads, repeats, warmup)
    else:
        many = one
    flops, step_flops = forward_flops(case), forward_flops(case, step=True)
    floor = step_flops / (gflops[1] * 1e9) * 1e3
    floor_t = step_flops / (gflops[n_threads] * 1e9) * 1e3
    row = {
        "name": case.name, "model": case.model, "batch": case.batch, "input_shape": list(case.input_shape),
        "threads": n_threads,
        "numpy_ms": one["numpy"], "torch_ms": one["torch"],
        "numpy_t_ms": many["numpy"], "torch_t_ms": many["torch"],
        "ratio": one["numpy"] / one["torch"], "speedup": one["torch"] / one["numpy"],
        "speedup_t": many["torch"] / many["numpy"], "thread_scaling": one["numpy"] / many["numpy"],
        "forward_gflop": flops / 1e9, "step_gflop": step_flops / 1e9,
        "gemm_gflops": {str(k): v for k, v in gflops.items()}, "floor_ms": floor, "floor_t_ms": floor_t,
        "floor_x": one["numpy"] / floor, "floor_x_t": many["numpy"] / floor_t,
        "phases_ms": phases, "overhead_ms": one["numpy"] - floor,
        "products_ms": products_ms(case, max(3, min(repeats, 50))),
        "same_bits": same_bits_at(case, (1, max(2, n_threads))),
        "history_overhead_pct": 100.0 * (hist["on"] / hist["off"] - 1.0), "history_steps": n,
        "peak_mb": engine_peak_mb(case), "peak_how": "tracemalloc (engine's NumPy allocations)",
        "repeats": repeats,
    }
    return row


def bench_topk(n: int, repeats: int, warmup: int) -> dict:
    """Top-k of one layer of ``n`` scores at k = 0.5, one thread: engine select vs torch keep_top."""
    import torch

    from sltsim.engine.supermask import MaskedParam, select
    from sltsim.engine.topk import threshold_and_ties
    from sltsim.metrics.history import MaskHistory
    from sltsim.torch_backend.supermask import keep_top

    rng = np.random.default_rng(0)
    tracemalloc.start()
    p = MaskedParam("topk.weight", (n,), fan_in=1000)
    p.scores[...] = rng.uniform(-1, 1, n)
    p.theta0[...] = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    p.prune_rate = 0.5
    history = MaskHistory([p], warmup + repeats + 1)
    select([p], history=history)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    magnitudes = torch.from_numpy(np.abs(p.scores))
    n_keep = p.n_keep()
    scratch = np.empty(p.size, p.dtype)  # threshold_and_ties's work array (select uses the param's own)
    with _threads(1, 1):
        t = alternate({"select": lambda: select([p], history=history),
                       "threshold": lambda: threshold_and_ties(p.scores, n_keep, scratch),
                       "torch": lambda: keep_top(magnitudes, n_keep)}, repeats, warmup)
    return {"name": f"top-k {n:,} scores", "numpy_ms": t["select"], "threshold_ms": t["threshold"],
            "torch_ms": t["torch"], "floor_ms": None, "peak_mb": peak,
            "peak_how": "tracemalloc (scores, theta0, mask, w_eff, ever-selected, scratch)",
            "note": "numpy_ms: select() with history (threshold + mask + masked weights + ever-selected); "
                    "torch_ms: torch_backend keep_top (kthvalue + tie budget), same |s|"}


def run(quick: bool = False, repeats: int | None = None, cold: bool = True, topk: bool = True,
        only: str | None = None, progress: Callable[[str], None] | None = None,
        threads: int | None = None) -> list[dict]:
    """Every row of the bench, in order: cases, top-k, cold start.

    ``threads``: engine (and torch) threads of the many-thread columns; default every
    core available.

    ``only``: run the cases whose name starts with it (and no top-k or cold-start row
    unless it names those: ``top-k``, ``cold``).
    """
    cases = QUICK_CASES if quick else CASES
    if only:
        cases = tuple(c for c in cases if c.name.startswith(only))
        topk, cold = topk and "top-k".startswith(only), cold and "cold".startswith(only)
    repeats = repeats or (3 if quick else 30)
    warmup = 1 if quick else 3
    say = progress or (lambda message: None)
    n_threads = engine_threads.available() if threads is None else engine_threads.check_threads(threads)
    info = machine()
    size = 256 if quick else 2048
    gflops = {1: gemm_gflops(1, size)}
    gflops[n_threads] = gemm_gflops(n_threads, size)
    info["gemm_gflops"] = {str(k): v for k, v in gflops.items()}
    info["threads"] = n_threads
    info["quick"] = quick
    rows = []
    for case in cases:
        say(f"{case.name} ...")
        reps = repeats if not case.model.startswith("conv") or quick else max(5, repeats // 3)
        row = bench_case(case, reps, warmup, size, n_threads, 0.2 if quick else HISTORY_BUDGET_S,
                         0.0 if quick else CASE_BUDGET_S)
        rows.append(dict(row, quick=quick))
    if topk:
        say("top-k ...")
        rows.append(bench_topk(QUICK_TOPK_SIZE if quick else TOPK_SIZE, 3 if quick else 15, 1))
    if cold:
        say("cold start ...")
        rows += bench_cold(cases or CASES)
    info["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    for row in rows:
        row["machine"] = info
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sltsim.bench", description=__doc__.strip().splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the rows as one JSON list")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and repeats (CI): a few seconds")
    parser.add_argument("--repeats", type=int, default=None, metavar="N",
                        help="fewest timed steps per case and setting (default 30, 3 with --quick; conv4 a third)")
    parser.add_argument("--cold", action=argparse.BooleanOptionalAction, default=None,
                        help="time cold starts in fresh interpreters (default: on, off with --quick)")
    parser.add_argument("--no-topk", action="store_true", help="skip the top-k row")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="threads of the many-thread columns (default: every core available)")
    parser.add_argument("--only", default=None, metavar="PREFIX",
                        help="only the rows whose name starts with PREFIX (e.g. 'mlp 64', 'conv4', 'top-k', 'cold')")
    args = parser.parse_args(argv)
    if args.repeats is not None and args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    cold = (not args.quick) if args.cold is None else args.cold
    rows = run(args.quick, args.repeats, cold=cold, topk=not args.no_topk, only=args.only,
               progress=None if args.json else (lambda m: print(m, file=sys.stderr, flush=True)),
               threads=args.threads)
    if not rows:
        parser.error(f"--only {args.only!r} matches no row")
    print(json.dumps(rows) if args.json else table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
