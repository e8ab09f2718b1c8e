"""python -m sltsim.bench: it runs, prints well-formed rows, and times equal work on both backends.

No test asserts a time: speed is judged by the bench itself, never by a timed test.
"""

import json
import subprocess
import sys

import numpy as np
import pytest

from sltsim import bench
from sltsim.bench import QUICK_CASES, alternate
from sltsim.bench_cold import cold_start
from sltsim.bench_report import target_lines
from sltsim.bench_steps import Case, engine_search, engine_step, forward_flops, torch_step

REQUIRED = ("name", "numpy_ms", "torch_ms", "floor_ms", "peak_mb")


@pytest.fixture(scope="module")
def quick_rows():
    out = subprocess.run([sys.executable, "-m", "sltsim.bench", "--quick", "--json"],
                         capture_output=True, text=True, check=True, timeout=300)
    return json.loads(out.stdout)


def test_quick_json_has_the_required_fields(quick_rows):
    assert isinstance(quick_rows, list) and quick_rows
    for row in quick_rows:
        assert all(key in row for key in REQUIRED), row
        assert isinstance(row["name"], str) and row["name"]
    cases = [r for r in quick_rows if r["name"] in {c.name for c in QUICK_CASES}]
    assert [r["name"] for r in cases] == [c.name for c in QUICK_CASES]
    for r in cases:
        for key in REQUIRED[1:] + ("numpy_t_ms", "torch_t_ms", "floor_t_ms", "history_overhead_pct", "overhead_ms",
                                    "products_ms"):
            assert isinstance(r[key], float) and np.isfinite(r[key]), (r["name"], key)
        assert r["numpy_ms"] > 0 and r["torch_ms"] > 0 and r["floor_ms"] > 0 and r["peak_mb"] > 0
        assert r["ratio"] == pytest.approx(r["numpy_ms"] / r["torch_ms"])
        assert r["speedup_t"] == pytest.approx(r["torch_t_ms"] / r["numpy_t_ms"])
        assert r["same_bits"] is True and r["quick"] is True
        assert set(r["phases_ms"]) == {"select", "forward", "loss", "backward", "sgd"}
        assert all(v > 0 for v in r["phases_ms"].values())
    topk = [r for r in quick_rows if r["name"].startswith("top-k")]
    assert len(topk) == 1 and topk[0]["numpy_ms"] > 0 and topk[0]["threshold_ms"] > 0
    machine = quick_rows[0]["machine"]
    assert machine["nproc"] >= 1 and machine["cpu"] and machine["gemm_gflops"]["1"] > 0


def test_text_table_and_bad_flags():
    out = subprocess.run([sys.executable, "-m", "sltsim.bench", "--quick", "--only", "mlp", "--no-topk"],
                         capture_output=True, text=True, check=True, timeout=300)
    assert "numpy ms" in out.stdout and QUICK_CASES[0].name in out.stdout and "machine:" in out.stdout
    assert "NOT met" not in out.stdout  # the full-size targets do not apply at --quick sizes (only same_bits)
    assert "same_bits True (target == True): met" in out.stdout
    for flag in ("--repeats", "--threads"):
        bad = subprocess.run([sys.executable, "-m", "sltsim.bench", flag, "0"], capture_output=True, text=True)
        assert bad.returncode == 2 and flag in bad.stderr


def test_engine_and_torch_steps_do_the_same_work():
    # same theta0, s0 and batch on both backends: the first step's loss agrees
    case = Case("tiny", "mlp:12,16,16,10", (12,), 8)
    search = engine_search(case)
    engine_loss = engine_step(search, history=True, max_steps=1)()
    torch_loss = float(torch_step(case)()) / case.batch  # the torch step returns the summed loss
    assert engine_loss == pytest.approx(torch_loss, rel=1e-5)


def test_forward_flops_count_dense_and_conv_layers():
    assert forward_flops(Case("m", "mlp:5,7,10", (5,), 4)) == 4 * 2 * (5 * 7 + 7 * 10)
    # conv2 on 3x8x8: conv 3->64 and 64->64 at 8x8 (padding 1), pool to 4x4, fc 1024->256->256->10
    expected = 2 * (64 * 8 * 8 * 3 * 9 + 64 * 8 * 8 * 64 * 9 + 1024 * 256 + 256 * 256 + 256 * 10)
    assert forward_flops(Case("c", "conv2", (3, 8, 8), 2)) == 2 * expected
    # the step: forward and weight gradient of every layer, input gradient of all but the first
    assert forward_flops(Case("m", "mlp:5,7,10", (5,), 4), step=True) == 4 * 2 * (5 * 7 * 2 + 7 * 10 * 3)


def test_alternate_warms_up_then_alternates_blocks_and_returns_the_median_of_the_timed_calls(monkeypatch):
    # a fake clock that only the functions advance: a's calls take 1, 2, ..., 8 ms, b's 2 ms each
    now, order = [0.0], []

    def step(name, durations):
        def fn():
            order.append(name)
            now[0] += durations[sum(1 for o in order if o == name) - 1]
        return fn

    monkeypatch.setattr(bench.time, "perf_counter", lambda: now[0])
    medians = alternate({"a": step("a", [i * 1e-3 for i in range(1, 9)]), "b": step("b", [2e-3] * 8)},
                        repeats=6, warmup=2, blocks=3)
    # two warm-up calls each, then three blocks of two calls each, a before b in every block
    assert order == ["a", "a", "b", "b"] + ["a", "a", "b", "b"] * 3
    # the warm-up calls (1 and 2 ms) are not timed: median of 3..8 ms
    assert medians == {"a": pytest.approx(5.5), "b": pytest.approx(2.0)}


def test_cold_start_reports_import_and_first_steps():
    run = cold_start(QUICK_CASES[:1], "numpy", cache_dir=None)  # the ambient Numba cache
    assert run["total_s"] >= run["import_s"] + run["first_steps_s"] > 0


def test_target_lines_say_met_or_not():
    rows = [{"name": "mlp 64-128-128-10", "speedup": 6.0, "history_overhead_pct": 4.0},
            {"name": "top-k 10,000,000 scores", "numpy_ms": 70.0}]
    lines = target_lines(rows)
    assert any("speedup 6.00" in line and line.endswith(": met") for line in lines)
    assert any("history_overhead_pct 4.00" in line and "NOT met" in line for line in lines)
    assert any("numpy_ms 70.00" in line and "NOT met" in line for line in lines)


def test_a_missed_many_thread_target_says_what_stands_in_the_way():
    row = {"name": "conv4 32x32x3", "threads": 2, "numpy_ms": 400.0, "numpy_t_ms": 380.0, "torch_ms": 700.0,
           "torch_t_ms": 360.0, "speedup_t": 360 / 380, "thread_scaling": 400 / 380, "floor_ms": 300.0,
           "floor_t_ms": 150.0, "floor_x_t": 380 / 150, "same_bits": True,
           "phases_ms": {"select": 1.0, "forward": 120.0, "loss": 0.1, "backward": 270.0, "sgd": 2.0}}
    lines = target_lines([row])
    speed = next(line for line in lines if "speedup_t" in line)
    assert "NOT met" in speed and "on 2 threads the step runs at 1.05x its 1-thread speed" in speed and "torch gains 1.94x" in speed
    floor = next(line for line in lines if "floor_x_t" in line)
    assert "NOT met" in floor and "backward 270 ms" in floor
    assert any("same_bits True" in line and line.endswith("met") for line in lines)
    # the same row at --quick sizes answers only the targets that hold at any size
    quick = target_lines([dict(row, quick=True)])
    assert len(quick) == 1 and "same_bits" in quick[0]
