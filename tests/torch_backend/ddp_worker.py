"""One rank of the DDP test: run configs under torchrun and write what this rank saw.

Usage: python -m torch.distributed.run --nproc_per_node 2 ... ddp_worker.py OUT_DIR CIFAR_DIR

Three runs share one process group: ``soft-lr`` (two cycles) on digits; ``ep`` on a
CIFAR-format directory through the DataLoader path (augmentation, sharded batches);
then ``ep`` with rank 1's scores changed after DDP synchronised them, so the ranks'
masks disagree and the consistency check must stop that run at its first logging point.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys

import torch

from sltsim.config import RunConfig
from sltsim.registry import METHODS
from sltsim.search.driver import run_method, summarise
from sltsim.torch_backend import distributed
from sltsim.torch_backend.build import build_run
from sltsim.torch_backend.history import DeviceHistory

CONFIGS = {
    "agree": RunConfig(backend="torch", method="soft-lr", model="mlp:64,32,10", dtype="float64", epochs=2,
                       batch_size=128, cycles=2, shrinkage=0.4),
    "images": RunConfig(backend="torch", method="ep", model="mlp:3072,16,10", data="cifar10", data_dir="set by main",
                        dtype="float64", epochs=2, batch_size=4),
    "perturbed": RunConfig(backend="torch", method="ep", model="mlp:64,32,10", dtype="float64", epochs=2,
                           batch_size=128, prune_rate=0.6),
}


def observe(name: str, config: RunConfig) -> dict:
    steps, histories, checks = [], [], [0]
    update, check = DeviceHistory.update, distributed.check_consistent

    def logged_update(self, masks):
        steps.append(hashlib.sha1(b"".join(m.numpy().tobytes() for m in masks)).hexdigest())
        if not histories or histories[-1] is not self:
            histories.append(self)
        return update(self, masks)

    def counted_check(*args):
        checks[0] += check(*args)

    DeviceHistory.update, distributed.check_consistent = logged_update, counted_check
    run = build_run(config)
    out = {"rank": run.shard.rank, "world": run.shard.world}
    try:
        if name == "perturbed" and run.shard.rank == 1:
            with torch.no_grad():
                run.searched[0].scores.mul_(-2.0).add_(0.01)
        try:
            out["record"] = summarise(run, run_method(run, METHODS[config.method]))
        except RuntimeError as e:
            out["error"] = str(e)
        out["steps"], out["checks"] = steps, checks[0]
        out["ever_sha1"] = [hashlib.sha1(b"".join(e.numpy().tobytes() for e in h.ever)).hexdigest()
                            for h in histories]
        out["scores_sha1"] = hashlib.sha1(b"".join(t.scores.detach().numpy().tobytes()
                                                   for t in run.searched)).hexdigest()
    finally:
        DeviceHistory.update, distributed.check_consistent = update, check
        run.close()
    return out


def main(out_dir: str, cifar_dir: str) -> None:
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo")  # the runs join it rather than start their own
    configs = {**CONFIGS, "images": CONFIGS["images"].replace(data_dir=cifar_dir)}
    outs = {name: observe(name, config) for name, config in configs.items()}
    rank = torch.distributed.get_rank()
    distributed.finish()
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
        json.dump(outs, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
