"""run_grid: resumable after SIGKILL, identical records in process, in a pool and on Dask."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from tests.studies import study_cells
from tests.studies.study_cells import calls, counted_cell, flaky_cell, grid

from sltsim.config import RunConfig
from sltsim.studies.cli import run_study, study_parser
from sltsim.studies.runner import run_grid, search_cell
from sltsim.studies.store import RecordStore, normalise, strip_timing

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

KILLABLE_RUN = """
import sys
from tests.studies import study_cells
from sltsim.studies.runner import run_grid
run_grid(study_cells.grid(), study_cells.counted_cell, sys.argv[1], progress=False)
"""


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The grid run once, uninterrupted, in this process: its records without timing."""
    store = RecordStore(tmp_path_factory.mktemp("reference") / "grid.jsonl")
    return [strip_timing(r) for r in run_grid(grid(), search_cell, store, progress=False)]


@pytest.fixture
def call_log(tmp_path, monkeypatch):
    path = tmp_path / "calls.log"
    monkeypatch.setenv(study_cells.CALLS, str(path))
    return path


def test_reference_records_are_real_and_ordered(reference):
    configs = grid()
    assert [r["key"] for r in reference] == [c.key() for c in configs]
    assert all(r["status"] == "ok" and 0.0 < r["test_acc"] <= 1.0 for r in reference)
    assert [r["config"]["seed"] for r in reference] == [c.seed for c in configs]


def test_sigkill_mid_grid_then_rerun_matches_an_uninterrupted_run(tmp_path, call_log, reference):
    store = RecordStore(tmp_path / "grid.jsonl")
    env = dict(os.environ, PYTHONPATH=str(REPO), **{study_cells.DELAY: "0.3"})
    proc = subprocess.Popen([sys.executable, "-c", KILLABLE_RUN, str(store.path)], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    try:
        # kill once two cells are stored and a third has started (it sleeps 0.3 s before computing)
        while not (len(_lines(store.path)) >= 2 and len(calls(call_log)) > len(_lines(store.path))):
            assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
            assert time.monotonic() < deadline, "the grid never stored two cells"
            time.sleep(0.01)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    kept = store.records()
    assert 2 <= len(kept) < len(reference), "the kill did not land in the middle of the grid"
    before = len(calls(call_log))
    assert before >= len(kept)

    records = run_grid(grid(), counted_cell, store, progress=False)
    rerun_keys = [key for _, key in calls(call_log)[before:]]
    assert sorted(rerun_keys) == sorted(set(r["key"] for r in reference) - {r["key"] for r in kept})
    assert [strip_timing(r) for r in records] == reference
    by_key = {r["key"]: r for r in reference}
    assert [strip_timing(r) for r in store.records()] == [by_key[r["key"]] for r in store.records()]
    assert len(store.records()) == len(reference)

    # a rerun with a complete store computes nothing
    again = run_grid(grid(), counted_cell, store, progress=False)
    assert len(calls(call_log)) == before + len(rerun_keys)
    assert [strip_timing(r) for r in again] == reference


def _lines(path: Path) -> list[bytes]:
    try:
        return [line for line in path.read_bytes().split(b"\n")[:-1] if line]
    except FileNotFoundError:
        return []


def test_truncated_last_line_is_recomputed(tmp_path, call_log, reference):
    store = RecordStore(tmp_path / "grid.jsonl")
    configs = grid()[:3]
    run_grid(configs, counted_cell, store, progress=False)
    store.path.write_bytes(store.path.read_bytes()[:-40])
    lost = store.path.read_bytes().split(b"\n")[-1]
    assert lost  # the last record is now cut
    with pytest.warns(UserWarning, match=str(store.path)):
        records = run_grid(configs, counted_cell, store, progress=False)
    assert [key for _, key in calls(call_log)] == [c.key() for c in configs] + [configs[2].key()]
    assert [strip_timing(r) for r in records] == reference[:3]
    assert [strip_timing(r) for r in store.records()] == reference[:3]


def test_two_workers_give_the_records_of_one(tmp_path, call_log, reference):
    store = RecordStore(tmp_path / "grid.jsonl")
    records = run_grid(grid(), counted_cell, store, workers=2, progress=False)
    assert [strip_timing(r) for r in records] == reference
    assert os.getpid() not in {pid for pid, _ in calls(call_log)}  # the cells ran in worker processes
    assert sorted(r["key"] for r in store.records()) == sorted(r["key"] for r in reference)


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """A real Dask cluster (one worker process) on loopback; the worker logs its calls to ``cluster.call_log``."""
    import distributed

    call_log = tmp_path_factory.mktemp("dask") / "calls.log"
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None, env={study_cells.CALLS: str(call_log)})
    cluster.call_log = call_log
    try:
        yield cluster
    finally:
        cluster.close()


