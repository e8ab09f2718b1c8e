"""A study runs on the backend its preset names: ``backend = "torch"`` runs every cell on torch.

In float64 the torch backend gives the engine's record (tests/torch_backend/test_methods.py),
so the same tiny study run on both backends must store the same records, but for the
config's ``backend`` (and so the key) and the torch block; the execution flags reach every
cell and leave the keys alone.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from sltsim.studies import hyperparams  # noqa: E402
from sltsim.studies.store import RecordStore, strip_timing  # noqa: E402

PRESET = """
[study]
lrs = [0.1, 0.3]
batch_sizes = [128]
weight_decays = [5e-4]
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


def _run(tmp_path, name, backend_line, *flags):
    preset = tmp_path / f"{name}.toml"
    preset.write_text(PRESET.format(backend=backend_line))
    out = tmp_path / name
    code = hyperparams.STUDY.cli(["--preset", str(preset), "--out", str(out), "--no-progress", *flags])
    return code, out / "hyperparams.jsonl"


def _comparable(record):
    record = strip_timing(dict(record))
    for field in ("key", "provenance", "preset", "torch"):
        record.pop(field, None)
    record["config"] = {k: v for k, v in record["config"].items() if k != "backend"}
    return record


def test_a_torch_preset_runs_every_cell_on_torch_with_the_engine_records(tmp_path):
    code, engine_store = _run(tmp_path, "engine", "")
    assert code == 0
    code, torch_store = _run(tmp_path, "torch", 'backend = "torch"', "--device", "cpu")
    assert code == 0
    engine, mirror = RecordStore(engine_store).records(), RecordStore(torch_store).records()
    assert len(engine) == len(mirror) == 2  # two learning rates; the base point runs once
    for e, t in zip(engine, mirror):
        assert e["config"].get("backend", "numpy") == "numpy" and "torch" not in e
        assert t["config"]["backend"] == "torch" and t["torch"]["world_size"] == 1
        assert t["status"] == e["status"] == "ok"
    by_lr = lambda records: {r["config"]["lr"]: _comparable(r) for r in records}  # noqa: E731
    engine_by_lr, torch_by_lr = by_lr(engine), by_lr(mirror)
    assert engine_by_lr.keys() == torch_by_lr.keys() == {0.1, 0.3}
    for lr in engine_by_lr:
        e, t = engine_by_lr[lr], torch_by_lr[lr]
        assert e["dying_ratio"] == t["dying_ratio"] and e["k_minus_d"] == t["k_minus_d"], lr
        assert e["test_acc"] == t["test_acc"] and e["train_acc"] == t["train_acc"], lr
        assert abs(e["loss"] - t["loss"]) < 1e-6, lr
    assert engine_by_lr[0.1]["dying_ratio"] != engine_by_lr[0.3]["dying_ratio"]  # the cells differ


def test_execution_flags_reach_every_cell_and_leave_the_keys(tmp_path):
    code, plain = _run(tmp_path, "plain", 'backend = "torch"')
    assert code == 0
    code, flagged = _run(tmp_path, "flagged", 'backend = "torch"', "--device", "cpu", "--data-dir",
                         str(tmp_path), "--loader-workers", "1", "--checkpoint-dir", str(tmp_path / "ckpt"))
    assert code == 0
    a, b = RecordStore(plain).records(), RecordStore(flagged).records()
    assert [r["key"] for r in a] == [r["key"] for r in b]
    for record in b:
        assert record["config"]["data_dir"] == str(tmp_path)
        assert record["config"]["loader_workers"] == 1
        assert record["config"]["checkpoint"] == str(tmp_path / "ckpt" / f"{record['key']}.pt")
        assert (tmp_path / "ckpt" / f"{record['key']}.pt").is_file()


@pytest.mark.parametrize("backend_line, flags, field", [
    ('backend = "torch"\ndata = "planted"', [], "data"),
    ("", ["--device", "cuda"], "device"),
    ("", ["--data-dir", "{tmp}"], "data_dir"),
    ('backend = "torch"', ["--data-dir", "{tmp}/nowhere"], "--data-dir"),
], ids=["planted-on-torch", "device-on-engine", "data-dir-on-engine", "missing-data-dir"])
def test_cells_a_backend_cannot_run_are_refused_in_one_line(tmp_path, capsys, backend_line, flags, field):
    code, store = _run(tmp_path, "bad", backend_line, *[f.format(tmp=tmp_path) for f in flags])
    err = capsys.readouterr().err.strip()
    assert code == 2 and not store.exists()
    assert len(err.splitlines()) == 1 and field in err, err


# -- the paper-scale torch presets as ordinary study presets -----------------------------------
def _study_cells(name: str) -> list:
    from sltsim.studies import iterative
    from sltsim.studies.presets import load_preset

    preset = load_preset("iterative", name, iterative.STUDY_KEYS)
    preset["config"]["data_dir"] = "d"  # what --data-dir gives the grid
    return iterative.STUDY.grid(preset)


def _rounded(configs) -> list[str]:
    out = []
    for c in configs:
        values = {k: round(v, 12) if isinstance(v, float) else v for k, v in c.to_dict().items()}
        out.append(json.dumps(values, sort_keys=True))
    return sorted(out)


