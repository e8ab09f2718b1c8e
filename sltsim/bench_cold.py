"""The cold-start rows of ``python -m sltsim.bench``: a fresh interpreter's import and first steps.

Each row runs a child interpreter that imports the package and builds and steps one
case of every model family, with an empty and then a warm Numba cache (the torch
backend once, for comparison); the times include the interpreter's start.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

from sltsim.bench_steps import Case


_COLD_SCRIPT = """
import json, sys, time
t0 = time.perf_counter()
cases = json.loads(sys.argv[1])
if sys.argv[2] == "numpy":
    import sltsim.search, sltsim.bench_steps as b
else:
    import torch, sltsim.torch_backend.cycle, sltsim.bench_steps as b
t1 = time.perf_counter()
for name, model, shape, batch in cases:
    case = b.Case(name, model, tuple(shape), batch)
    step = b.engine_step(b.engine_search(case), True, 1) if sys.argv[2] == "numpy" else b.torch_step(case)
    step()
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "first_steps_s": t2 - t1}))
"""


def cold_start(cases, backend: str, cache_dir: str | None) -> dict:
    """Seconds for a fresh interpreter to import and run one step of each case.

    ``backend``: "numpy" or "torch". ``cache_dir``: the NUMBA_CACHE_DIR of the child
    (None: this process's environment). Returns import_s, first_steps_s (build and one
    step of every case) and total_s (wall time of the child, interpreter start included).
    """
    env = dict(os.environ)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
    spec = json.dumps([[c.name, c.model, list(c.input_shape), c.batch] for c in cases])
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", _COLD_SCRIPT, spec, backend], env=env, check=True,
                         capture_output=True, text=True)
    total = time.perf_counter() - t0
    return dict(json.loads(out.stdout.strip().splitlines()[-1]), total_s=total)


def bench_cold(cases) -> list[dict]:
    """Cold-start rows: an empty Numba cache, then the same cache warm; torch for comparison."""
    small = [Case(c.name, c.model, c.input_shape, min(c.batch, 8)) for c in cases]
    families = list({("conv" if c.model.startswith("conv") else "mlp"): c for c in small}.values())
    rows = []
    with tempfile.TemporaryDirectory(prefix="sltsim-numba-") as cache:
        torch_run = cold_start(families, "torch", cache)
        for label in ("empty Numba cache", "warm Numba cache"):
            run = cold_start(families, "numpy", cache)
            rows.append({"name": f"cold start ({label})", "numpy_ms": 1e3 * run["total_s"],
                         "torch_ms": 1e3 * torch_run["total_s"], "floor_ms": None, "peak_mb": None,
                         "numpy_import_ms": 1e3 * run["import_s"], "numpy_first_steps_ms": 1e3 * run["first_steps_s"],
                         "note": "fresh interpreter: import, build and one step of " +
                                 ", ".join(c.model for c in families) + f" (batch <= 8); NUMBA_CACHE_DIR={label}"})
    return rows
