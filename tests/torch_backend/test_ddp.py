"""DistributedDataParallel with 2 CPU processes (gloo on 127.0.0.1), launched by torchrun."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.torch_backend.ddp_worker import CONFIGS

WORKER = Path(__file__).with_name("ddp_worker.py")
REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _timeless(cycles: list) -> list:
    return [{**c, "epochs": [{k: v for k, v in row.items() if k != "seconds"} for row in c["epochs"]]}
            for c in cycles]


def _torchrun(out_dir: Path, cifar_dir: Path) -> list[dict]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), str(WORKER), str(out_dir), str(cifar_dir)]
    done = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads((out_dir / f"rank{r}.json").read_text()) for r in (0, 1)]


def test_two_gloo_ranks_agree_on_masks_and_history_and_disagreement_is_caught(tmp_path, tmp_cifar10):
    rank0, rank1 = _torchrun(tmp_path, tmp_cifar10)

    a0, a1 = rank0["agree"], rank1["agree"]
    assert a0["world"] == a1["world"] == 2 and "error" not in a0 and "error" not in a1
    assert a0["steps"] == a1["steps"] and len(a0["steps"]) == 2 * 2 * 12  # cycles x epochs x steps
    assert a0["ever_sha1"] == a1["ever_sha1"] and len(a0["ever_sha1"]) == 2
    assert a0["scores_sha1"] == a1["scores_sha1"]
    assert a0["checks"] == a1["checks"] == 4  # one all-reduce check per epoch end
    r0, r1 = a0["record"], a1["record"]
    assert _timeless(r0["cycles"]) == _timeless(r1["cycles"]) and r0["test_acc"] == r1["test_acc"]

    # the global batch is split across ranks and the gradients averaged: the search one process makes
    from sltsim.torch_backend import run_search

    single = run_search(CONFIGS["agree"])
    assert single["dying_ratio"] == r0["dying_ratio"] and single["per_layer"] == r0["per_layer"]
    assert abs(single["test_loss"] - r0["test_loss"]) < 1e-6

    i0, i1 = rank0["images"], rank1["images"]  # the DataLoader path, each rank 2 of every 4 images
    assert "error" not in i0 and i0["steps"] == i1["steps"] and len(i0["steps"]) == 2 * 2
    assert i0["ever_sha1"] == i1["ever_sha1"] and i0["scores_sha1"] == i1["scores_sha1"]
    single = run_search(CONFIGS["images"].replace(data_dir=str(tmp_cifar10)))
    assert single["per_layer"] == i0["record"]["per_layer"]
    assert abs(single["loss"] - i0["record"]["loss"]) < 1e-6 and single["test_acc"] == i0["record"]["test_acc"]

    for r in (rank0["perturbed"], rank1["perturbed"]):
        assert "ranks disagree on the mask history at epoch 1" in r["error"]
        assert len(r["steps"]) == 12  # one epoch, then stopped
