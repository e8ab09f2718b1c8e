"""The CLI contract of --backend torch: an install hint and exit 2 without torch; the NumPy
engine and the config never import torch; torch runs through the CLI print a record."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Run the CLI in a fresh interpreter where ``import torch`` fails, as on a machine without it.
WITHOUT_TORCH = "import sys; sys.modules['torch'] = None; from sltsim.cli import main; sys.exit(main(sys.argv[1:]))"


def _cli(code: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-c", code, *args], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=120)


def test_backend_torch_without_torch_says_how_to_install_it_and_exits_2():
    done = _cli(WITHOUT_TORCH, "--backend", "torch", "--epochs", "1", "--no-progress")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install torch" in lines[0] and "backend torch needs torch" in lines[0]


def test_numpy_engine_and_torch_config_validation_never_import_torch():
    probe = ("import sys\n"
             "from sltsim.config import RunConfig\n"
             "RunConfig(backend='torch', model='resnet18', data='cifar10', data_dir='x', device='cuda:1').key()\n"
             "from sltsim.cli import main\n"
             "code = main(sys.argv[1:])\n"
             "print('torch imported:', 'torch' in sys.modules)\n"
             "sys.exit(code)")
    done = _cli(probe, "--epochs", "1", "--model", "mlp:64,16,10", "--json", "--no-progress")
    assert done.returncode == 0, done.stderr
    *_, record, imported = done.stdout.strip().splitlines()
    assert json.loads(record)["status"] == "ok" and imported == "torch imported: False"


def test_bad_devices_fail_with_one_line(capsys):
    from sltsim.cli import main

    assert main(["--backend", "torch", "--device", "tpu", "--no-progress"]) == 2
    assert "device must be cpu, cuda or cuda:N" in capsys.readouterr().err
    assert main(["--backend", "torch", "--device", "cuda", "--epochs", "1", "--no-progress"]) == 2
    assert "torch sees no CUDA device" in capsys.readouterr().err


def test_torch_cli_run_prints_a_record(capsys, tmp_path):
    from sltsim.cli import main

    code = main(["--backend", "torch", "--model", "mlp:64,16,10", "--epochs", "1", "--json", "--no-progress",
                 "--checkpoint", str(tmp_path / "c.pt")])
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and record["status"] == "ok" and record["torch"]["world_size"] == 1
    assert (tmp_path / "c.pt").exists()
    # --resume of a finished run re-trains nothing and reports the same accounting
    assert main(["--backend", "torch", "--model", "mlp:64,16,10", "--epochs", "1", "--json", "--no-progress",
                 "--checkpoint", str(tmp_path / "c.pt"), "--resume"]) == 0
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert again["cycles"] == record["cycles"] and again["test_acc"] == record["test_acc"]
    assert again["key"] == record["key"]