def test_the_resnet18_study_preset_is_table1_and_fig3b():
    from sltsim.config import RunConfig

    study = _study_cells("torch_resnet18_cifar10")
    # Sec. 3 and 4.2 of the paper, written out: 3 seeds x (EP at k = 1 - 0.8^i, i = 1..8, and
    # five iterative methods shrinking by p = 0.2 for 8 cycles)
    shared = dict(backend="torch", model="resnet18", data="cifar10", data_dir="d", epochs=100, batch_size=128,
                  lr=0.1, momentum=0.9, weight_decay=1e-4, schedule="cosine", weight_init="signed_kaiming_constant",
                  score_init="kaiming_uniform", device="cuda", loader_workers=8)
    expected = [RunConfig(**shared, method="ep", prune_rate=1 - 0.8 ** i, seed=seed)
                for seed in range(3) for i in range(1, 9)]
    expected += [RunConfig(**shared, method=m, cycles=8, shrinkage=0.2, seed=seed)
                 for seed in range(3) for m in ("hard-ft", "hard-lr", "hard-srw", "hard-sri", "soft-lr")]
    assert len(study) == 39 and _rounded(study) == _rounded(expected)
    ep = sorted(c.prune_rate for c in study if c.method == "ep" and c.seed == 0)
    assert [round(k, 3) for k in ep] == [0.200, 0.360, 0.488, 0.590, 0.672, 0.738, 0.790, 0.832]  # Table 1
    # the iterative cells keep the keys the former preset runner gave them (its EP cells were
    # written as rounded decimals, so their keys differ in the last bits of prune_rate)
    keys = {c.key() for c in study if c.method != "ep"}
    assert {"af0124bbc8547346", "b92f2a6ab06660b6", "c54e8ab539549d91", "ea098b41b04fc1cd",
            "ff0e95d5ff8df7d9"} <= keys


def test_the_imagenet_study_preset_is_fig3a_with_the_keys_it_had():
    study = _study_cells("torch_wrn50_imagenet")
    for c in study:
        assert (c.backend, c.model, c.data, c.lr, c.weight_decay, c.momentum, c.warmup_epochs, c.batch_size,
                c.schedule, c.epochs) == ("torch", "wide_resnet50_2", "imagenet", 0.3, 3e-5, 0.875, 5, 512,
                                          "cosine", 100)
        assert c.weight_init == "signed_kaiming_constant" and c.seed == 0
        assert abs(c.final_prune_rate - 0.7) < 1e-12  # 30 % remaining
    cells = sorted((c.method, c.cycles, c.key()) for c in study)
    # EP once at 30 % remaining, hard and soft iEP (LR) in 3 cycles; the keys of the former
    # `torch_wrn50_imagenet.toml` preset runner, so its records stay valid
    assert cells == [("ep", 1, "2289f25d1fe5a0e4"), ("hard-lr", 3, "c84b615cbebf73fd"),
                     ("soft-lr", 3, "8c5908c49d2c02ff")]


def test_a_tiny_copy_of_the_resnet18_study_preset_runs_on_torch_into_the_figures_folder(
        tmp_path, monkeypatch):
    from sltsim.figures import load_records
    from sltsim.studies import iterative
    from sltsim.studies.presets import presets_dir
    from tests.torch_backend.fake_data import write_cifar10

    tmp_cifar10 = write_cifar10(tmp_path / "data", n_train=8, n_test=4)

    text = (presets_dir() / "iterative.torch_resnet18_cifar10.toml").read_text()
    for old, new in (('model = "resnet18"', 'model = "mlp:3072,16,10"'), ("epochs = 100", "epochs = 1"),
                     ("cycles = 8", "cycles = 2"), ("batch_size = 128", "batch_size = 4"), ("seeds = 3", "seeds = 1"),
                     ('"ep", "hard-ft", "hard-lr", "hard-srw", "hard-sri", "soft-lr"', '"ep", "soft-lr"')):
        assert old in text, old
        text = text.replace(old, new)
    preset = tmp_path / "iterative.tiny_r18.toml"
    preset.write_text(text)
    monkeypatch.chdir(tmp_path)
    code = iterative.STUDY.cli(["--preset", str(preset), "--data-dir", str(tmp_cifar10), "--device", "cpu",
                                "--loader-workers", "0", "--no-progress"])
    assert code == 0
    records = load_records(tmp_path / "results" / "tiny_r18", "iterative")
    assert len(records) == 3  # EP at k_1 and k_2, one soft-lr run of 2 cycles
    assert all(r["status"] == "ok" and r["config"]["backend"] == "torch" and r["config"]["data"] == "cifar10"
               for r in records)
    assert sorted(r["config"]["method"] for r in records) == ["ep", "ep", "soft-lr"]


def test_a_cuda_preset_on_a_machine_without_cuda_is_refused_before_any_cell(tmp_path, capsys):
    import torch

    from sltsim.studies import iterative
    from tests.torch_backend.fake_data import write_cifar10

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    data = write_cifar10(tmp_path / "data", n_train=8, n_test=4)
    code = iterative.STUDY.cli(["--preset", "torch_resnet18_cifar10", "--data-dir", str(data),
                                "--out", str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "device cuda" in err, err
    assert not (tmp_path / "out" / "iterative.jsonl").exists()


def test_cuda_cells_sent_to_a_dask_cluster_are_not_checked_against_this_machine():
    # the workers of --scheduler run the cells; a submitting machine without CUDA must not refuse them
    import argparse

    import torch

    from sltsim.config import RunConfig
    from sltsim.studies.cli import with_execution

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    cells = [RunConfig(backend="torch", device="cuda", model="mlp:64,16,10")]
    local = argparse.Namespace(scheduler=None)
    with pytest.raises(ValueError, match="torch sees no CUDA device"):
        with_execution(local, cells)
    remote = argparse.Namespace(scheduler="tcp://10.0.0.2:8786")
    assert with_execution(remote, cells) == cells
    flagged = argparse.Namespace(scheduler="tcp://10.0.0.2:8786", device="cuda:1")
    assert [c.device for c in with_execution(flagged, [cells[0].replace(device="cpu")])] == ["cuda:1"]
