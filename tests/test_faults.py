"""Fault injection on a real study process: kills, a read-only store, a full disk, two writers.

Each test starts ``python -c STUDY`` (a miniature study with the shared flags, whose cell
logs every call and can be held until the test releases it) and breaks something while it
runs; what must have happened before the break is waited for, never timed. The
read-only and full-disk tests mount a tmpfs; they are skipped, saying why, where
mounting is not allowed.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.studies import study_cells

REPO = Path(__file__).resolve().parents[1]

STUDY = """
import os, sys
from tests.studies import study_cells
from sltsim.studies.cli import preset_from_args, report, run_grid_from_args, run_study, study_parser

def padded_cell(config):
    record = study_cells.counted_cell(config)
    return dict(record, padding="x" * int(os.environ.get("PAD", "0")))

def main(args):
    preset = preset_from_args(args, {"seeds": int})
    if os.environ.get(study_cells.RELEASE):
        cell = study_cells.gated_cell
    else:
        cell = padded_cell if os.environ.get("PAD") else study_cells.counted_cell
    records = run_grid_from_args(args, study_cells.grid(preset["study"]["seeds"]), cell)
    return report(args, f"{len(records)} records", [], [])

sys.exit(run_study(main, sys.argv[1:], parser=study_parser("fault", "Fault study.")))
"""


def _preset(tmp_path: Path, seeds: int = 2) -> Path:
    path = tmp_path / "fault.toml"
    path.write_text(f"[study]\nseeds = {seeds}\n")
    return path


def _start(tmp_path, out, *flags, gates=None, **env):
    """Start the study; with ``gates`` (a folder) each cell waits for its release file there."""
    calls = tmp_path / "calls.log"
    environ = dict(os.environ, PYTHONPATH=str(REPO), **{study_cells.CALLS: str(calls)}, **env)
    if gates is not None:
        Path(gates).mkdir(exist_ok=True)
        environ[study_cells.RELEASE] = str(gates)
    argv = [sys.executable, "-c", STUDY, "--preset", str(_preset(tmp_path)), "--out", str(out), "--no-progress",
            *flags]
    return subprocess.Popen(argv, cwd=tmp_path, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True), calls


def _wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _read_line(stream, timeout, what) -> str:
    """The next line of a child's pipe, failing after ``timeout`` s (a blocking read alone would not)."""
    ready, _, _ = select.select([stream], [], [], timeout)
    assert ready, what
    return stream.readline()


@pytest.mark.parametrize("signum, code", [(signal.SIGKILL, -signal.SIGKILL), (signal.SIGTERM, 128 + signal.SIGTERM),
                                          (signal.SIGINT, 130)])
def test_killing_a_two_worker_study_leaves_no_process_behind(tmp_path, signum, code):
    out = tmp_path / "out"
    proc, calls = _start(tmp_path, out, "--workers", "2", gates=tmp_path / "gates")
    try:
        # both workers are inside a cell (each logs its call, then waits for a release that never comes)
        _wait_for(lambda: len(study_cells.calls(calls)) >= 2 or proc.poll() is not None, 120, "workers never started")
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        children = psutil.Process(proc.pid).children(recursive=True)
        workers = {pid for pid, _ in study_cells.calls(calls)}
        assert workers <= {c.pid for c in children} and len(workers) == 2
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code
    gone, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, f"still running 10 s after {signum.name}: {[p.pid for p in alive]}"
    if signum != signal.SIGKILL:
        word = "terminated" if signum == signal.SIGTERM else "interrupted"
        assert err.splitlines() == [f"python -m sltsim.studies.fault: {word}; the finished cells are stored "
                                    "and a rerun of the same command computes only the others"]
    assert _lines(out / "fault.jsonl") == []  # no cell finished, none half-written


def test_a_rerun_after_sigterm_computes_only_the_missing_cells(tmp_path):
    out, gates = tmp_path / "out", tmp_path / "gates"
    proc, calls = _start(tmp_path, out, gates=gates)
    try:
        _wait_for(lambda: study_cells.calls(calls) or proc.poll() is not None, 120, "no cell was started")
        first = study_cells.calls(calls)[0][1]
        study_cells.release(gates, first)  # the first cell finishes; the next one waits, never released
        _wait_for(lambda: (len(_lines(out / "fault.jsonl")) == 1 and len(study_cells.calls(calls)) == 2)
                  or proc.poll() is not None, 120, "the first cell was not stored or no second cell started")
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        proc.send_signal(signal.SIGTERM)  # inside the second cell
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143
    kept = {json.loads(line)["key"] for line in _lines(out / "fault.jsonl")}
    assert kept == {first}  # the released cell is stored, the interrupted one is not
    before = len(study_cells.calls(calls))
    again, _ = _start(tmp_path, out)
    assert again.wait(timeout=300) == 0
    rerun = [key for _, key in study_cells.calls(calls)[before:]]
    everything = {c.key() for c in study_cells.grid(2)}
    assert sorted(rerun) == sorted(everything - kept)
    assert sorted(json.loads(line)["key"] for line in _lines(out / "fault.jsonl")) == sorted(everything)


