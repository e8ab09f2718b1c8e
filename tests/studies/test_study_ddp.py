"""A torch study under torchrun: two real gloo ranks on the CPU run every cell together (DDP), and
rank 0 alone keeps the store, prints and draws.

The records equal a single-process run of the same cells, as the backend's DDP test asserts for
one run (tests/torch_backend/test_ddp.py): the same masks, dying ratios and accuracies, losses
within 1e-6 (the global batch is split over the ranks and the gradients averaged, which may move
a loss in its last bits), and ``torch.world_size`` 2 instead of 1.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

from sltsim.studies import hyperparams  # noqa: E402
from sltsim.studies.store import RecordStore, strip_timing  # noqa: E402

WORKER = Path(__file__).with_name("ddp_study_worker.py")
REPO = Path(__file__).resolve().parents[2]

PRESET = """
[study]
lrs = [0.1, 0.3]
batch_sizes = [128]
weight_decays = [5e-4, 1e-3]
seeds = 1

[study.datasets.digits]
model = "mlp:64,32,10"

[config]
{backend}
method = "ep"
prune_rate = 0.6
epochs = 2
batch_size = 128
lr = 0.1
momentum = 0.9
weight_decay = 5e-4
dtype = "float64"
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _preset(tmp_path: Path, backend_line: str = 'backend = "torch"', model: str = "mlp:64,32,10") -> Path:
    path = tmp_path / "hyperparams.ddp.toml"
    path.write_text(PRESET.format(backend=backend_line).replace("mlp:64,32,10", model))
    return path


def _torchrun(tmp_path: Path, logs: str, *argv: str, study: str = "hyperparams", rank1: str = "") -> list[dict]:
    """``python -m sltsim.studies STUDY ARGV`` on 2 gloo ranks in ``tmp_path`` (rank 1 with the extra
    flags ``rank1``); each rank's log (see the worker, which watches ``tmp_path/out``)."""
    log_dir = tmp_path / logs
    log_dir.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo", "MPLBACKEND": "Agg",
           "SLTSIM_TEST_RANK1_ARGS": rank1,
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), str(WORKER), str(log_dir),
           str(tmp_path / "out"), study, "--no-progress", *argv]
    done = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    logs = [log_dir / f"rank{r}.json" for r in (0, 1)]
    assert all(p.is_file() for p in logs), done.stderr[-3000:]
    return [json.loads(p.read_text()) for p in logs]


def _comparable(record: dict) -> dict:
    record = strip_timing(dict(record))
    record.pop("torch")
    return record


