"""The record of a torch run, in the format of :func:`sltsim.search.loop.summarise`.

Same keys and meanings as the engine's record (key, config, status, cycles with
their per-epoch rows and dying-edge accounting, the final cycle's dying ratios at
the top level, prune_rate, loss/train_acc on the training set and test_loss/test_acc,
evaluated in eval mode with the masks of the final scores), plus ``"torch"``: the
torch version, device and number of DDP ranks.
"""

from __future__ import annotations

import torch

from sltsim.torch_backend.cycle import CycleState, evaluate

TOP_LEVEL = ("dying_ratio", "k_minus_d", "reverted_ratio", "per_layer", "dying_ratio_apparent",
             "dying_ratio_worst_case")


def cycle_summary(state: CycleState, extra: dict | None = None) -> dict:
    """Dying-edge accounting of one finished cycle: totals and per layer (plain, JSON-ready)."""
    out = {"prune_rate": state.prune_rate, "epochs": state.epochs, "final_lr": state.final_lr}
    h = state.history
    if h is not None:
        n_ever, n_selected = h.counts()
        total = max(int(h.sizes.sum()), 1)
        d = float(1.0 - n_ever.sum() / total)
        masked = 1.0 - n_selected.sum() / total
        out.update(dying_ratio=d, k_minus_d=float(masked - d), reverted_ratio=float((n_ever - n_selected).sum() / total))
        out["per_layer"] = {
            name: {"size": int(size), "prune_rate": float(1 - sel / size), "dying_ratio": float(1 - ev / size),
                   "k_minus_d": float((1 - sel / size) - (1 - ev / size))}
            for name, size, sel, ev in zip(h.names, h.sizes, n_selected, n_ever)
        }
    out.update(extra or {})
    return out


def summarise(run, summaries: list, status: str = "ok", reason: str = "", record_fields=()) -> dict:
    """The record of a finished (or diverged) run; ``record_fields`` of the last cycle's
    summary are repeated at the top, as the engine's run_search does for a method's."""
    config = run.config
    record: dict = {"key": config.key(), "config": config.to_dict(), "status": status}
    if reason:
        record["reason"] = reason
    record["cycles"] = summaries
    last = summaries[-1] if summaries else {}
    for name in TOP_LEVEL:
        if name in last:
            record[name] = last[name]
    record["prune_rate"] = last.get("prune_rate", config.final_prune_rate)
    if status == "ok":
        record["loss"], record["train_acc"] = evaluate(run, "train")
        record["test_loss"], record["test_acc"] = evaluate(run, "test")
        record.update({name: last[name] for name in record_fields if name in last})
    record["torch"] = {"version": torch.__version__, "device": str(run.device), "world_size": run.shard.world}
    return record
