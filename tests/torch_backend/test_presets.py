"""The paper-scale presets hold the paper's settings, expand into valid cells, and run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sltsim.torch_backend import presets

STUDIES = Path(__file__).resolve().parents[2] / "sltsim" / "presets"


def test_resnet18_cifar10_preset_is_table1_and_fig3b():
    configs = presets.cells(presets.load(str(STUDIES / "torch_resnet18_cifar10.toml")), {"data_dir": "d"})
    for c in configs:
        assert (c.backend, c.model, c.data, c.epochs, c.batch_size, c.lr, c.momentum, c.weight_decay, c.schedule) == \
            ("torch", "resnet18", "cifar10", 100, 128, 0.1, 0.9, 1e-4, "cosine")
    ep = sorted(c.prune_rate for c in configs if c.method == "ep" and c.seed == 0)
    assert [round(k, 3) for k in ep] == [0.200, 0.360, 0.488, 0.590, 0.672, 0.738, 0.790, 0.832]  # Table 1
    soft = [c for c in configs if c.method == "soft-lr"]
    assert soft and all(c.shrinkage == 0.2 and c.cycles == 8 for c in soft)
    assert abs(soft[0].final_prune_rate - ep[-1]) < 1e-12


def test_wrn50_imagenet_preset_is_fig3a():
    configs = presets.cells(presets.load(str(STUDIES / "torch_wrn50_imagenet.toml")), {"data_dir": "d"})
    for c in configs:
        assert (c.model, c.data, c.lr, c.weight_decay, c.momentum, c.warmup_epochs, c.batch_size, c.schedule) == \
            ("wide_resnet50_2", "imagenet", 0.3, 3e-5, 0.875, 5, 512, "cosine")
        assert abs(c.final_prune_rate - 0.7) < 1e-12  # 30 % remaining
    iterative = [c for c in configs if c.cycles > 1]
    assert {c.method for c in iterative} == {"hard-lr", "soft-lr"} and all(c.cycles == 3 for c in iterative)


def test_a_bad_preset_is_refused_with_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[study]\nmethods = ["ep"]\nseeds = [0]\n[config]\nlr = "fast"\n')
    with pytest.raises(ValueError, match="key 'lr'"):
        presets.cells(presets.load(str(bad)), {"data_dir": "d"})
    bad.write_text('[study]\nmethods = ["ep"]\nseeds = [0]\n[config]\ndata_dir = "x"\n')
    with pytest.raises(ValueError, match="belongs on the command line"):
        presets.load(str(bad))


def test_one_cell_runs_into_the_store_and_is_skipped_next_time(tmp_path, tmp_cifar10, capsys):
    store = tmp_path / "records.jsonl"
    argv = [str(STUDIES / "torch_resnet18_cifar10.toml"), "--data-dir", str(tmp_cifar10), "--device", "cpu",
            "--loader-workers", "0", "--store", str(store), "--cells", "0", "--set", "epochs=1",
            "--set", 'model="mlp:3072,16,10"', "--set", "batch_size=4"]
    assert presets.main(argv) == 0
    records = [json.loads(line) for line in store.read_text().splitlines()]
    assert len(records) == 1 and records[0]["status"] == "ok" and abs(records[0]["prune_rate"] - 0.2) < 1e-3
    assert presets.main(argv) == 0  # already stored: nothing runs
    assert len(store.read_text().splitlines()) == 1
    assert "cell 0 ep" in capsys.readouterr().out