def test_two_ranks_run_each_cell_once_into_rank_0s_store_with_the_single_process_records(tmp_path, capsys):
    preset = _preset(tmp_path)
    out = tmp_path / "out"
    rank0, rank1 = _torchrun(tmp_path, "first", "--preset", str(preset), "--out", str(out))
    assert rank0["code"] == rank1["code"] == 0, (rank0["stderr"], rank1["stderr"])
    assert rank0["world"] == rank1["world"] == 2

    records = RecordStore(out / "hyperparams.jsonl").records()
    keys = [r["key"] for r in records]
    assert len(keys) == len(set(keys)) == 3  # lr 0.3, weight decay 1e-3, and the base point once
    assert rank0["cells"] == rank1["cells"] == keys  # the same cells, in the same order, on both ranks
    assert all(r["status"] == "ok" and r["torch"]["world_size"] == 2 and r["preset"] == "ddp" for r in records)

    # rank 0 alone touched the outputs: the store, its lock, the figures; rank 1 not even read them
    assert rank1["touched"] == [], rank1["touched"]
    assert any(call == "os.open" and path.endswith("hyperparams.jsonl") for call, path in rank0["touched"])
    assert any(path.endswith(".png") for _, path in rank0["touched"])
    assert "test_acc" in rank0["stdout"] and rank1["stdout"] == "" and rank1["stderr"] == ""

    # one process, the same cells: the same records but for the world size (and losses' last bits)
    single = tmp_path / "single"
    capsys.readouterr()
    assert hyperparams.STUDY.cli(["--preset", str(preset), "--out", str(single), "--no-progress"]) == 0
    assert rank0["stdout"].replace(str(out), str(single)) == capsys.readouterr().out  # the same tables
    alone = {r["key"]: r for r in RecordStore(single / "hyperparams.jsonl").records()}
    assert sorted(alone) == sorted(keys)
    for record in records:
        a, b = _comparable(alone[record["key"]]), _comparable(record)
        assert alone[record["key"]]["torch"]["world_size"] == 1
        assert abs(a.pop("loss") - b.pop("loss")) < 1e-6 and abs(a.pop("test_loss") - b.pop("test_loss")) < 1e-6
        for cycle_a, cycle_b in zip(a["cycles"], b["cycles"]):
            for row_a, row_b in zip(cycle_a.pop("epochs"), cycle_b.pop("epochs")):
                assert abs(row_a.pop("loss") - row_b.pop("loss")) < 1e-6
                assert row_a == row_b
            for name in ("loss", "test_loss"):
                if name in cycle_a:
                    assert abs(cycle_a.pop(name) - cycle_b.pop(name)) < 1e-6
        assert a["dying_ratio"] == b["dying_ratio"] and a["per_layer"] == b["per_layer"]
        assert a == b

    # the rerun finds every cell stored: no rank computes anything, rank 1 still touches nothing
    before = (out / "hyperparams.jsonl").read_bytes()
    rank0, rank1 = _torchrun(tmp_path, "again", "--preset", str(preset), "--out", str(out))
    assert rank0["code"] == rank1["code"] == 0, (rank0["stderr"], rank1["stderr"])
    assert rank0["cells"] == rank1["cells"] == []
    assert (out / "hyperparams.jsonl").read_bytes() == before
    assert rank1["touched"] == [] and rank1["stdout"] == ""


def test_an_error_of_rank_0_stops_both_ranks_with_one_line(tmp_path):
    (tmp_path / "out").write_text("a file where --out wants a folder")
    rank0, rank1 = _torchrun(tmp_path, "bad", "--preset", str(_preset(tmp_path)), "--out", str(tmp_path / "out"))
    assert rank0["code"] == rank1["code"] == 2
    assert len(rank0["stderr"].strip().splitlines()) == 1 and "--out" in rank0["stderr"], rank0["stderr"]
    assert rank1["stderr"] == "" and rank0["cells"] == rank1["cells"] == []


def test_ranks_that_built_different_grids_are_stopped_before_any_cell(tmp_path):
    # rank 1 asks for two seeds, rank 0 for one: their grids differ, so neither may start a cell
    rank0, rank1 = _torchrun(tmp_path, "differ", "--preset", str(_preset(tmp_path)), "--out", str(tmp_path / "out"),
                             rank1="--seeds 2")
    assert rank0["code"] == rank1["code"] == 2
    assert len(rank0["stderr"].strip().splitlines()) == 1 and "rank 1 built another grid" in rank0["stderr"]
    assert rank1["stderr"] == "" and rank0["cells"] == rank1["cells"] == []
    assert not (tmp_path / "out" / "hyperparams.jsonl").exists()