def test_two_studies_on_one_store_never_compute_a_cell_twice(tmp_path):
    out, gates = tmp_path / "out", tmp_path / "gates"
    first, calls = _start(tmp_path, out, gates=gates)
    second = None
    try:
        _wait_for(lambda: study_cells.calls(calls) or first.poll() is not None, 120,
                  "the first study never started a cell")
        assert first.poll() is None, first.communicate()[1][-2000:]
        # the first study is held inside its first cell, so the second finds the store locked
        second, _ = _start(tmp_path, out, gates=gates)
        said = _read_line(second.stderr, 120, "the second study said nothing within 120 s")
        assert "another run holds this store; waiting for it to finish" in said, said
        for config in study_cells.grid(2):
            study_cells.release(gates, config.key())
        assert first.wait(timeout=300) == 0 and second.wait(timeout=300) == 0
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
    keys = [key for _, key in study_cells.calls(calls)]
    assert sorted(keys) == sorted(c.key() for c in study_cells.grid(2))  # each cell once, by either run
    stored = [json.loads(line)["key"] for line in _lines(out / "fault.jsonl")]
    assert sorted(stored) == sorted(keys)
    assert second.stderr.read() == ""  # the waiting line was all it said


@pytest.fixture
def tmpfs(tmp_path):
    """mount(size, ro=False) -> a fresh tmpfs folder; unmounted afterwards. Skips where mounting is refused."""
    mounted = []

    def mount(size: str, ro: bool = False) -> Path:
        point = tmp_path / f"mnt{len(mounted)}"
        point.mkdir()
        options = f"size={size}" + (",ro" if ro else "")
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True,
                              text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in reversed(mounted):
        subprocess.run(["umount", str(point)], capture_output=True)


def test_a_read_only_out_is_refused_before_any_cell(tmp_path, tmpfs):
    point = tmpfs("1m", ro=True)
    proc, calls = _start(tmp_path, point / "study")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert err.splitlines() == [f"python -m sltsim.studies.fault: error: --out {point / 'study'} cannot be "
                                "created: Read-only file system"]
    assert study_cells.calls(calls) == []


def test_a_store_that_became_read_only_is_refused_before_any_cell(tmp_path, tmpfs):
    point = tmpfs("1m")
    proc, calls = _start(tmp_path, point, "--seeds", "1")
    assert proc.wait(timeout=300) == 0
    assert subprocess.run(["mount", "-o", "remount,ro", str(point)]).returncode == 0
    before = len(study_cells.calls(calls))
    proc, _ = _start(tmp_path, point)  # two seeds now: two cells to compute
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and err.splitlines() == [
        f"python -m sltsim.studies.fault: error: --out {point} is not writable"]
    assert len(study_cells.calls(calls)) == before


def test_a_full_disk_keeps_every_finished_record_and_a_rerun_completes(tmp_path, tmpfs):
    point = tmpfs("48k")  # room for two 20 kB records, not three
    proc, calls = _start(tmp_path, point, PAD="20000")
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 1
    assert len(err.splitlines()) == 1 and "No space left on device" in err and "Traceback" not in err
    assert "a rerun of the same command computes only the others" in err
    from sltsim.studies.store import RecordStore

    store = RecordStore(point / "fault.jsonl")
    assert (point / "fault.jsonl").read_bytes().endswith(b"}\n")  # the failed write was taken back
    kept = store.records()
    assert len(kept) == 2 and all(r["status"] == "ok" and len(r["padding"]) == 20000 for r in kept)
    assert subprocess.run(["mount", "-o", "remount,size=1m", str(point)]).returncode == 0
    before = len(study_cells.calls(calls))
    again, _ = _start(tmp_path, point, PAD="20000")
    _, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert len(study_cells.calls(calls)) - before == 2
    assert sorted(r["key"] for r in store.records()) == sorted(c.key() for c in study_cells.grid(2))
