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

from sltsim.search.method import Method


class DenseBaseline(Method):
    """Dense SGD on the weights, magnitude pruning to k per layer, fine-tuning with the mask fixed."""

    name = "dense"
    description = ("dense weights trained by SGD, pruned by magnitude to k per layer, then fine-tuned "
                   "with the mask fixed (2 x epochs)")
    trains_weights = True

    def prune_rates(self, config) -> list[float]:
        return [0.0, config.prune_rate]

    def start_cycle(self, backend, cycle: int, state: dict, cycles: list):
        if cycle == 2:  # magnitude pruning: scores = |theta|, never updated again; momentum restarts
            backend.scores_from_weight_magnitudes()
            backend.reset_momentum()
        return None

    def end_cycle(self, backend, cycle: int, state: dict, result) -> dict:
        return {"phase": "dense" if cycle == 1 else "fine-tune"}
