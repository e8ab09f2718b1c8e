"""Checkpoints of a torch run: written after every epoch, resumed exactly.

A checkpoint is a dict of tensors and plain containers only (numbers, strings,
lists, dicts, None), saved with ``torch.save`` and read with
``torch.load(path, weights_only=True)``. It holds the network's state (theta0, scores,
batch-norm statistics), the hard-pruning search spaces, the prune rates, the SGD
state, the random streams (NumPy ``bit_generator`` states), the cycle position and
its :class:`~sltsim.search.backend.Cycle` (history included), the method's carried
state (its NumPy arrays stored as tensors) and the summaries of the finished cycles.
Because every random draw comes from those streams, a run resumed in the middle of a
cycle takes the same steps, and selects the same masks, as the uninterrupted run.
"""

from __future__ import annotations

import os
from typing import Optional

import numpy as np
import torch

from sltsim.search.backend import Cycle

from sltsim.torch_backend.checkpoint_path import check_path

FORMAT = 2  # 2: "search_space" (was "allowed"), the method state stored as tensors


def save(path: str, run, cycle: int, state: Optional[Cycle], method_state: dict, cycles: list) -> None:
    """Write the checkpoint atomically (rank 0 only; the other ranks hold the same state)."""
    if not run.is_main:
        return
    payload = {
        "format": FORMAT,
        "key": run.config.key(),
        "config": run.config.to_dict(),
        "cycle": cycle,
        "step": run.step,
        "net": {k: v.detach().cpu() for k, v in run.net.state_dict().items()},
        "prune_rates": {t.name: t.prune_rate for t in run.tensors},
        "search_space": {t.name: (t.search_space.cpu() if t.search_space is not None else None) for t in run.tensors},
        "optimizer": run.optimizer.state_dict(),
        "rngs": {name: rng.bit_generator.state for name, rng in run.rngs.items()},
        "cycle_state": _cycle_state(state) if state is not None else None,
        "method": _tensors(method_state),
        "summaries": [c.summary for c in cycles],
    }
    check_path(path)
    directory = os.path.dirname(os.path.abspath(path))
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        os.makedirs(directory, exist_ok=True)
        torch.save(payload, tmp)
        os.replace(tmp, path)
    except (OSError, RuntimeError) as e:  # torch.save reports a failed write as RuntimeError
        if os.path.exists(tmp):
            os.remove(tmp)
        raise ValueError(f"checkpoint {path} cannot be written ({_first_line(e)})") from None


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    first = text[0] if text else ""
    first = first if len(first) <= 100 else first[:97] + "..."
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


def load(path: str, run) -> Optional[dict]:
    """Read a checkpoint of this run's config; None when ``path`` does not exist."""
    check_path(path)
    if not os.path.exists(path):
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated or foreign file
        raise ValueError(f"checkpoint {path} cannot be read ({_first_line(e)}); "
                         "it is not a checkpoint that this version wrote") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"checkpoint {path} is not a format-{FORMAT} sltsim torch checkpoint")
    if payload["key"] != run.config.key():
        raise ValueError(f"checkpoint {path} belongs to run {payload['key']}, not to this run "
                         f"{run.config.key()}; use another --checkpoint path")
    return payload


def restore(run, payload: dict):
    """Put the network, search spaces, prune rates, optimiser and random streams back; return
    (method state, finished cycles, next cycle number, unfinished cycle or None) for the driver."""
    run.net.load_state_dict(payload["net"])
    for t in run.tensors:
        t.prune_rate = payload["prune_rates"][t.name]
        t.restrict(payload["search_space"][t.name])
    run.optimizer.load_state_dict(payload["optimizer"])
    for name, rng in run.rngs.items():
        rng.bit_generator.state = payload["rngs"][name]
    run.step = int(payload["step"])
    summaries = list(payload["summaries"])
    finished = [Cycle(prune_rate=c["prune_rate"], final_lr=c["final_lr"], summary=c) for c in summaries]
    unfinished = _cycle_from_state(payload["cycle_state"], run) if payload["cycle_state"] else None
    return _arrays(payload["method"]), finished, int(payload["cycle"]), unfinished


def _cycle_state(cycle: Cycle) -> dict:
    return {"prune_rate": cycle.prune_rate, "held_lr": cycle.held_lr, "epoch": cycle.epoch, "step": cycle.step,
            "final_lr": cycle.final_lr, "epochs": cycle.epochs, "ever_per_epoch": cycle.ever_per_epoch,
            "history": cycle.history.state_dict() if cycle.history is not None else None}


def _cycle_from_state(state: dict, run) -> Cycle:
    from sltsim.torch_backend.history import DeviceHistory

    history = None
    if state["history"] is not None:
        history = DeviceHistory(run.searched)
        history.load_state_dict(state["history"])
    return Cycle(state["prune_rate"], history, state["held_lr"], state["epoch"], state["step"],
                 state["final_lr"], list(state["epochs"]), list(state["ever_per_epoch"]))


def _tensors(obj):
    """The NumPy arrays inside nested lists and dicts as tensors (what ``weights_only`` loads)."""
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(obj))
    if isinstance(obj, (list, tuple)):
        return [_tensors(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _tensors(v) for k, v in obj.items()}
    return obj


def _arrays(obj):
    """The inverse of :func:`_tensors`: tensors back to NumPy arrays."""
    if isinstance(obj, torch.Tensor):
        return obj.numpy()
    if isinstance(obj, list):
        return [_arrays(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _arrays(v) for k, v in obj.items()}
    return obj
