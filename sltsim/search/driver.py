"""The one driver of every search method, and the one record builder, for both backends.

:func:`run_method` runs (or, on torch with ``--resume``, continues) the cycles of a
:class:`~sltsim.search.method.Method` on a :class:`~sltsim.search.backend.Backend`;
:func:`cycle_summary` turns a finished cycle into its record entry and
:func:`summarise` a finished (or diverged) run into its record.
"""

from __future__ import annotations

from typing import Callable, Optional

from sltsim.search.backend import Cycle

#: Fields of the last cycle's summary that the record repeats at its top level.
TOP_LEVEL = ("dying_ratio", "k_minus_d", "reverted_ratio", "per_layer", "dying_ratio_apparent",
             "dying_ratio_worst_case")


class Stop(Exception):
    """Raised by ``stop_after_epochs`` to leave the run as an interruption would (tests)."""


def run_method(backend, method, progress: bool = False, on_cycle_start: Optional[Callable] = None,
               on_cycle_end: Optional[Callable] = None, stop_after_epochs: Optional[int] = None) -> list[Cycle]:
    """Every cycle of ``method`` on ``backend``; the finished :class:`Cycle` s, each with its summary.

    ``on_cycle_start(backend, i)`` runs once cycle i's prune rates, scores and search space
    are set, before its first step; ``on_cycle_end(backend, i, cycle)`` once its summary is
    made (tests and analysis). ``stop_after_epochs`` raises :class:`Stop` after that many
    epochs trained in this call (an interruption, for the checkpoint tests).
    """
    config = backend.config
    rates = method.prune_rates(config)
    method.prepare(backend)
    resumed = backend.resume()
    if resumed is not None:
        state, cycles, first, cycle = resumed
    else:
        state, cycles, first, cycle = method.initial_state(backend), [], 1, None
    trained = [0]
    for i in range(first, len(rates) + 1):
        epochs = method.epochs(config, i)
        if cycle is None:
            backend.set_prune_rate(rates[i - 1])
            held_lr = method.start_cycle(backend, i, state, cycles)  # may set per-tensor prune rates
            cycle = backend.new_cycle(epochs, held_lr)
            if on_cycle_start is not None:
                on_cycle_start(backend, i)

        def after_epoch(c: Cycle, number=i) -> None:
            backend.checkpoint(number, c, state, cycles)
            trained[0] += 1
            if stop_after_epochs is not None and trained[0] >= stop_after_epochs:
                raise Stop

        after_step = None
        if method.after_step is not None:
            def after_step(c: Cycle) -> None:
                method.after_step(backend, state, c)

        desc = method.name if len(rates) == 1 else f"{method.name} {i}/{len(rates)}"
        backend.train(cycle, epochs, progress, desc, after_step, after_epoch)
        cycle.extra = method.end_cycle(backend, i, state, cycle)
        cycle.summary = cycle_summary(cycle)
        cycles.append(cycle)
        if on_cycle_end is not None:
            on_cycle_end(backend, i, cycle)
        cycle = None
        backend.checkpoint(i + 1, None, state, cycles)
    return cycles


def cycle_summary(cycle: Cycle) -> dict:
    """Dying-edge accounting of one finished cycle, totals and per tensor, then the method's extras."""
    out = {"prune_rate": cycle.prune_rate, "epochs": cycle.epochs, "final_lr": cycle.final_lr}
    h = cycle.history
    if h is not None:
        n_ever, n_selected = h.ever_and_selected()
        total = h.sizes.sum()
        d = float(1.0 - n_ever.sum() / total)
        masked = 1.0 - n_selected.sum() / total
        out.update(dying_ratio=d, k_minus_d=float(masked - d),
                   reverted_ratio=float((n_ever - n_selected).sum() / total))
        out["per_layer"] = {
            name: {"size": int(size), "prune_rate": float(1 - sel / size), "dying_ratio": float(1 - ev / size),
                   "k_minus_d": float((1 - sel / size) - (1 - ev / size))}
            for name, size, sel, ev in zip(h.names, h.sizes, n_selected, n_ever)
        }
    out.update(cycle.extra)
    return out


def summarise(backend, cycles: list[Cycle], status: str = "ok", reason: str = "", record_fields=()) -> dict:
    """The record of a run: config, final loss and accuracy with the masks of the final scores,
    the last cycle's dying ratios at the top, ``record_fields`` of its summary repeated there."""
    config = backend.config
    record: dict = {"key": config.key(), "config": config.to_dict(), "status": status}
    if reason:
        record["reason"] = reason
    summaries = [c.summary for c in cycles]
    record["cycles"] = summaries
    last = summaries[-1] if summaries else {}
    for name in TOP_LEVEL:
        if name in last:
            record[name] = last[name]
    record["prune_rate"] = last.get("prune_rate", config.final_prune_rate)
    if status == "ok":
        backend.select()
        record["loss"], record["train_acc"] = backend.evaluate("train")
        record["test_loss"], record["test_acc"] = backend.evaluate("test")
        record.update(backend.final_metrics(cycles[-1] if cycles else None))
        record.update({name: last[name] for name in record_fields if name in last})
    record.update(backend.record_extras())
    return record


def run_to_record(backend, method, progress: bool = False, on_finish=None) -> dict:
    """``method`` on ``backend`` to its record; a diverged run gives ``status: "diverged"``.

    ``on_finish(backend)``, if given, is called once the final masks are set (not for a
    diverged run), e.g. to save the ticket found.
    """
    from sltsim.errors import Diverged

    try:
        cycles = run_method(backend, method, progress)
    except Diverged as e:
        return summarise(backend, [], status="diverged", reason=str(e))
    record = summarise(backend, cycles, record_fields=method.record_fields)
    if on_finish is not None and record["status"] == "ok":
        on_finish(backend)
    return record