def test_dask_local_cluster_gives_the_records_of_the_local_run(tmp_path, reference, dask_cluster):
    store = RecordStore(tmp_path / "grid.jsonl")
    records = run_grid(grid(), counted_cell, store, scheduler=dask_cluster.scheduler_address, progress=False)
    assert [strip_timing(r) for r in records] == reference
    logged = calls(dask_cluster.call_log)
    assert sorted(key for _, key in logged) == sorted(r["key"] for r in reference)
    pids = {pid for pid, _ in logged}
    assert pids and os.getpid() not in pids
    assert len(store.records()) == len(reference)


def test_failed_cells_are_recorded_and_the_grid_goes_on(tmp_path, capsys):
    store = RecordStore(tmp_path / "grid.jsonl")
    configs = [RunConfig(data="digits", model="mlp:64,16,10", epochs=1, seed=s) for s in range(4)]
    records = run_grid(configs, flaky_cell, store, progress=True, desc="flaky")
    assert [r["status"] for r in records] == ["ok", "failed", "diverged", "ok"]
    failed = records[1]
    assert failed["reason"] == "ZeroDivisionError: seed 1 always fails"
    assert failed["config"] == normalise(configs[1].to_dict()) and failed["key"] == configs[1].key()
    assert strip_timing(records[2]) == {"key": configs[2].key(), "status": "diverged",
                                        "reason": "loss became nan at step 3", "prune_rate": 0.5}
    assert records[0]["value"] is None  # NaN is stored as null
    err = capsys.readouterr().err
    assert "flaky" in err and "failed=1" in err and "diverged=1" in err
    # a rerun retries the failed cell only (a diverged cell is a result); failing again, the same
    # way under the same code, it is not stored again: the store does not grow with each rerun
    calls_log = tmp_path / "calls.log"
    os.environ[study_cells.CALLS] = str(calls_log)
    try:
        again = run_grid(configs, study_cells.counted_flaky_cell, store, progress=False)
    finally:
        del os.environ[study_cells.CALLS]
    assert [key for _, key in calls(calls_log)] == [configs[1].key()]
    assert len(store.records()) == 4
    assert [r["status"] for r in again] == ["ok", "failed", "diverged", "ok"]
    kept = run_grid(configs, flaky_cell, store, progress=False, retry_failed=False)
    assert len(store.records()) == 4 and kept[1]["status"] == "failed"


def test_bad_workers_and_unpicklable_results_are_refused(tmp_path):
    with pytest.raises(ValueError, match="workers must be a positive integer"):
        run_grid(grid(1), search_cell, tmp_path / "s.jsonl", workers=0)
    records = run_grid(grid(1)[:1], _returns_a_set, tmp_path / "s.jsonl", progress=False)
    assert records[0]["status"] == "failed" and records[0]["reason"].startswith("TypeError: record['s'] is a set")


def _returns_a_set(config):
    return {"s": {1}}


