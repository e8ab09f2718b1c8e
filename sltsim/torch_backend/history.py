"""MaskHistory on the device: ever-selected bitmaps updated in place, read at logging points.

Mirrors :class:`sltsim.metrics.history.MaskHistory` (DESIGN.md words): e_t = m_1 OR
... OR m_t per searched tensor, the dying ratio d_t = mean(1 - e_t), reverted edges
(e_t = 1, m_t = 0) and mask churn. :meth:`DeviceHistory.update` is one in-place
``ever |= mask`` per tensor (plus one XOR-count for the churn) and never
synchronises with the host; counts are read only by the read-out methods, which the
training loop calls at logging points (epoch ends).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch


class DeviceHistory:
    """Ever-selected bitmaps of the searched tensors of one cycle.

    Parameters
    ----------
    tensors : the searched :class:`~sltsim.torch_backend.supermask.MaskedTensor` s, in order.
    """

    def __init__(self, tensors: Sequence):
        self.names = [t.name for t in tensors]
        self.sizes = np.array([t.size for t in tensors], np.int64)
        self.n_searchable = np.array([t.n_searchable() for t in tensors], np.int64)
        device = tensors[0].scores.device if tensors else torch.device("cpu")
        self.ever = [torch.zeros(t.size, dtype=torch.bool, device=device) for t in tensors]
        self.current = [torch.ones(t.size, dtype=torch.bool, device=device) for t in tensors]  # m_t
        self.flips = torch.zeros(len(tensors), dtype=torch.int64, device=device)
        self.steps = 0

    def update(self, masks: Sequence[torch.Tensor]) -> None:
        """Record the masks m_t of one step (flat bool, in order). No host sync."""
        first = self.steps == 0
        for i, (ever, m) in enumerate(zip(self.ever, masks)):
            ever.logical_or_(m)
            if not first:  # the first selection flips from the all-ones placeholder
                self.flips[i] += torch.count_nonzero(self.current[i] ^ m)
            self.current[i] = m
        self.steps += 1

    # -- read-outs (host sync) --------------------------------------------------
    def ever_and_selected(self) -> tuple[np.ndarray, np.ndarray]:
        """(n_ever, n_selected) per tensor: ever-selected edges and the edges of the current mask."""
        if not self.ever:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        ever = torch.stack([e.sum() for e in self.ever]).cpu().numpy().astype(np.int64)
        selected = torch.stack([m.sum() for m in self.current]).cpu().numpy().astype(np.int64)
        return ever, selected

    def dying_ratio(self) -> float:
        return float(1.0 - self.ever_and_selected()[0].sum() / max(self.sizes.sum(), 1))

    def take_mask_churn(self) -> float:
        """Mask flips per edge since the last call, then reset (one call per epoch)."""
        churn = float(self.flips.sum().item() / max(self.sizes.sum(), 1))
        self.flips.zero_()
        return churn

    def checksums(self) -> torch.Tensor:
        """(3 * layers,) int64 on the device: n_ever, n_selected and sum of ever-selected
        indices per tensor; equal on every rank exactly when the histories agree
        (up to index permutations that keep both count and index sum, for the last)."""
        rows = []
        for ever, m in zip(self.ever, self.current):
            idx = torch.arange(ever.numel(), device=ever.device)
            rows += [ever.sum(), m.sum(), (idx * ever).sum()]
        return torch.stack(rows) if rows else torch.zeros(0, dtype=torch.int64)

    def state_dict(self) -> dict:
        return {"ever": [e.cpu() for e in self.ever], "current": [m.cpu() for m in self.current],
                "flips": self.flips.cpu(), "steps": self.steps}

    def load_state_dict(self, state: dict) -> None:
        device = self.flips.device
        self.ever = [e.to(device) for e in state["ever"]]
        self.current = [m.to(device) for m in state["current"]]
        self.flips = state["flips"].to(device)
        self.steps = int(state["steps"])
