"""Engine threads: a whole record is the same bits at 1, 2 and 3 threads, in process and on Dask.

Every test here checks bits, never a time. The record tests also check that the
parallel paths really ran (split products, conv batch slices side by side), so that
equality is not the trivial equality of a run that stayed on one thread.
"""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from sltsim import cli
from sltsim.config import RunConfig
from sltsim.engine import conv, gemm, threads
from sltsim.search import run_search
from sltsim.studies.runner import evaluate_cell, run_grid, search_cell
from sltsim.studies.store import RecordStore, strip_timing


def _text(record: dict) -> str:
    return json.dumps(strip_timing(record), sort_keys=True)


def test_run_uses_several_threads_and_keeps_task_order():
    # two tasks that each wait for the other can only finish when they run at the same time
    barrier = threading.Barrier(2, timeout=30)

    def task(i):
        barrier.wait()
        return i, threading.get_ident()

    out = threads.run([lambda i=i: task(i) for i in range(2)], threads=2)
    assert [i for i, _ in out] == [0, 1]
    assert out[0][1] != out[1][1]
    assert threads.run([lambda i=i: i * i for i in range(7)], threads=3) == [i * i for i in range(7)]


def test_run_reraises_a_task_error_after_the_others():
    def boom():
        raise KeyError("piece 1")

    with pytest.raises(KeyError, match="piece 1"):
        threads.run([lambda: 0, boom, lambda: 2], threads=2)


def test_using_is_per_calling_thread_and_restored():
    assert threads.current() == 1 and threads.ambient() is None
    seen = []
    with threads.using(3):
        worker = threading.Thread(target=lambda: seen.append(threads.current()))
        worker.start()
        worker.join()
        assert threads.current() == 3
    assert seen == [1] and threads.ambient() is None
    with pytest.raises(ValueError, match="threads must be a positive integer, got 0"):
        with threads.using(0):
            pass


@pytest.mark.parametrize("n, pieces, quantum", [(128, 2, 24), (128, 3, 24), (10, 4, 24), (100, 7, 1), (5, 9, 1)])
def test_bounds_cover_the_range_at_multiples_of_the_quantum(n, pieces, quantum):
    b = threads.bounds(n, pieces, quantum)
    assert b[0][0] == 0 and b[-1][1] == n
    assert all(a < e for a, e in b) and all(e == a2 for (_, e), (a2, _) in zip(b, b[1:]))
    assert all(a % quantum == 0 for a, _ in b) and len(b) <= pieces


def test_threads_is_an_execution_field_out_of_key_and_record():
    base = RunConfig()
    assert base.replace(threads=3).key() == base.key()
    assert "threads" not in base.replace(threads=3).to_dict()
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="threads must be an integer >= 0"):
            RunConfig(threads=bad)


def test_cli_threads_flag(capsys):
    assert cli.main(["--threads", "-2", "--epochs", "1"]) == cli.EXIT_BAD_INPUT
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "threads must be an integer >= 0" in err[0]
    assert cli.build_parser().parse_args(["--threads", "2"]).threads == 2


@pytest.fixture
def counted_conv_runs(monkeypatch):
    """Small conv batch slices (several per batch), and a count of conv passes that ran slices side by side."""
    monkeypatch.setattr(conv, "SLICE_ELEMENTS", 1 << 14)
    counts = {"parallel": 0}

    def counting_run(tasks, n=None):
        if (n or threads.current()) > 1 and len(tasks) > 1:
            counts["parallel"] += 1
        return threads.run(tasks, n)

    monkeypatch.setattr(conv, "run", counting_run)
    return counts


CASES = {
    "mlp": RunConfig(model="mlp:64,256,256,10", epochs=2),
    "conv": RunConfig(model="conv2", epochs=1),
    "resnet": RunConfig(model="resnet8", epochs=1, batch_size=64),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_whole_record_is_the_same_at_one_two_and_three_threads(name, counted_conv_runs, monkeypatch):
    monkeypatch.setattr(gemm, "_exact", {})
    texts = {n: _text(run_search(CASES[name].replace(threads=n))) for n in (1, 2, 3)}
    assert texts[1] == texts[2] == texts[3]
    assert json.loads(texts[1])["status"] == "ok"
    if name != "mlp":
        assert counted_conv_runs["parallel"] > 0, "no conv pass ran its batch slices side by side"
    if name != "resnet":  # resnet8's one dense layer is too small to split
        assert gemm._exact, "no product was tried split: the test did not exercise the split"
        if not any(gemm._exact.values()):
            pytest.skip(f"this BLAS changes the last bits of all {len(gemm._exact)} row splits tried: they are "
                        "rightly refused, so the records matched with every product whole")


def test_a_study_cell_runs_on_one_thread_unless_given_more(monkeypatch):
    seen = []
    monkeypatch.setattr("sltsim.search._run_search", lambda config, progress, on_finish=None: seen.append(threads.current()) or {})
    evaluate_cell(search_cell, RunConfig(epochs=1))
    evaluate_cell(search_cell, RunConfig(epochs=1, threads=2))
    run_search(RunConfig(epochs=1))
    assert seen == [1, 2, threads.available()]


@pytest.fixture(scope="module")
def dask_two_threads():
    """A real Dask cluster on loopback: one worker process running two cells at once."""
    import distributed

    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=True, host="127.0.0.1",
                                       dashboard_address=None)
    try:
        yield cluster
    finally:
        cluster.close()


def test_dask_worker_pool_gives_the_in_process_records_at_any_thread_count(tmp_path, dask_two_threads):
    configs = [RunConfig(model="mlp:64,256,256,10", epochs=1, seed=s, threads=t) for s, t in ((0, 2), (1, 3), (2, 0))]
    with threads.using(1):
        local = [_text(evaluate_cell(search_cell, c.replace(threads=1))) for c in configs]
    records = run_grid(configs, search_cell, RecordStore(tmp_path / "dask.jsonl"),
                       scheduler=dask_two_threads.scheduler_address, progress=False)
    assert [_text(r) for r in records] == local
    assert all(r["status"] == "ok" for r in records)
    assert len({r["key"] for r in records}) == 3


def test_parallel_conv_layer_matches_the_serial_layer_bit_for_bit(counted_conv_runs):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((9, 5, 11, 10)).astype(np.float32)
    dY = None
    results = {}
    for n in (1, 3):
        layer = conv.Conv2d("c", 5, 7, 3, stride=(1, 2), padding=1, bias=True)
        layer.weight.w_eff[...] = np.random.default_rng(1).standard_normal(layer.weight.shape)
        with threads.using(n):
            Y, backprop = layer.forward(X)
            dY = np.random.default_rng(2).standard_normal(Y.shape).astype(np.float32) if dY is None else dY
            dX = backprop(dY)
        results[n] = (Y.tobytes(), dX.tobytes(), layer.weight.grad.tobytes(), layer.bias.grad.tobytes())
    assert results[1] == results[3]
    assert counted_conv_runs["parallel"] >= 2
