"""The report of ``python -m sltsim.bench``: the machine, the text table and the issue's targets.

:func:`table` turns the bench's rows into the plain-text table the README's
Performance section shows; :func:`target_lines` checks the rows against the targets
of the speed issue (2-core machine, history on) and says, for each, met or NOT met.
"""

from __future__ import annotations

import os
import platform

import numpy as np


def machine() -> dict:
    """Where the numbers come from: CPU model, cores, load, library versions and BLAS."""
    from threadpoolctl import threadpool_info

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    blas = [f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')})"
            for i in threadpool_info() if i.get("user_api") == "blas"]
    import numba

    info = {"cpu": cpu, "nproc": os.cpu_count(), "load_avg": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__, "blas": blas}
    try:
        import torch

        info["torch"] = torch.__version__
    except ImportError:
        info["torch"] = None
    return info


def _fmt(value, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


# (case name, row field, comparison, target): the issue's targets, checked on the rows
TARGETS = (
    ("mlp 256-1024-1024-10", "floor_x", "<=", 2.0),
    ("mlp 256-1024-1024-10", "speedup", ">=", 4.0),
    ("mlp 64-128-128-10", "speedup", ">=", 5.0),
    ("conv4 32x32x3", "speedup", ">=", 1.0),
    ("*", "history_overhead_pct", "<=", 3.0),
    ("top-k 10,000,000 scores", "numpy_ms", "<=", 50.0),
)


def target_lines(rows: list[dict]) -> list[str]:
    """One line per target the rows can answer: the measured value and met / NOT met."""
    lines = []
    for name, field, op, goal in TARGETS:
        for r in rows:
            if (name == "*" or r["name"] == name) and r.get(field) is not None:
                value = r[field]
                met = value <= goal if op == "<=" else value >= goal
                lines.append(f"  {r['name']}: {field} {value:.2f} (target {op} {goal:g}): {'met' if met else 'NOT met'}")
    return lines


def table(rows: list[dict]) -> str:
    """The rows as a plain-text table, the targets, then the machine they came from."""
    head = (f"{'case':<31}{'numpy ms':>10}{'torch ms':>10}{'speedup':>9}{'floor ms':>10}{'x floor':>9}"
            f"{'np 2t':>9}{'torch 2t':>10}{'hist %':>8}{'peak MB':>9}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['name']:<31}{_fmt(r['numpy_ms']):>10}{_fmt(r['torch_ms']):>10}"
                     f"{_fmt(r.get('speedup'), '.1f'):>9}{_fmt(r['floor_ms']):>10}{_fmt(r.get('floor_x'), '.2f'):>9}"
                     f"{_fmt(r.get('numpy_2t_ms')):>9}{_fmt(r.get('torch_2t_ms')):>10}"
                     f"{_fmt(r.get('history_overhead_pct'), '.1f'):>8}{_fmt(r['peak_mb'], '.1f'):>9}")
    for r in rows:
        if r["name"].startswith("top-k"):
            lines.append(f"{r['name']}: threshold alone {r['threshold_ms']:.2f} ms; select (threshold, mask, "
                         f"masked weights, ever-selected) {r['numpy_ms']:.2f} ms; torch keep_top {r['torch_ms']:.2f} ms")
        if r["name"].startswith("cold start"):
            lines.append(f"{r['name']}: {r['numpy_ms'] / 1e3:.1f} s (import {r['numpy_import_ms'] / 1e3:.1f} s, "
                         f"first steps {r['numpy_first_steps_ms'] / 1e3:.1f} s); torch backend {r['torch_ms'] / 1e3:.1f} s")
    targets = target_lines(rows)
    if targets:
        lines += ["targets (2-core machine, history on):"] + targets
    m = rows[0]["machine"] if rows else machine()
    lines.append(f"machine: {m['cpu']}, {m['nproc']} cores, load {m['load_avg']} -> {m.get('load_avg_end')}; "
                 f"numpy {m['numpy']}, numba {m['numba']}, torch {m['torch']}, BLAS {', '.join(m['blas'])}; "
                 f"matmul float32 {m['gemm_gflops']['1']:.1f} GFLOP/s (1 thread), {m['gemm_gflops']['2']:.1f} (2)")
    lines.append("numpy/torch ms: median per step, 1 thread (BLAS / torch.set_num_threads); 2t: 2 threads; "
                 "speedup = torch/numpy; floor = 3 x forward FLOPs at the 1-thread matmul rate; "
                 "hist % = step with MaskHistory vs without; peak = tracemalloc peak of the engine")
    return "\n".join(lines)