def test_a_study_module_runs_on_dask_from_its_command_line_and_resumes(tmp_path, dask_cluster):
    """``python -m <study> --scheduler ... --json``, the way a user runs a study: its cell is
    defined in ``__main__``; the rows match an in-process run and a rerun recomputes nothing."""
    from tests.studies import grid_main

    preset = tmp_path / "p.toml"
    preset.write_text('[study]\nprune_rates = [0.3, 0.6]\nseeds = 1\n\n'
                      '[config]\nmodel = "mlp:64,16,10"\nepochs = 1\nbatch_size = 256\n')
    argv = [sys.executable, "-m", "tests.studies.grid_main", "--preset", str(preset), "--out", str(tmp_path / "r"),
            "--scheduler", dask_cluster.scheduler_address, "--json", "--no-progress"]
    first = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, timeout=300)
    assert first.returncode == 0, first.stderr[-3000:]
    rows = json.loads(first.stdout.splitlines()[-1])
    store = RecordStore(tmp_path / "r" / "grid_main.jsonl")
    stored = store.path.read_bytes()
    configs = grid_main.configs({"study": {"prune_rates": [0.3, 0.6], "seeds": 1},
                                 "config": {"model": "mlp:64,16,10", "epochs": 1, "batch_size": 256}})
    expected = run_grid(configs, grid_main.cell, tmp_path / "in_process.jsonl", progress=False)
    assert rows == [{"prune_rate": r["prune_rate"], "dying_ratio": r["dying_ratio"], "test_acc": r["test_acc"]}
                    for r in expected]
    assert [strip_timing(r) for r in sorted(store.records(), key=lambda r: r["prune_rate"])] == [
        dict(strip_timing(r), preset="p") for r in expected]  # the study tags its records with the preset
    args = ["--preset", str(preset), "--out", str(tmp_path / "r"), "--no-progress"]
    assert run_study(grid_main.main, args, parser=study_parser("grid_main", None)) == 0
    assert store.path.read_bytes() == stored  # the rerun computed and appended nothing


