"""DistributedDataParallel under torchrun: process group, device, and the consistency check.

``python -m torch.distributed.run --nproc_per_node N -m sltsim --backend torch ...``
sets ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK`` and the rendezvous address; each rank
runs the same config. NCCL is used on CUDA devices, gloo on CPUs. Every rank draws
the same theta0, s0 and batch order from the seed; DDP averages the score gradients,
so the scores, and with them the masks and the MaskHistory, are identical on every
rank. :func:`check_consistent` verifies that at each logging point with two
all-reduces (MIN and MAX) of the history's checksums.
"""

from __future__ import annotations

import gc
import os

import torch
import torch.distributed as dist

from sltsim.torch_backend.loaders import Shard


def setup(device: str) -> tuple[Shard, torch.device, bool]:
    """(shard, device, whether this call started the process group) from torchrun's environment."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device} was asked for but torch sees no CUDA device")
    if world <= 1:
        return Shard(), dev, False
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    if dev.type == "cuda":
        torch.cuda.set_device(dev)  # before NCCL binds this process to a GPU
    started = False
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
        started = True
    return Shard(dist.get_rank(), dist.get_world_size()), dev, started


def teardown(started: bool, clean: bool = True) -> None:
    """End the process group if this run started it (:func:`finish`); ``clean`` is False on
    an error, when the other ranks may be anywhere, so no rank waits for them."""
    if started and dist.is_initialized():
        finish(barrier=clean)


def finish(barrier: bool = True) -> None:
    """Free what still holds the process group, wait for every rank, then destroy the group.

    A DDP wrapper left in a reference cycle keeps the process group alive past
    ``destroy_process_group``; freed at interpreter exit instead, its gloo threads are
    destroyed while still joinable and the process aborts ("terminate called without an
    active exception"; 2 of 15 two-rank test runs did). Collecting first frees it while the
    group is up, and the barrier keeps a rank from tearing down while another still talks
    to it (0 of 30 runs aborted).
    """
    gc.collect()
    if barrier:
        dist.barrier()
    dist.destroy_process_group()


def wrap(net: torch.nn.Module, device: torch.device, shard: Shard) -> torch.nn.Module:
    """``net`` itself on one process; a DDP wrapper of it on several."""
    if shard.world == 1:
        return net
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(net, device_ids=ids)  # buffers (batch-norm statistics) follow rank 0


def all_sum(values: torch.Tensor, shard: Shard) -> torch.Tensor:
    if shard.world > 1:
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def check_consistent(history, shard: Shard, where: str) -> int:
    """Raise RuntimeError unless every rank holds the same history; returns 1 when checked."""
    if shard.world == 1 or history is None:
        return 0
    local = history.checksums()
    low, high = local.clone(), local.clone()
    dist.all_reduce(low, op=dist.ReduceOp.MIN)
    dist.all_reduce(high, op=dist.ReduceOp.MAX)
    if not torch.equal(low, high):
        raise RuntimeError(f"ranks disagree on the mask history at {where}: "
                           f"checksums differ in {int((low != high).sum())} of {low.numel()} entries")
    return 1


def sync_buffers(net: torch.nn.Module, shard: Shard) -> None:
    """Give every rank rank 0's batch-norm statistics (before evaluation)."""
    if shard.world == 1:
        return
    for buffer in net.buffers():
        dist.broadcast(buffer, src=0)
