"""``run_search(config) -> record`` on the torch backend, with checkpoints and resumption.

The entry point of ``--backend torch``: build the run (:mod:`.build`), drive the
method's cycles (:func:`run_method`), and summarise (:mod:`.record`) into the
engine's record format. With ``--checkpoint PATH`` a checkpoint is written after
every epoch and at every cycle end; with ``--resume`` as well, the run continues
from that file when it exists.
"""

from __future__ import annotations

from sltsim.errors import Diverged
from sltsim.torch_backend import checkpoint, methods
from sltsim.torch_backend.build import build_run
from sltsim.torch_backend.cycle import CycleState, new_cycle, run_cycle
from sltsim.torch_backend.record import cycle_summary, summarise
from sltsim.torch_backend.supermask import select


def _to_device(obj, device):
    """Tensors inside nested lists/dicts moved to ``device`` (for a method state read from disk)."""
    if hasattr(obj, "to") and hasattr(obj, "dtype"):
        return obj.to(device)
    if isinstance(obj, list):
        return [_to_device(v, device) for v in obj]
    if isinstance(obj, dict):
        return {k: _to_device(v, device) for k, v in obj.items()}
    return obj


def set_prune_rate(run, prune_rate: float) -> None:
    for t in run.searched:
        t.prune_rate = prune_rate


def run_method(run, method, progress: bool = False, stop_after_epochs: int | None = None) -> list[dict]:
    """Run (or resume) every cycle of ``method``; one summary dict per cycle.

    ``stop_after_epochs`` stops the run after that many epochs have been trained in
    this call (to simulate an interruption in tests); the summaries are then partial.
    """
    config = run.config
    rates = method.prune_rates(config)
    method.prepare(run)
    payload = checkpoint.load(config.checkpoint, run) if config.resume else None
    if payload is not None:
        checkpoint.restore(run, payload)
        state = _to_device(payload["method"], run.device)
        summaries, first = list(payload["summaries"]), int(payload["cycle"])
        cycle_state = CycleState.from_state(payload["cycle_state"], run) if payload["cycle_state"] else None
    else:
        state, summaries, first, cycle_state = method.initial_state(run), [], 1, None
    trained = [0]
    for i in range(first, len(rates) + 1):
        if cycle_state is None:
            set_prune_rate(run, rates[i - 1])
            held_lr = method.start_cycle(run, i, state, summaries)  # may set per-layer prune rates
            select(run.masked, run.net.global_topk, check_budget=True)
            cycle_state = new_cycle(run, held_lr)

        def after_epoch(cs: CycleState, cycle=i) -> None:
            if config.checkpoint is not None:
                checkpoint.save(config.checkpoint, run, cycle, cs, state, summaries)
            trained[0] += 1
            if stop_after_epochs is not None and trained[0] >= stop_after_epochs:
                raise _Stop

        desc = method.name if len(rates) == 1 else f"{method.name} {i}/{len(rates)}"
        after_step = (lambda cs: method.after_step(run, state, cs)) if hasattr(method, "after_step") else None
        try:
            run_cycle(run, cycle_state, method.epochs(config, i), progress, desc, on_epoch_end=after_epoch,
                      after_step=after_step)
        except _Stop:
            return summaries
        summaries.append(cycle_summary(cycle_state, method.end_cycle(run, i, state, cycle_state)))
        cycle_state = None
        if config.checkpoint is not None:
            checkpoint.save(config.checkpoint, run, i + 1, None, state, summaries)
    return summaries


class _Stop(Exception):
    """Raised by ``stop_after_epochs`` to leave the run as an interruption would."""


def run_search(config, progress: bool = False, on_finish=None) -> dict:
    """Run one config on the torch backend to its record (a plain, JSON-ready dict).

    Raises ValueError (one line) for a method the backend does not mirror and for a
    missing or malformed data directory. ``on_finish(run)``, if given, is called with the
    finished run (not a diverged one) before its resources are released, e.g. to save the
    ticket found.
    """
    method = methods.get(config.method)
    run = build_run(config, train_weights=method.trains_weights)
    try:
        try:
            summaries = run_method(run, method, progress)
        except Diverged as e:
            return summarise(run, [], status="diverged", reason=str(e))
        record = summarise(run, summaries, record_fields=method.record_fields)
        if on_finish is not None and record["status"] == "ok":
            on_finish(run)
        return record
    finally:
        run.close()