def test_a_bad_torchrun_environment_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WORLD_SIZE", "two")
    code = hyperparams.STUDY.cli(["--preset", str(_preset(tmp_path)), "--out", str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "WORLD_SIZE" in err and "'two'" in err, err


def test_a_failed_cell_is_stored_once_and_stops_the_grid_on_every_rank(tmp_path):
    # every cell fails on both ranks (the model's input width is not the data's): the ranks stop at
    # the first rather than go on while another rank might still be inside it
    out = tmp_path / "out"
    rank0, rank1 = _torchrun(tmp_path, "failing", "--preset", str(_preset(tmp_path, model="mlp:60,32,10")),
                             "--out", str(out))
    assert rank0["code"] == rank1["code"] == 1
    records = RecordStore(out / "hyperparams.jsonl").records()
    assert len(records) == 1 and records[0]["status"] == "failed" and "input width" in records[0]["reason"]
    assert rank0["cells"] == rank1["cells"] == [records[0]["key"]]
    assert "stops at a failed cell" in rank0["stderr"] and len(rank0["stderr"].strip().splitlines()) == 1
    assert rank1["touched"] == []


@pytest.mark.parametrize("flags, backend_line, field", [
    (["--workers", "2"], 'backend = "torch"', "--workers 2"),
    (["--scheduler", "tcp://127.0.0.1:8786"], 'backend = "torch"', "--scheduler"),
    ([], "", "backend numpy"),
], ids=["workers", "scheduler", "engine-cells"])
@pytest.mark.parametrize("rank", [0, 1])
def test_what_cannot_run_as_one_ddp_grid_is_refused_before_any_rank_starts(tmp_path, monkeypatch, capsys, flags,
                                                                           backend_line, field, rank):
    # the refusal comes before the process group, so the environment of one rank is enough here
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", str(rank))
    monkeypatch.setenv("LOCAL_RANK", str(rank))
    out = tmp_path / "out"
    code = hyperparams.STUDY.cli(["--preset", str(_preset(tmp_path, backend_line)), "--out", str(out),
                                  "--no-progress", *flags])
    err = capsys.readouterr().err.strip()
    assert code == 2 and not out.exists()
    if rank == 0:
        assert len(err.splitlines()) == 1 and field in err and "torchrun" in err, err
    else:
        assert err == ""  # rank 0 says it, once


def test_a_store_held_by_another_run_is_refused_rather_than_waited_for(tmp_path):
    from sltsim.studies.lock import grid_lock

    store = tmp_path / "out" / "s.jsonl"
    with grid_lock(store):
        with pytest.raises(ValueError, match="another run holds this store"):
            with grid_lock(store, wait=False):
                pass
    with grid_lock(store, wait=False):  # free again
        pass


def test_a_tiny_copy_of_the_imagenet_preset_runs_under_torchrun_into_the_figures_folder(tmp_path):
    # the command of iterative.torch_wrn50_imagenet.toml, with a model, data and epochs a CPU runs in seconds
    from sltsim.figures import load_records
    from sltsim.studies.presets import presets_dir
    from tests.torch_backend.fake_data import write_image_folder

    data = write_image_folder(tmp_path / "imagenet")
    text = (presets_dir() / "iterative.torch_wrn50_imagenet.toml").read_text()
    for old, new in (('model = "wide_resnet50_2"', 'model = "mlp:150528,8,2"'), ("epochs = 100", "epochs = 1"),
                     ("batch_size = 512", "batch_size = 2"), ("warmup_epochs = 5", "warmup_epochs = 0"),
                     ('"ep", "hard-lr", "soft-lr"', '"ep", "soft-lr"')):
        assert old in text, old
        text = text.replace(old, new)
    (tmp_path / "iterative.tiny_wrn.toml").write_text(text)
    rank0, rank1 = _torchrun(tmp_path, "tiny", "--preset", "iterative.tiny_wrn.toml", "--data-dir", str(data),
                             "--device", "cpu", "--loader-workers", "0", study="iterative")
    assert rank0["code"] == rank1["code"] == 0, (rank0["stderr"][-2000:], rank1["stderr"][-2000:])
    records = load_records(tmp_path / "results" / "tiny_wrn", "iterative")
    # EP once, at the last cycle's target (ep_cycles = [3]), and one soft-lr run of 3 cycles
    assert sorted((r["config"]["method"], r["config"]["cycles"]) for r in records) == [("ep", 1), ("soft-lr", 3)]
    assert all(r["status"] == "ok" and r["config"]["data"] == "imagenet" and r["torch"]["world_size"] == 2
               for r in records)
    ep = next(r for r in records if r["config"]["method"] == "ep")
    assert abs(ep["prune_rate"] - 0.7) < 1e-12 and "soft iEP" in rank0["stdout"] and rank1["stdout"] == ""
