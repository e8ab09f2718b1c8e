"""The Python API of one run: ``run(RunConfig(...)) -> record``, and the ticket file it can save.

``run`` dispatches on ``config.backend``: the NumPy engine (the reference,
:func:`sltsim.search.run_search`) or the torch backend. It is what
``python -m sltsim`` calls. Example::

    from sltsim import RunConfig, run

    record = run(RunConfig(method="soft-lr", model="mlp:64,256,256,10", data="digits",
                           prune_rate=0.9375, cycles=4, epochs=10, seed=0),
                 save_ticket="ticket.npz")
    print(record["test_acc"], record["dying_ratio"])

A ticket file (``.npz``, read with ``np.load(path, allow_pickle=False)``) holds, for
every tensor ``NAME`` of the network (e.g. ``fc1.weight``):

- ``mask/NAME``: uint8, the final mask m (1 = edge kept); for multicoated supermasks
  the outer coat;
- ``score/NAME``: the final scores s;
- ``weight/NAME``: the weights the mask is applied to (theta0, or for IteRand theta0
  after its redraws);
- ``effective/NAME``: the weights the forward pass uses (m * theta0; for multicoated
  supermasks the coat count times theta0);
- ``config``: the run's config as a JSON string (``RunConfig.from_dict(json.loads(...))``
  rebuilds it); ``record``: the run's record as a JSON string; ``searched``: JSON list
  of the tensors that were searched (the others were kept dense).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping

import numpy as np

from sltsim.config import RunConfig


def run(config: RunConfig | Mapping, *, progress: bool = False, save_ticket: str | os.PathLike | None = None) -> dict:
    """Run one search and return its record (a plain, JSON-ready dict).

    Parameters
    ----------
    config : a :class:`~sltsim.config.RunConfig`, or a mapping of its fields (validated
        by :meth:`RunConfig.from_dict`).
    progress : show a progress bar on stderr.
    save_ticket : path of a ``.npz`` file to write the ticket found to (see the module
        docstring); written atomically once the run has finished, and not at all for a
        diverged run. Either backend.

    Returns
    -------
    dict
        The record: ``key``, ``config``, ``status`` (``ok`` or ``diverged``), ``prune_rate``
        (the final k), ``test_acc``, ``train_acc``, ``loss``, ``dying_ratio``, ``k_minus_d``,
        ``cycles`` (one summary per cycle), and with planted data the dying-edge split.
    """
    if not isinstance(config, RunConfig):
        config = RunConfig.from_dict(dict(config))
    target = None if save_ticket is None else check_ticket_path(save_ticket)
    if config.backend == "torch":
        from sltsim.torch_backend import run_search

        collect = torch_ticket_arrays
    else:
        from sltsim.search import run_search

        collect = ticket_arrays
    found = {}
    record = run_search(config, progress=progress,
                        on_finish=None if target is None else (lambda search: found.update(arrays=collect(search))))
    if target is not None and record["status"] == "ok":
        write_ticket(target, found["arrays"], config, record)
    return record


def check_ticket_path(path) -> Path:
    """``path`` as a Path, or a one-line ValueError when a ticket cannot be saved there."""
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"save_ticket must name a .npz file, got {str(path)!r}")
    if path.is_dir():
        raise ValueError(f"save_ticket {str(path)!r} is a directory; give a .npz file name")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ValueError(f"save_ticket {str(path)!r}: folder {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK):
        raise ValueError(f"save_ticket {str(path)!r}: folder {str(parent)!r} is not writable")
    return path


def ticket_arrays(search) -> dict[str, np.ndarray]:
    """Copies of the final mask, scores, weights and effective weights of every tensor."""
    arrays = {}
    for p in search.params:
        arrays[f"mask/{p.name}"] = p.mask.copy()
        arrays[f"score/{p.name}"] = p.scores.copy()
        arrays[f"weight/{p.name}"] = p.theta0.copy()
        arrays[f"effective/{p.name}"] = p.w_eff.copy()
    arrays["searched"] = np.array(json.dumps([p.name for p in search.params if p.searched]))
    return arrays


def torch_ticket_arrays(run) -> dict[str, np.ndarray]:
    """:func:`ticket_arrays` of a finished torch-backend run (the final masks from its scores)."""
    import torch

    from sltsim.torch_backend.supermask import coat_multipliers, effective_weights, select

    net = run.net
    tensors = net.tensors
    with torch.no_grad():
        masks = select(tensors, net.global_topk)
        multipliers = coat_multipliers(tensors, masks, net.coats) if net.coats else None
        effective = effective_weights(tensors, masks, multipliers)
        searched = iter(masks)
        arrays = {}
        for t in tensors:
            mask = next(searched).view(t.shape) if t.searched else torch.ones(t.shape, dtype=torch.bool)
            arrays[f"mask/{t.name}"] = mask.to(torch.uint8).cpu().numpy()
            arrays[f"score/{t.name}"] = t.scores.detach().cpu().numpy().copy()
            arrays[f"weight/{t.name}"] = t.theta0.detach().cpu().numpy().copy()
            arrays[f"effective/{t.name}"] = effective[t.name].detach().cpu().numpy().copy()
    arrays["searched"] = np.array(json.dumps([t.name for t in tensors if t.searched]))
    return arrays


def write_ticket(path: Path, arrays: dict[str, np.ndarray], config: RunConfig, record: dict) -> Path:
    """Write ``arrays`` with the config and record (JSON strings) to ``path``, atomically."""
    payload = dict(arrays)
    payload["config"] = np.array(json.dumps(config.to_dict(), sort_keys=True))
    payload["record"] = np.array(json.dumps(record, sort_keys=True, default=str))
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **payload)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
