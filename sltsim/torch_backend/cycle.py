"""The torch backend's hot loop: the steps of one cycle, and evaluation.

Each step: m_t = topk(|s|) inside the network's forward -> loss -> backward (straight
through to the scores) -> lr from the schedule -> SGD step -> history.update(m_t).
Nothing synchronises with the host inside an epoch: the loss sum, the correct count,
a non-finite flag and the history live on the device and are read at the epoch end
(the logging point), where a DDP run also checks that every rank holds the same
history. The :class:`~sltsim.search.backend.Cycle` holds all a cycle mutates, so a
checkpoint written at an epoch end lets the cycle continue where it stopped.
"""

from __future__ import annotations

import math
import time
from typing import Optional

import torch
from tqdm.auto import tqdm

from sltsim.errors import Diverged
from sltsim.search.backend import Cycle, StepHook, lr_function
from sltsim.torch_backend import distributed

def steps_per_epoch(run) -> int:
    n, b, world = run.data.n_train, run.config.batch_size, run.shard.world
    return n // b + (1 if n % b >= world else 0)


def train_step(run, x: torch.Tensor, y: torch.Tensor, n_global: int, lr: float):
    """One step; returns (summed loss of this rank's examples, correct count, masks m_t), on the device."""
    out, masks = run.model(x)
    loss_sum = run.loss_sum(out, y)
    # DDP averages gradients over ranks: scale so that the result is the global-batch mean
    (loss_sum * (run.shard.world / n_global)).backward()
    for group in run.optimizer.param_groups:
        group["lr"] = lr
    run.optimizer.step()
    run.optimizer.zero_grad(set_to_none=True)
    return loss_sum.detach(), (out.detach().argmax(dim=1) == y).sum(), masks


def train(run, state: Cycle, epochs: int, progress: bool = False, desc: str = "EP",
          after_step: Optional[StepHook] = None, after_epoch: Optional[StepHook] = None) -> None:
    """Train from ``state.epoch`` up to ``epochs`` epochs; raises Diverged on a NaN/inf loss,
    or on a NaN/inf score or weight at an epoch end.

    ``after_step(state)`` runs after every optimiser step (IteRand's redraws);
    ``after_epoch(state)`` after every epoch's accounting (checkpoints).
    """
    config, data = run.config, run.data
    per_epoch = steps_per_epoch(run)
    total = epochs * per_epoch
    lr_fn = lr_function(config, per_epoch, state.held_lr)
    lr_max = torch.finfo(getattr(torch, config.dtype)).max
    run.model.train()
    bar = tqdm(range(state.epoch, epochs), desc=desc, unit="epoch", leave=False,
               disable=not progress or not run.is_main)
    for epoch in bar:
        t0 = time.perf_counter()
        sums = torch.zeros(3, dtype=torch.float64, device=run.device)  # loss, correct, non-finite
        seen = 0
        for x, y, n_global in data.train_epoch(config.batch_size, run.rngs):
            lr = lr_fn(state.step, total)
            if abs(lr) > lr_max:  # torch's SGD cannot take it; the engine's step would overflow to inf
                raise Diverged(f"the learning rate {lr:g} at step {run.step} overflows {config.dtype}, so "
                               f"the scores would become NaN or inf; try a lower lr than {config.lr}")
            loss_sum, correct, masks = train_step(run, x, y, n_global, lr)
            if state.history is not None:
                state.history.update(masks)
            sums += torch.stack([loss_sum.to(torch.float64), correct.to(torch.float64),
                                 (~torch.isfinite(loss_sum)).to(torch.float64)])
            seen += y.shape[0]
            state.final_lr = lr
            state.step += 1
            run.step += 1
            if after_step is not None:
                after_step(state)
        totals = torch.cat([sums, sums.new_tensor([seen]), _nonfinite_tensors(run.net, sums.device)])
        loss, correct, nonfinite, seen, bad_tensors = distributed.all_sum(totals, run.shard).tolist()  # logging point
        if nonfinite:
            raise Diverged(f"loss became non-finite in epoch {epoch + 1} (by step {run.step}); "
                           f"try a lower lr than {config.lr}")
        if bad_tensors:
            raise Diverged(f"{_nonfinite_names(run.net)} became NaN or inf in epoch {epoch + 1} "
                           f"(by step {run.step}); try a lower lr than {config.lr}")
        row = {"epoch": epoch + 1, "lr": state.final_lr, "loss": loss / max(seen, 1),
               "train_acc_running": correct / max(seen, 1), "seconds": time.perf_counter() - t0}
        if state.history is not None:
            distributed.check_consistent(state.history, run.shard, f"epoch {epoch + 1}")
            n_ever, _ = state.history.ever_and_selected()
            state.ever_per_epoch.append(int(n_ever.sum()))
            row["dying_ratio"] = float(1.0 - n_ever.sum() / max(state.history.sizes.sum(), 1))
            row["mask_churn"] = state.history.take_mask_churn()
        state.epochs.append(row)
        state.epoch = epoch + 1
        bar.set_postfix(loss=f"{row['loss']:.3f}", dying=f"{row.get('dying_ratio', math.nan):.3f}")
        if after_epoch is not None:
            after_epoch(state)


@torch.no_grad()
def _nonfinite_tensors(net, device) -> torch.Tensor:
    """How many parameters (scores, and weights where they train) hold a NaN or inf, as a
    1-element float64 tensor on the device: the engine refuses non-finite scores at every
    selection, and this check at the epoch end makes the torch run diverge as well."""
    params = list(net.parameters())
    if not params:
        return torch.zeros(1, dtype=torch.float64, device=device)
    flags = [(~torch.isfinite(p)).any() for p in params]
    return torch.stack(flags).sum().to(device=device, dtype=torch.float64).reshape(1)


@torch.no_grad()
def _nonfinite_names(net) -> str:
    """The names of the parameters that hold a NaN or inf (host side: only once diverged)."""
    names = [name for name, p in net.named_parameters() if not bool(torch.isfinite(p).all())]
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "") or "a parameter"


@torch.no_grad()
def evaluate(run, split: str) -> tuple[float, float]:
    """(mean loss, accuracy) on a split with the masks of the current scores, in eval mode."""
    distributed.sync_buffers(run.net, run.shard)
    run.net.eval()
    sums = torch.zeros(2, dtype=torch.float64, device=run.device)
    seen = 0
    for x, y in run.data.eval_batches(split):
        out, _ = run.net(x)
        sums += torch.stack([run.loss_sum(out, y).to(torch.float64),
                             (out.argmax(dim=1) == y).sum().to(torch.float64)])
        seen += y.shape[0]
    run.net.train()
    loss, correct, n = distributed.all_sum(torch.cat([sums, sums.new_tensor([seen])]), run.shard).tolist()
    return loss / max(n, 1), correct / max(n, 1)
