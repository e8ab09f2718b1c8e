"""Supermask tensors and the per-step edge selection, in torch.

Mirrors :mod:`sltsim.engine.supermask` and :mod:`sltsim.engine.topk`: each searched
tensor keeps the top-(1-k) of its |s| (or one threshold over all searched tensors),
exactly ``floor(k * n + 0.5)`` edges masked, edges tied at the threshold kept in
index order (lowest index first). The threshold comes from ``torch.kthvalue`` (or
``torch.topk`` on CUDA, see :func:`kth_largest`) and the tie budget from a cumulative
sum over the tied positions: O(n), never a sort.

The straight-through estimator of Ramanujan et al. (2020): the mask is computed
from |s| by :class:`StraightThrough`, which is the identity in backward, so
autograd of ``theta0 * mask(|s|)`` gives dL/ds = sign(s) * dL/dW_eff * theta0
with sign(0) = 0 (torch's abs backward), the engine's ``_sgd_scores`` gradient. A
tensor with ``ranking = "raw"`` (IteRand as released, :mod:`sltsim.search.iterand`)
ranks s itself and its gradient is dL/dW_eff * theta0, without the sign.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
from torch import nn

from sltsim.engine.topk import keep_count

_OUTSIDE = -1.0  # |s| >= 0, so an edge outside the search space never reaches the threshold


class MaskedTensor(nn.Module):
    """One searched tensor: frozen weights theta0 and trainable scores.

    Parameters
    ----------
    name : e.g. ``"fc1.weight"``, the engine's name of this tensor.
    shape : (out, in) for linear, (C_out, C_in, kh, kw) for conv, (out,) for a bias.
    fan_in : inputs per output unit, for the initialisers.
    dtype : torch.float32 or torch.float64.

    Both are ``nn.Parameter`` s (theta0 with ``requires_grad=False``) so that
    DistributedDataParallel reduces the scores' gradients and never re-broadcasts
    theta0 as a buffer. ``searchable`` (bool, flat, or None) restricts selection for
    hard pruning, as :meth:`sltsim.engine.supermask.MaskedParam.restrict` does.
    """

    def __init__(self, name: str, shape: tuple, fan_in: int, dtype=torch.float32):
        super().__init__()
        self.name = name
        self.shape = tuple(int(d) for d in shape)
        self.fan_in = int(fan_in)
        self.theta0 = nn.Parameter(torch.zeros(self.shape, dtype=dtype), requires_grad=False)
        self.scores = nn.Parameter(torch.zeros(self.shape, dtype=dtype))
        self.prune_rate = 0.0
        self.searched = True
        self.search_space: Optional[torch.Tensor] = None
        # "abs": rank |s| (EP); "raw": rank s itself, identity straight-through (IteRand as released)
        self.ranking = "abs"

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def n_keep(self) -> int:
        return keep_count(self.size, self.prune_rate)

    def set_searched(self, searched: bool) -> None:
        """False keeps every edge (w_eff = theta0) and freezes the scores."""
        self.searched = bool(searched)
        self.scores.requires_grad_(self.searched)

    def restrict(self, searchable: Optional[torch.Tensor]) -> None:
        """Select only where ``searchable`` is true (hard pruning); None lifts it."""
        if searchable is None:
            self.search_space = None
            return
        if searchable.numel() != self.size:
            raise ValueError(f"searchable must have {self.size} entries like {self.name}, got {searchable.numel()}")
        self.search_space = searchable.reshape(-1).to(device=self.scores.device, dtype=torch.bool).clone()

    def n_searchable(self) -> int:
        return self.size if self.search_space is None else int(self.search_space.sum())

    def extra_repr(self) -> str:
        return f"{self.name!r}, shape={self.shape}, prune_rate={self.prune_rate}"


class StraightThrough(torch.autograd.Function):
    """Forward: the given mask (or multiplier) in the magnitudes' dtype. Backward: the
    identity times ``scale`` (1 for EP; N for N coats, Okoshi et al. 2022, Eq. 2)."""

    @staticmethod
    def forward(ctx, magnitudes: torch.Tensor, value: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        ctx.scale = scale
        return value.to(magnitudes.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return (grad if ctx.scale == 1.0 else grad * ctx.scale), None, None


def kth_largest(magnitudes: torch.Tensor, k: int, method: str | None = None) -> torch.Tensor:
    """The k-th largest entry (1-based) of a flat tensor, as a 0-d tensor; no sort.

    ``torch.kthvalue`` on the CPU. On CUDA, ``torch.kthvalue`` runs one thread block per
    slice, which is slow for one slice of millions of scores, while ``torch.topk`` has a
    multi-block radix select for large slices; there the smaller of the two tails is
    selected (the top k, or the bottom n - k + 1) and its extreme is the threshold.
    ``method`` ("kthvalue" or "topk") overrides the choice (tests use it on the CPU).
    """
    n = magnitudes.numel()
    method = method or ("kthvalue" if magnitudes.device.type == "cpu" else "topk")
    if method == "kthvalue":
        return torch.kthvalue(magnitudes, n - k + 1).values
    if k <= n - k + 1:
        return torch.topk(magnitudes, k, largest=True, sorted=False).values.min()
    return torch.topk(magnitudes, n - k + 1, largest=False, sorted=False).values.max()


def keep_top(magnitudes: torch.Tensor, n_keep: int) -> torch.Tensor:
    """Boolean mask of the ``n_keep`` largest entries of a flat tensor, ties to the lower index.

    Parameters
    ----------
    magnitudes : (n,) float, |s| (edges outside the search space set to -1).
    n_keep : 0 <= n_keep <= n.

    Returns
    -------
    keep : (n,) bool with exactly ``n_keep`` true entries. No host synchronisation.
    """
    n = magnitudes.numel()
    if n_keep <= 0:
        return torch.zeros(n, dtype=torch.bool, device=magnitudes.device)
    if n_keep >= n:
        return torch.ones(n, dtype=torch.bool, device=magnitudes.device)
    threshold = kth_largest(magnitudes, n_keep)
    greater = magnitudes > threshold
    tied = magnitudes == threshold
    ties_allowed = n_keep - greater.sum()
    return greater | (tied & (torch.cumsum(tied, 0) <= ties_allowed))


def _magnitudes(t: MaskedTensor) -> torch.Tensor:
    """What the mask ranks, flat: |s|, or s itself for ``ranking == "raw"``."""
    if t.ranking == "raw":
        if t.search_space is not None:
            raise ValueError(f"raw-score ranking does not support a restricted search space ({t.name})")
        return t.scores.detach().reshape(-1)
    a = t.scores.detach().abs().reshape(-1)
    if t.search_space is not None:
        a = torch.where(t.search_space, a, a.new_tensor(_OUTSIDE))
    return a


def _check_budget(tensors: Sequence[MaskedTensor], n_keep: int) -> None:
    if any(t.search_space is not None for t in tensors):
        n_searchable = sum(t.n_searchable() for t in tensors)
        if n_keep > n_searchable:  # one host sync, only under hard pruning
            names = ", ".join(t.name for t in tensors)
            raise ValueError(f"prune_rate keeps {n_keep} edges of {names} but only {n_searchable} are searchable")


def select(tensors: Sequence[MaskedTensor], global_topk: bool = False,
           check_budget: bool = False) -> list[torch.Tensor]:
    """The boolean masks m_t of the searched tensors, from their current scores.

    Per tensor (EP default) each keeps its top ``n_keep()`` |s|; with ``global_topk``
    one threshold over all of them (in order, each flattened) keeps the top-(1-k) at
    the prune rate of the first. Returns flat (n,) bool tensors, detached.
    """
    searched = [t for t in tensors if t.searched]
    with torch.no_grad():
        if global_topk and searched:
            n_keep = keep_count(sum(t.size for t in searched), searched[0].prune_rate)
            if check_budget:
                _check_budget(searched, n_keep)
            keep = keep_top(torch.cat([_magnitudes(t) for t in searched]), n_keep)
            return list(torch.split(keep, [t.size for t in searched]))
        masks = []
        for t in searched:
            if check_budget:
                _check_budget([t], t.n_keep())
            masks.append(keep_top(_magnitudes(t), t.n_keep()))
        return masks


def coat_multipliers(tensors: Sequence[MaskedTensor], masks: Sequence[torch.Tensor],
                     inner_prune_rates: Sequence[float]) -> list[torch.Tensor]:
    """Multicoated supermasks (Okoshi et al., 2022, linear option): per searched tensor, the
    number of coats each edge passes, the outer coat being ``masks``; flat int tensors.

    Each inner coat at prune rate k_j keeps the top ``n - floor(k_j n + 0.5)`` |s| of its
    tensor, ties in index order, as :class:`sltsim.engine.coats.Coats` does.
    """
    searched = [t for t in tensors if t.searched]
    out = []
    with torch.no_grad():
        for t, m in zip(searched, masks):
            a = _magnitudes(t)
            c = m.to(torch.int32)
            for k in inner_prune_rates:
                c += keep_top(a, keep_count(t.size, k))
            out.append(c)
    return out


def effective_weights(tensors: Sequence[MaskedTensor], masks: Sequence[torch.Tensor],
                      multipliers: Optional[Sequence[torch.Tensor]] = None, grad_scale: float = 1.0) -> dict:
    """``{name: W_eff}``: theta0 * StraightThrough(|s|, m) for searched tensors, theta0 otherwise.

    ``masks`` are the flat bool masks of the searched tensors, in order; ``multipliers``
    (multicoated supermasks) replace them in W_eff, and ``grad_scale`` scales the
    straight-through gradient.
    """
    weights, it = {}, iter(multipliers if multipliers is not None else masks)
    for t in tensors:
        if t.searched:
            ranked = t.scores if t.ranking == "raw" else t.scores.abs()  # raw: dL/ds = dL/dW_eff * theta0
            m = StraightThrough.apply(ranked, next(it).view(t.shape), grad_scale)
            weights[t.name] = t.theta0 * m
        else:
            weights[t.name] = t.theta0
    return weights
