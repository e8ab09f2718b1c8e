"""Random tickets and layerwise-rearranged EP masks: the sanity checks of Su et al. (NeurIPS 2020).

Su et al. (2020), "Sanity-checking pruning methods: random tickets can win the
jackpot" (NeurIPS), ask whether the *positions* a pruning method picks matter, or
only its layer-wise ratios. Three masks test that in the strong-ticket setting,
where no weight is trained and the mask is all there is:

- ``random-uniform``: every searched layer keeps a uniformly random subset of
  exactly ``n - floor(k n + 0.5)`` edges (EP's own per-layer budget);
- ``random-smart``: the same, at the *smart ratios* of :func:`smart_keep_ratios`
  (the ResNet rule for residual networks, the rule divided by l^2 for the others);
- ``rearranged-ep``: run EP, then shuffle its final mask within each layer (their
  "layerwise rearrange"): the same per-layer counts, random positions.

Random tickets are not searched: the scores are never trained and the mask is
drawn once from the run's ``"method"`` random stream. Their record still carries
the dying-edge accounting of Eq. 2 over the one mask that was ever used: e = m,
so ``dying_ratio`` = k (the fraction masked), ``k_minus_d`` = 0 and
``reverted_ratio`` = 0 exactly: nothing outside the initial mask was explored.
``epochs`` and the learning-rate fields are unused (no training step).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from sltsim.engine.topk import keep_count
from sltsim.search.ep import EdgePopup
from sltsim.search.method import Method

LAST_LAYER_KEEP_RATIO = 0.3


FAMILIES = ("resnet", "plain")


def architecture_family(model: str) -> str:
    """``"resnet"`` for the residual networks (resnet8, resnet20, resnet18, ..., wide_resnet50_2),
    ``"plain"`` for every other (conv2..conv8, MLPs): the two cases of Su et al.'s smart ratios."""
    return "resnet" if "resnet" in model else "plain"


def smart_keep_ratios(sizes: Sequence[int], prune_rate: float, family: str = "plain",
                      last_ratio: float = LAST_LAYER_KEEP_RATIO) -> np.ndarray:
    """Smart keep ratios (Su et al. 2020, Sec. 5) of L layers that meet a global budget.

    Layer l = 1..L (input to output) keeps, before overflow,

        r_l = c * ((L - l + 1)^2 + (L - l + 1))          for l < L, ``family == "resnet"``,
        r_l = c * ((L - l + 1)^2 + (L - l + 1)) / l^2    for l < L, otherwise,
        r_L = ``last_ratio`` (0.3: the last, linear layer),

    with c > 0 the one constant such that sum_{l<L} r_l n_l = B - 0.3 n_L, the budget
    B = n - floor(k n + 0.5) of n = sum_l n_l edges (the released ``pruner/SmartRatio.py``
    of JingtongSu/sanity-checking-pruning: ``arch == 'resnet'`` skips the division by
    l^2). A ratio above 1 is then set to 1 and its excess edges go greedily to the next
    layers, front to back, each filled up to 1 before the following one takes the rest
    (the overflow step of that file), so sum_l r_l n_l = B. One layer (L = 1) keeps B / n_1.

    Parameters
    ----------
    sizes : (L,) edges n_l of each searched weight tensor, input to output.
    prune_rate : global prune rate k in [0, 1).
    family : ``"resnet"`` or ``"plain"`` (:func:`architecture_family`).
    last_ratio : keep ratio of the last layer.

    Returns
    -------
    ratios : (L,) float64 keep ratios r_l in (0, 1] with sum r_l n_l = B (up to float rounding).

    Raises
    ------
    ValueError : when the budget cannot be met with the last layer at ``last_ratio``
        (B < last_ratio * n_L, or B > last_ratio * n_L + sum_{l<L} n_l).
    """
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {', '.join(FAMILIES)}; got {family!r}")
    sizes = np.asarray(sizes, np.float64)
    if sizes.ndim != 1 or sizes.size == 0 or np.any(sizes <= 0):
        raise ValueError(f"sizes must be a non-empty list of positive layer sizes, got {sizes.tolist()}")
    n_layers = sizes.size
    budget = float(keep_count(int(sizes.sum()), prune_rate))
    if n_layers == 1:
        return np.array([budget / sizes[0]])
    rest = budget - last_ratio * sizes[-1]
    if rest < 0 or rest > sizes[:-1].sum() + 1e-9:
        raise ValueError(f"smart ratios cannot keep {budget:.0f} of {sizes.sum():.0f} edges (prune_rate {prune_rate}) "
                         f"with the last layer at {last_ratio}: choose another prune_rate")
    index = np.arange(1, n_layers, dtype=np.float64)  # l = 1..L-1
    depth = n_layers - index + 1  # L - l + 1
    weight = depth**2 + depth
    if family == "plain":
        weight = weight / index**2
    ratios = np.empty(n_layers)
    ratios[:-1] = weight * (rest / float(np.dot(weight, sizes[:-1])))
    ratios[-1] = last_ratio
    extra = 0.0  # edges above ratio 1, carried into the next layers
    for i in range(n_layers - 1):
        if ratios[i] >= 1.0:
            extra += (ratios[i] - 1.0) * sizes[i]
            ratios[i] = 1.0
        else:
            room = (1.0 - ratios[i]) * sizes[i]
            take = min(room, extra)
            ratios[i] = 1.0 if take == room else ratios[i] + take / sizes[i]
            extra -= take
    return ratios


