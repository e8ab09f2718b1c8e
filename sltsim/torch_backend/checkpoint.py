"""Checkpoints of a torch run: written after every epoch, resumed exactly.

A checkpoint is a dict of tensors and plain containers only (numbers, strings,
lists, dicts, None), saved with ``torch.save`` and read with
``torch.load(path, weights_only=True)``. It holds the network's state (theta0, scores,
batch-norm statistics), the hard-pruning search spaces, the prune rates, the SGD
state, the random streams (NumPy ``bit_generator`` states), the cycle position and
its :class:`~sltsim.torch_backend.cycle.CycleState` (history included), the method's
carried state and the summaries of the finished cycles. Because every random draw
comes from those streams, a run resumed in the middle of a cycle takes the same
steps, and selects the same masks, as the uninterrupted run.
"""

from __future__ import annotations

import os
from typing import Optional

import torch

from sltsim.torch_backend.checkpoint_path import check_path

FORMAT = 1


def save(path: str, run, cycle: int, state, method_state: dict, summaries: list) -> None:
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
        "prune_rates": {t.name: t.prune_rate for t in run.masked},
        "allowed": {t.name: (t.allowed.cpu() if t.allowed is not None else None) for t in run.masked},
        "optimizer": run.optimizer.state_dict(),
        "rngs": {name: rng.bit_generator.state for name, rng in run.rngs.items()},
        "cycle_state": state.state_dict() if state is not None else None,
        "method": method_state,
        "summaries": summaries,
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


def restore(run, payload: dict) -> None:
    """Put the network, search spaces, prune rates, optimiser and random streams back."""
    run.net.load_state_dict(payload["net"])
    for t in run.masked:
        t.prune_rate = payload["prune_rates"][t.name]
        t.restrict(payload["allowed"][t.name])
    run.optimizer.load_state_dict(payload["optimizer"])
    for name, rng in run.rngs.items():
        rng.bit_generator.state = payload["rngs"][name]
    run.step = int(payload["step"])
