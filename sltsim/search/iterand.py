"""IteRand: edge-popup with iterative randomisation of the pruned weights.

Chijiwa et al., "Pruning Randomly Initialized Neural Networks with Iterative
Randomization" (NeurIPS 2021, Algorithm 1): train the scores as EP does and, every
K steps, redraw each currently pruned weight from its initialiser with probability
lambda (``--iterand-period`` K, ``--iterand-rate`` lambda; their CIFAR-10 setting is
K = 300, lambda = 0.1).

``iterand_ranking = "raw"`` (the default) follows the released code
(dchiji-ntt/iterand):

- the mask keeps the largest *raw* scores s, not |s| (``GetSubnet`` in
  ``models/networks/sparse_modules.py`` thresholds ``weight_score`` itself at a
  percentile), and the backward of the mask is the identity, so
  dL/ds = dL/dw_eff * theta0 with no sign(s) factor;
- the scores start from Kaiming uniform for ReLU, U(-sqrt(6 / fan_in), sqrt(6 / fan_in))
  (``init_mode_mask: kaiming_uniform`` in ``config.yaml``); this is the method's
  default ``score_init`` (``kaiming_uniform_relu``) while ``method_inits`` is on;
- the redraw runs before steps K, 2K, ... (the ``before_callback`` of
  ``commands/train.py`` fires when (iterations done + 1) is a multiple of K), i.e.
  after K - 1, 2K - 1, ... updates, and looks at the mask of the current scores,
  the one step K will use (``rerand_rate = 1``: all pruned edges are candidates).

``iterand_ranking = "abs"`` is the variant this package ran before: EP's |s| mask and
sign(s) straight-through gradient, EP's score init, the redraw after every K-th update.

Kept as our own choices (``docs/methods.md``): each layer keeps exactly
``n - floor(k n + 0.5)`` edges with ties at the threshold kept in index order (the
release keeps every edge at or above its percentile value, which masks
``round(k (n - 1))`` edges when the scores are distinct), and the redraws come from
``config.weight_init`` and the run's ``"method"`` random stream, so a seed fixes them.

A redraw writes new values into theta0 at chosen masked edges only; kept weights
are never touched and w_eff = m * theta0 stays exact. The mask history is left as
it was: the redraw looks at the mask of the current scores without counting it as a
forward pass, and the edge identities (hence the dying ratio) do not change.
"""

from __future__ import annotations

import numpy as np

from sltsim.init import WEIGHT_INITS
from sltsim.search.ep import EdgePopup


def rerandomize(backend, rate: float, rng: np.random.Generator) -> list[np.ndarray]:
    """Redraw each pruned weight of every searched tensor with probability ``rate``.

    Parameters
    ----------
    backend : the run; its scores define the current masks z(s), by the run's mask rule
        (:meth:`~sltsim.search.backend.Backend.peek_masks`: the masks of the last step
        stay as they were, and no history counts z(s)).
    rate : lambda in [0, 1].
    rng : the generator the Bernoulli draws and the new weights come from, tensor by
        tensor: the Bernoulli draws of a tensor, then its new weights.

    Returns
    -------
    redrawn : per searched tensor, a (size,) bool array, True where theta0 was redrawn;
        always a subset of the edges that z(s) masks.
    """
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate must be in [0, 1], got {rate}")
    config = backend.config
    init = WEIGHT_INITS[config.weight_init]
    redrawn = []
    for i, (t, z) in enumerate(zip(backend.searched, backend.peek_masks())):
        chosen = ~z & (rng.random(t.size) < rate)
        n = int(np.count_nonzero(chosen))
        if n:
            backend.redraw_weights(i, chosen, init((n,), t.fan_in, config.final_prune_rate, rng))
        redrawn.append(chosen)
    return redrawn


class IteRand(EdgePopup):
    """EP plus a redraw of the pruned weights every ``iterand_period`` steps (raw ranking as released).

    raw: a redraw before step j (1-based) whenever j is a multiple of ``period``, for the
    steps that exist; abs: a redraw after every ``period``-th update.
    """

    name = "iterand"
    description = ("IteRand (Chijiwa et al. 2021) as released: raw-score mask, identity straight-through, "
                   "and before every K-th step each pruned weight is redrawn with probability lambda")
    options = ("iterand_period", "iterand_rate", "iterand_ranking")

    def method_inits(self, config) -> dict:
        """The initialisers that replace the config's defaults while ``method_inits`` is on."""
        return {"score_init": "kaiming_uniform_relu"} if config.iterand_ranking == "raw" else {}

    def prepare(self, backend) -> None:
        if backend.config.iterand_ranking == "raw":
            backend.use_raw_ranking()  # kept after the run: the final masks rank the raw scores too

    def initial_state(self, backend) -> dict:
        return {"events": 0, "redrawn": 0}

    def start_cycle(self, backend, cycle: int, state: dict, cycles: list):
        config = backend.config
        if config.iterand_ranking == "raw" and config.iterand_period == 1 and _total(backend) > 0:
            _redraw(backend, state)  # before step 1
        return None

    def after_step(self, backend, state: dict, cycle) -> None:
        config, done = backend.config, cycle.step
        if config.iterand_ranking == "raw":
            due = done < _total(backend) and (done + 1) % config.iterand_period == 0
        else:
            due = done % config.iterand_period == 0
        if due:
            _redraw(backend, state)

    def end_cycle(self, backend, cycle: int, state: dict, result) -> dict:
        n_searched = sum(t.size for t in backend.searched)
        # redrawn_weights counts every redraw (an edge redrawn twice counts twice)
        return {"rerandomizations": state["events"], "redrawn_weights": state["redrawn"],
                "redraws_per_edge": state["redrawn"] / max(n_searched, 1)}


def _total(backend) -> int:
    return backend.config.epochs * backend.steps_per_epoch()


def _redraw(backend, state: dict) -> None:
    chosen = rerandomize(backend, backend.config.iterand_rate, backend.rngs["method"])
    state["events"] += 1
    state["redrawn"] += int(sum(np.count_nonzero(c) for c in chosen))
