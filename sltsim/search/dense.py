"""The dense baseline: weights trained by SGD, pruned by magnitude to the ticket's size.

The paper compares strong tickets with "dense networks trained by the standard
gradient descent over weights" at a similar number of parameters (Sec. 4.2,
Fig. 3a). Here, at the same number of remaining parameters as EP at k, by
one-shot magnitude pruning with fine-tuning (Han et al. 2015, "Learning both
weights and connections for efficient neural networks"), learning rate rewound
for the fine-tuning phase as in Renda et al. (2020), "Comparing rewinding and
fine-tuning in neural network pruning". The exact protocol:

1. *dense*: every edge kept (prune rate 0); theta0 (drawn by ``--weight-init``) is
   trained by SGD (:class:`~sltsim.engine.optim.SGD` with ``target="weights"``:
   the same momentum, Nesterov and weight decay flags as the scores of EP) for
   ``epochs`` epochs at the config's learning-rate schedule. Frozen biases and
   unsearched layers are trained too: this is ordinary dense training.
2. *prune*: the scores are set to |theta| and each searched layer keeps its top
   ``n - floor(k n + 0.5)`` by magnitude (one global magnitude threshold with
   ``--global-topk``), with :func:`~sltsim.engine.supermask.select`'s tie rule:
   exactly EP's per-layer edge count.
3. *fine-tune*: the mask is fixed (the scores are no longer updated), the momentum
   is reset and the kept weights train for another ``epochs`` epochs with the
   schedule restarted. Masked weights receive updates to their theta0 but never
   enter w_eff = m * theta0, so the network keeps exactly the stated count.

The dense baseline so costs twice the epochs of EP. The record's cycles are the
two phases; its dying ratio is that of the fine-tuning phase, whose mask never
changes: d = k and k - d = 0 by Eq. 2 (no edge outside the magnitude mask is
ever tried), as for a random ticket.
"""

from __future__ import annotations

import numpy as np

from sltsim.engine.optim import SGD, SGDConfig
from sltsim.search.ep import EdgePopup
from sltsim.search.loop import Search, run_cycle, set_prune_rate


class DenseBaseline:
    """Dense SGD on the weights, magnitude pruning to k per layer, fine-tuning with the mask fixed."""

    name = "dense"
    description = ("dense weights trained by SGD, pruned by magnitude to k per layer, then fine-tuned "
                   "with the mask fixed (2 x epochs)")

    def validate(self, config) -> None:
        EdgePopup.validate(self, config)

    def final_prune_rate(self, config) -> float:
        return config.prune_rate

    def run(self, search: Search, progress: bool = False) -> list:
        config = search.config
        scores_optimizer = search.optimizer
        search.optimizer = SGD(search.params, SGDConfig(config.momentum, config.weight_decay, config.nesterov),
                               target="weights")
        try:
            set_prune_rate(search, 0.0)
            dense = run_cycle(search, config.epochs, progress=progress, desc="dense")
            magnitude_prune(search, config.prune_rate)
            search.optimizer.reset_state()
            finetune = run_cycle(search, config.epochs, progress=progress, desc="fine-tune")
        finally:
            search.optimizer = scores_optimizer
        dense.extra["phase"] = "dense"
        finetune.extra["phase"] = "fine-tune"
        return [dense, finetune]


def magnitude_prune(search: Search, prune_rate: float) -> None:
    """Rank every searched edge by its current |theta|: scores = |theta0|, prune rate k.

    The next :func:`~sltsim.engine.supermask.select` keeps the top-(1-k) |theta| per
    layer (or globally when the search is global); nothing updates the scores after
    this, so that mask stays fixed.
    """
    for p in search.searched:
        np.abs(p.theta0, out=p.scores)
    set_prune_rate(search, prune_rate)