def smart_keep_counts(sizes: Sequence[int], prune_rate: float, family: str = "plain") -> np.ndarray:
    """Edges kept per layer at the smart ratios, rounded so that they sum to the budget exactly.

    The counts r_l * n_l of :func:`smart_keep_ratios` are floored and the missing
    edges go, one each, to the layers with the largest fractional parts (ties to
    the lower index): sum_l counts_l = n - floor(k n + 0.5) exactly.

    Returns
    -------
    counts : (L,) int64, each in [1, n_l]. Raises ValueError if a layer would keep none.
    """
    sizes_i = np.asarray(sizes, np.int64)
    exact = smart_keep_ratios(sizes_i, prune_rate, family) * sizes_i
    counts = np.minimum(np.floor(exact + 1e-9).astype(np.int64), sizes_i)
    missing = keep_count(int(sizes_i.sum()), prune_rate) - int(counts.sum())
    order = np.argsort(-(exact - counts), kind="stable")
    order = [i for i in order if counts[i] < sizes_i[i]]
    for i in order[:max(missing, 0)]:
        counts[i] += 1
    if np.any(counts < 1):
        raise ValueError(f"smart ratios keep no edge of some layer at prune_rate {prune_rate}: "
                         f"counts {counts.tolist()} of {sizes_i.tolist()}")
    return counts


class RandomTicket(Method):
    """A random mask at uniform (EP's) or smart per-layer ratios; nothing is trained."""

    def __init__(self, name: str, smart: bool):
        self.name, self.smart = name, smart
        which = "smart ratios (Su et al. 2020)" if smart else "k (EP's per-layer counts)"
        self.description = f"random ticket, no search: a uniformly random mask per layer at {which}"

    def validate(self, config) -> None:
        super().validate(config)
        if config.global_topk:
            raise ValueError(f"method {self.name} draws each layer's mask separately: global_topk must be false, "
                             "got True")
        if self.smart and (config.dense_first or config.dense_last or config.score_bias):
            raise ValueError("method random-smart gives every weight layer a smart ratio: dense_first, dense_last "
                             f"and score_bias must be false, got {config.dense_first}, {config.dense_last}, "
                             f"{config.score_bias}")

    def epochs(self, config, cycle: int) -> int:
        return 0  # nothing is trained

    def start_cycle(self, backend, cycle: int, state: dict, cycles: list):
        rng = backend.rngs["method"]
        searched = backend.searched
        # distinct |s| = a random permutation of 1..n: the top-(1-k) is a uniform random subset
        backend.set_scores([rng.permutation(t.size) + 1 for t in searched])
        if self.smart:
            config = backend.config
            counts = smart_keep_counts([t.size for t in searched], config.prune_rate,
                                       architecture_family(config.model))
            for t, n_keep in zip(searched, counts):
                t.prune_rate = 1.0 - int(n_keep) / t.size
                if t.n_keep() != n_keep:  # pragma: no cover - float rounding guard
                    raise RuntimeError(f"{t.name}: prune rate {t.prune_rate} keeps {t.n_keep()}, not {n_keep}")
        return None

    def end_cycle(self, backend, cycle: int, state: dict, result) -> dict:
        if result.history is not None:  # the one mask ever used: e = m, d = k
            backend.count_selection(result.history)
        # the masked fraction as 1 - kept / n (the cycle's own is (n - kept) / n, which can
        # round one ulp apart): the value random tickets have always recorded
        searched = backend.searched
        result.prune_rate = float(1.0 - sum(t.n_keep() for t in searched) / max(sum(t.size for t in searched), 1))
        return {}


class RearrangedEdgePopup(EdgePopup):
    """EP, then its final mask shuffled within each layer (layerwise rearrange)."""

    name = "rearranged-ep"
    description = ("EP, then its final mask shuffled within each layer (Su et al. 2020's layerwise "
                   "rearrange); test_acc is the rearranged mask's, ep_test_acc EP's")
    record_fields = ("ep_test_acc", "ep_train_acc", "ep_test_loss", "ep_loss", "rearranged_overlap")
    searches_from_scores = False  # its final mask is shuffled: where EP started does not reach it

    def end_cycle(self, backend, cycle: int, state: dict, result) -> dict:
        ep_masks = backend.masks()
        ep_loss, ep_train_acc = backend.evaluate("train")
        ep_test_loss, ep_test_acc = backend.evaluate("test")
        rng = backend.rngs["method"]
        # permuting the scores permutes the mask they select (ties at the threshold aside)
        backend.set_scores([s[rng.permutation(s.size)] for s in backend.scores()])
        masks = backend.masks()
        kept = sum(int(np.count_nonzero(m)) for m in ep_masks)
        both = sum(int(np.count_nonzero(m & q)) for m, q in zip(ep_masks, masks))
        return {"ep_loss": ep_loss, "ep_train_acc": ep_train_acc, "ep_test_loss": ep_test_loss,
                "ep_test_acc": ep_test_acc, "rearranged_overlap": both / kept if kept else math.nan}


RANDOM_TICKETS = (RandomTicket("random-uniform", smart=False), RandomTicket("random-smart", smart=True))