def test_records_do_not_depend_on_the_callers_blas_threads(tmp_path):
    """OpenBLAS gives other last bits with 1 and 2 threads on this 64-128-10 MLP; cells pin one."""
    from threadpoolctl import threadpool_info, threadpool_limits

    config = RunConfig(data="digits", model="mlp:64,128,10", epochs=1, batch_size=256)
    records = []
    for threads in (1, 2):
        with threadpool_limits(threads, user_api="blas"):
            records.append(run_grid([config], search_cell, tmp_path / f"t{threads}.jsonl", progress=False))
            assert {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"} == {threads}
    assert strip_timing(records[0]) == strip_timing(records[1])


def test_every_record_carries_its_provenance_outside_the_key(tmp_path):
    import datetime

    from sltsim import __version__, provenance

    configs = grid(1)
    records = run_grid(configs, flaky_cell, tmp_path / "s.jsonl", progress=False)
    for config, record in zip(configs, records):
        p = record["provenance"]
        assert record["key"] == config.key()  # as before: provenance is not hashed
        assert p["sltsim"] == __version__ and p["code"] == provenance.code_fingerprint()
        assert set(p["libraries"]) >= {"numpy", "numba", "scipy"} and p["libraries"]["numpy"] == np.__version__
        when = datetime.datetime.fromisoformat(p["utc"].replace("Z", "+00:00"))
        assert abs((datetime.datetime.now(datetime.timezone.utc) - when).total_seconds()) < 600
        assert p["machine"]["cpus"] == os.cpu_count() and p["python"] == sys.version.split()[0]


def test_the_code_fingerprint_follows_every_source_file(tmp_path, monkeypatch):
    """Editing any .py file of the package changes the fingerprint; the reference hashes a copy.

    The edit is made to a copy of the package, fingerprinted by the copy's own
    ``provenance`` module (``code_fingerprint`` hashes the tree its file lies in)."""
    import hashlib
    import importlib.util
    import shutil

    import sltsim
    from sltsim import provenance

    root = Path(sltsim.__file__).resolve().parent
    copy = tmp_path / "sltsim"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))

    def fingerprint(folder):
        digest = hashlib.sha256()
        for path in sorted(folder.rglob("*.py")):
            digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
        return digest.hexdigest()[:16]

    def copy_fingerprint():  # a fresh load of the copy's provenance.py: its own cache, its own tree
        spec = importlib.util.spec_from_file_location("copied_provenance", copy / "provenance.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.code_fingerprint()

    assert provenance.code_fingerprint() == fingerprint(copy) == copy_fingerprint()
    (copy / "studies" / "aggregate.py").write_text((copy / "studies" / "aggregate.py").read_text() + "\n# edit\n")
    assert copy_fingerprint() == fingerprint(copy) != provenance.code_fingerprint()


def _made_by_other_code(store: RecordStore, fingerprint: str = "0123456789abcdef") -> None:
    lines = [json.loads(line) for line in store.path.read_text().splitlines()]
    for record in lines:
        record["provenance"]["code"] = fingerprint
    store.path.write_text("".join(json.dumps(r) + "\n" for r in lines))


def test_records_of_other_code_are_reused_with_a_warning_and_recomputed_on_request(tmp_path, call_log):
    from sltsim import provenance
    from sltsim.studies.runner import StaleRecordsWarning

    store = RecordStore(tmp_path / "s.jsonl")
    configs = grid(1)
    first = run_grid(configs, counted_cell, store, progress=False)
    _made_by_other_code(store)
    n_calls = len(calls(call_log))
    with pytest.warns(StaleRecordsWarning, match=r"2 of the 2 stored records this grid reuses were not made by "
                                                 r"this code \(code [0-9a-f]{16}\): 2 by code 0123456789abcdef; "
                                                 r"they are reused; pass --recompute-stale"):
        reused = run_grid(configs, counted_cell, store, progress=False)
    assert len(calls(call_log)) == n_calls and [r["provenance"]["code"] for r in reused] == ["0123456789abcdef"] * 2
    with pytest.warns(StaleRecordsWarning, match="they are computed again"):
        fresh = run_grid(configs, counted_cell, store, progress=False, recompute_stale=True)
    assert len(calls(call_log)) == n_calls + 2
    assert [r["provenance"]["code"] for r in fresh] == [provenance.code_fingerprint()] * 2
    assert [strip_timing(r) for r in fresh] == [strip_timing(r) for r in first]  # same code, same bits
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the store now holds this code's records: they win, silently
        again = run_grid(configs, counted_cell, store, progress=False)
    assert again == fresh and len(calls(call_log)) == n_calls + 2 and len(store.records()) == 4


def test_records_without_provenance_count_as_other_code(tmp_path):
    from sltsim.studies.runner import StaleRecordsWarning

    store = RecordStore(tmp_path / "s.jsonl")
    configs = grid(1)[:1]
    store.append({"key": configs[0].key(), "status": "ok", "test_acc": 0.5})
    with pytest.warns(StaleRecordsWarning, match="1 without provenance"):
        assert run_grid(configs, flaky_cell, store, progress=False)[0]["test_acc"] == 0.5


def always_failing_cell(config) -> dict:
    raise RuntimeError(f"cell {config.seed} cannot run")


def flaky_cell_with_config(config) -> dict:
    return dict(flaky_cell(config), config=config.to_dict())


def _failing_study(args):
    from sltsim.studies.cli import report, run_grid_from_args

    every = args.preset.endswith("all.toml")
    records = run_grid_from_args(args, grid(2 if every else 3), always_failing_cell if every else flaky_cell_with_config)
    return report(args, f"table of {sum(r['status'] == 'ok' for r in records)} ok records", [], [])


def test_a_study_whose_cells_all_fail_exits_1_naming_the_count_and_the_store(tmp_path, capsys):
    preset = tmp_path / "all.toml"
    preset.write_text("")
    argv = ["--preset", str(preset), "--out", str(tmp_path / "r"), "--no-progress"]
    for _ in range(3):  # the store does not grow with reruns that fail the same way
        assert run_study(_failing_study, argv, parser=study_parser("demo", None)) == 1
        out, err = capsys.readouterr()
        assert out == ""  # no blank tables
        assert err.splitlines() == [
            f"python -m sltsim.studies.demo: error: 4 of 4 cells failed (first: RuntimeError: cell 0 cannot run); "
            f"their errors and tracebacks are the records with status \"failed\" in {tmp_path / 'r' / 'demo.jsonl'}; "
            "a rerun computes them again"]
        stored = RecordStore(tmp_path / "r" / "demo.jsonl").records()
        assert len(stored) == 4 and all("RuntimeError: cell" in r["traceback"] for r in stored)


def test_a_study_with_some_failed_cells_prints_its_tables_then_exits_1(tmp_path, capsys):
    preset = tmp_path / "some.toml"
    preset.write_text("")
    argv = ["--preset", str(preset), "--out", str(tmp_path / "r"), "--no-progress"]
    assert run_study(_failing_study, argv, parser=study_parser("demo", None)) == 1
    out, err = capsys.readouterr()
    assert out.splitlines()[0] == "table of 2 ok records"
    # seed 2 diverged at both prune rates: a row of its own after the table
    assert "diverged: 2 cells with no metrics, left out of the means above" in out
    assert "  diverged prune_rate=0.3 | seeds 2 | loss became nan at step 3" in out
    assert err.splitlines() == [
        f"python -m sltsim.studies.demo: error: 2 of 6 cells failed (first: ZeroDivisionError: seed 1 always fails); "
        f"their errors and tracebacks are the records with status \"failed\" in {tmp_path / 'r' / 'demo.jsonl'}; "
        "a rerun computes them again"]


def test_diverged_rows_name_the_varying_fields_and_the_seeds():
    from sltsim.studies.aggregate import diverged_rows, format_diverged

    configs = [RunConfig(prune_rate=k, seed=s, lr=lr) for k in (0.3, 0.6) for s in range(3) for lr in (0.1, 1e30)]
    records = [{"key": c.key(), "config": c.to_dict(),
                "status": "diverged" if c.lr > 1 and (c.prune_rate == 0.6 or c.seed == 1) else "ok",
                "reason": "scores became NaN or inf"} for c in configs]
    rows = diverged_rows(records)
    assert [(r["lr"], r["prune_rate"], r["seed_list"]) for r in rows] == [(1e30, 0.3, [1]), (1e30, 0.6, [0, 1, 2])]
    assert all(set(r) == {"lr", "prune_rate", "status", "seeds", "seed_list", "reason"} for r in rows)
    text = format_diverged(rows).splitlines()
    assert text[0] == "diverged: 4 cells with no metrics, left out of the means above"
    assert text[2] == "  diverged lr=1e+30, prune_rate=0.6 | seeds 0,1,2 | scores became NaN or inf"
    assert format_diverged(diverged_rows([r for r in records if r["status"] == "ok"])) == ""


def test_a_real_study_writes_only_under_results_by_default(tmp_path, monkeypatch, capsys):
    """No --out, no --figures: the store and the figures land in results/<preset>/<study>, nothing else."""
    from sltsim.studies import dying_edges

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    preset = tmp_path / "tiny.toml"
    preset.write_text('[study]\nprune_rates = [0.5]\nseeds = 1\n[config]\ndata = "planted"\nmodel = "mlp:32,64,10"\n'
                      "epochs = 1\nn_train = 200\nn_test = 100\n")
    code = run_study(dying_edges.main, ["--preset", str(preset), "--no-progress"],
                     parser=study_parser("dying_edges", dying_edges.__doc__))
    assert code == 0, capsys.readouterr().err
    written = sorted(str(p.relative_to(work)) for p in work.rglob("*") if p.is_file())
    assert written == ["results/tiny/dying_edges/dying_edges.jsonl", "results/tiny/dying_edges/dying_edges.png",
                       "results/tiny/dying_edges/dying_edges.svg"]
    assert json.loads((work / written[0]).read_text())["preset"] == "tiny"


def _counted_study(args):
    from sltsim.studies.cli import report, run_grid_from_args

    records = run_grid_from_args(args, grid(1), counted_cell)
    return report(args, f"{len(records)} records", [], [])


def test_the_study_flag_recompute_stale_recomputes_and_the_warning_is_one_line(tmp_path, call_log, capsys):
    preset = tmp_path / "p.toml"
    preset.write_text("")
    argv = ["--preset", str(preset), "--out", str(tmp_path / "r"), "--no-progress"]
    parser = study_parser("demo", None)
    assert run_study(_counted_study, argv, parser=parser) == 0
    _made_by_other_code(RecordStore(tmp_path / "r" / "demo.jsonl"))
    capsys.readouterr()
    assert run_study(_counted_study, argv, parser=parser) == 0 and len(calls(call_log)) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("python -m sltsim.studies.demo: warning: ")
    assert "2 by code 0123456789abcdef" in err[0] and "pass --recompute-stale" in err[0]
    assert run_study(_counted_study, [*argv, "--recompute-stale"], parser=parser) == 0
    assert len(calls(call_log)) == 4
    assert run_study(_counted_study, argv, parser=parser) == 0 and len(calls(call_log)) == 4
    assert capsys.readouterr().err.count("warning") == 1  # the --recompute-stale run's notice only
