"""A torch run as a search backend (:class:`sltsim.search.backend.Backend`).

:class:`Run` holds what one torch run mutates (network, data, optimiser, random
streams, DDP shard) and implements the backend operations in torch: masks are
selected on the device and cross the interface as flat bool host arrays, scores as
flat host arrays of the run's dtype. The hot loop is :func:`sltsim.torch_backend.cycle.train`;
checkpoints and resumption are :mod:`sltsim.torch_backend.checkpoint`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from sltsim.search.backend import Cycle
from sltsim.torch_backend import checkpoint, cycle as cycles_, distributed
from sltsim.torch_backend.history import DeviceHistory
from sltsim.torch_backend.init import _numpy_dtype, initialise_scores_
from sltsim.torch_backend.loaders import Shard
from sltsim.torch_backend.models import SupermaskNet
from sltsim.torch_backend.supermask import coat_multipliers, select


@dataclass
class Run:
    """Everything one torch run mutates: network, data, optimiser, random streams, position."""

    config: object  # the run's RunConfig
    net: SupermaskNet
    model: torch.nn.Module  # net, or its DDP wrapper
    data: object  # InMemoryData | ImageLoaderData
    optimizer: torch.optim.Optimizer
    rngs: dict
    device: torch.device
    shard: Shard = field(default_factory=Shard)
    started_group: bool = False
    step: int = 0  # steps over all cycles
    ticket = None  # planted targets run on the engine only

    @property
    def tensors(self) -> list:
        return self.net.tensors

    @property
    def searched(self) -> list:
        return self.net.searched

    @property
    def is_main(self) -> bool:
        return self.shard.rank == 0

    def loss_sum(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Summed softmax cross-entropy of a (rank's share of a) batch."""
        return F.cross_entropy(outputs, targets, reduction="sum")

    def close(self, clean: bool = True) -> None:
        """Release the data and, if this run started it, the process group (``clean``: False
        after an error, see :func:`~sltsim.torch_backend.distributed.teardown`)."""
        self.data.close()
        self.model = self.net  # drop the DDP wrapper, which holds the process group
        distributed.teardown(self.started_group, clean)

    def _select(self, check_budget: bool = False) -> list[torch.Tensor]:
        return select(self.tensors, self.net.global_topk, check_budget=check_budget)

    # -- the Backend operations (sltsim.search.backend) ---------------------------
    def steps_per_epoch(self) -> int:
        return cycles_.steps_per_epoch(self)

    def set_prune_rate(self, prune_rate: float) -> None:
        for t in self.searched:
            t.prune_rate = prune_rate

    def select(self) -> None:
        """Nothing to set: the network selects its masks in every forward pass."""

    def masks(self) -> list[np.ndarray]:
        return [m.cpu().numpy() for m in self._select()]

    def peek_masks(self) -> list[np.ndarray]:
        return self.masks()  # the network keeps no masks between forward passes

    def count_selection(self, history) -> None:
        history.update(self._select())

    def use_raw_ranking(self) -> None:
        for t in self.searched:
            t.ranking = "raw"

    def use_coats(self, inner_prune_rates) -> None:
        coats = tuple(float(k) for k in inner_prune_rates)
        for t in self.searched:
            if not all(k > t.prune_rate for k in coats):
                raise ValueError(f"coats must each exceed the prune rate {t.prune_rate} of {t.name}, got {coats}")
        self.net.coats = coats

    def coat_multipliers(self) -> list[np.ndarray]:
        return [c.cpu().numpy() for c in coat_multipliers(self.tensors, self._select(), self.net.coats)]

    def scores(self) -> list[np.ndarray]:
        return [t.scores.detach().reshape(-1).cpu().numpy().copy() for t in self.searched]

    @torch.no_grad()
    def set_scores(self, scores) -> None:
        for t, s in zip(self.searched, scores):
            values = np.asarray(s, _numpy_dtype(t)).reshape(t.shape)
            t.scores.copy_(torch.from_numpy(values).to(t.scores.device))

    def initialise_scores(self, rng: np.random.Generator) -> None:
        initialise_scores_(self.tensors, self.config.score_init, self.config.final_prune_rate, rng)

    @torch.no_grad()
    def scores_from_weight_magnitudes(self) -> None:
        for t in self.searched:
            t.scores.copy_(t.theta0.abs())

    def restrict(self, searchable) -> None:
        searched = self.searched
        for t, a in zip(searched, searchable if searchable is not None else [None] * len(searched)):
            t.restrict(None if a is None else torch.from_numpy(np.asarray(a, bool)))

    def reset_momentum(self) -> None:
        self.optimizer.state.clear()  # as a fresh torch.optim.SGD would start

    @torch.no_grad()
    def redraw_weights(self, index: int, chosen: np.ndarray, values: np.ndarray) -> None:
        t = self.searched[index]
        where = torch.from_numpy(np.flatnonzero(chosen)).to(t.theta0.device)
        t.theta0.view(-1)[where] = torch.from_numpy(np.asarray(values, _numpy_dtype(t))).to(t.theta0.device)

    def host_views(self, masks) -> "_HostViews":
        return _HostViews(self.searched, masks)

    def new_cycle(self, epochs: int, held_lr: Optional[float]) -> Cycle:
        self._select(check_budget=True)  # a hard search space too small for the prune rate: one line, now
        searched = self.searched
        masked = sum(t.size - t.n_keep() for t in searched) / max(sum(t.size for t in searched), 1)
        history = DeviceHistory(searched) if self.config.track_history else None
        return Cycle(prune_rate=float(masked), history=history, held_lr=held_lr)

    def train(self, cycle: Cycle, epochs: int, progress: bool = False, desc: str = "EP",
              after_step=None, after_epoch=None) -> None:
        cycles_.train(self, cycle, epochs, progress, desc, after_step, after_epoch)

    def evaluate(self, split: str) -> tuple[float, float]:
        return cycles_.evaluate(self, split)

    def resume(self):
        if not self.config.resume:
            return None
        payload = checkpoint.load(self.config.checkpoint, self)
        if payload is None:
            return None
        return checkpoint.restore(self, payload)

    def checkpoint(self, cycle_number: int, cycle: Optional[Cycle], state: dict, cycles: list) -> None:
        if self.config.checkpoint is not None:
            checkpoint.save(self.config.checkpoint, self, cycle_number, cycle, state, cycles)

    def final_metrics(self, cycle) -> dict:
        return {}

    def record_extras(self) -> dict:
        return {"torch": {"version": torch.__version__, "device": str(self.device), "world_size": self.shard.world}}


class _HostView:
    """A searched tensor as score-rank snapshots read it (NumPy, flat), made on demand."""

    def __init__(self, t, mask: np.ndarray):
        self.name, self.size = t.name, t.size
        self._scores = t.scores.detach().cpu().numpy().reshape(-1)
        self.search_space = None if t.search_space is None else t.search_space.cpu().numpy().astype(np.uint8)
        self.mask = np.asarray(mask, np.uint8)

    def flat(self, name: str) -> np.ndarray:
        if name != "scores":
            raise KeyError(name)
        return self._scores


class _HostViews:
    """Host copies made only for the tensors a rank sample touches."""

    def __init__(self, tensors, masks):
        self.tensors, self.masks, self.views = tensors, masks, {}

    def __getitem__(self, i: int) -> _HostView:
        i = int(i)
        if i not in self.views:
            self.views[i] = _HostView(self.tensors[i], self.masks[i])
        return self.views[i]

    def __len__(self) -> int:
        return len(self.tensors)
