"""Multicoated supermasks: several thresholds on |s|, each weight scaled by the coats it passes.

Okoshi, Garcia-Arias, Hirose, Kawamura, Van Chu, Motomura and Yu, "Multicoated
Supermasks Enhance Hidden Networks" (ICML 2022, PMLR 162). A supermask with N
coats ranks the edges of a layer by |s| once and applies N nested top-k cuts at
increasing prune rates k_1 < k_2 < ... < k_N. With the paper's *linear* option
(the one the Soft iEP paper uses in its Fig. 4a, with N = 3), the multiplier of an
edge is the number of coats it passes, c = #{j : edge in the top-(1 - k_j) of |s|}
in {0, ..., N}, and the layer uses

    w_eff = c * theta0                                                    (1)

(released code, yasu0001/multicoated-supermasks ``src/custom_conv.py``,
``MultiLevelHN``: the mask is a sum of one step function of |s| per coat). Each
coat's step function passes its gradient straight through (``bw_scale`` = 1 in all
their experiments), so the N coats add up in backward:

    dL/ds = N * sign(s) * theta0 * dL/dw_eff                              (2)

(N = 1 is EP's straight-through estimator).

Defaults as released (``src/custom_init.py``), while ``method_inits`` is on:

- weights: scaled signed constant, theta0 = +-sqrt(2) / sqrt(fan_in * (1 - k_1))
  (``sign_init``: the sign of the weight times a per-layer scale computed from the
  outer coat's prune rate), our ``scaled_signed_constant`` at k_1;
- scores: Kaiming normal with fan_out and the ReLU gain, N(0, 2 / fan_out)
  (``ScoreKaiming``), our ``kaiming_normal_fan_out``;
- coats: without ``--coats`` the inner coats are :data:`DEFAULT_COATS`, those of the
  one configuration the release ships (``configs/imagenet/resnet50-linear-0.7-3.py``:
  prune rates 0.7, 0.9212, 0.9685, three linear coats).

In sltsim the outer coat is the run's ``prune_rate`` k_1 = k: its support is the
ticket (the record's ``prune_rate``, dying ratio and parameter count are those
of EP at k), and ``--coats k_2,...,k_N`` lists the inner coats' prune rates,
strictly increasing and each above k; the record's ``coat_prune_rates`` lists the
coats used. Every coat is ranked within its layer, as in the paper (global top-k is
refused). Ties at a threshold are kept in index order, as in
:func:`sltsim.engine.supermask.select`, so the coats are nested, and coat j masks
exactly ``floor(k_j n + 0.5)`` edges (the release's ``percentile`` masks
``1 + floor(k_j (n - 1))`` when the scores are distinct: at most one edge apart).
The cycle summary's ``mean_multiplier_of_kept`` is the mean c over the edges of the
final mask (the one the record evaluates). The coats themselves are the backend's
(:meth:`~sltsim.search.backend.Backend.use_coats`: :mod:`sltsim.engine.coats` on the
engine, :func:`sltsim.torch_backend.supermask.coat_multipliers` on torch).
"""

from __future__ import annotations

import numpy as np

from sltsim.search.ep import EdgePopup

DEFAULT_COATS = (0.9212, 0.9685)


def coats_of(config) -> tuple:
    """The inner coats' prune rates a multicoat run uses: ``config.coats``, or :data:`DEFAULT_COATS`."""
    return tuple(config.coats) if config.coats else DEFAULT_COATS


class MultiCoat(EdgePopup):
    """EP with a multicoated supermask (linear option): one cycle, coats k, *coats."""

    name = "multicoat"
    description = ("multicoated supermask (Okoshi et al. 2022, linear): w = (coats passed) * theta0, "
                   f"outer coat at k, inner coats at --coats (default {DEFAULT_COATS[0]},{DEFAULT_COATS[1]})")
    options = ("coats",)

    def method_inits(self, config) -> dict:
        """The released inits, used where the config keeps the EP defaults (``method_inits``)."""
        return {"weight_init": "scaled_signed_constant", "score_init": "kaiming_normal_fan_out"}

    def validate(self, config) -> None:
        super().validate(config)
        coats = coats_of(config)
        if coats[0] <= config.prune_rate:
            which = "coats" if config.coats else f"the default coats {DEFAULT_COATS} (no --coats given)"
            raise ValueError(f"{which} must each exceed prune_rate {config.prune_rate} (the outer coat), "
                             f"got {coats!r}")
        if config.global_topk:
            raise ValueError("method multicoat ranks each layer separately: global_topk must be false, got True")

    def prepare(self, backend) -> None:
        backend.use_coats(coats_of(backend.config))  # kept: the record's final masks use the coats too

    def end_cycle(self, backend, cycle: int, state: dict, result) -> dict:
        """The coats of the final scores' mask (the ticket the record evaluates)."""
        counts = backend.coat_multipliers()
        kept = sum(int(np.count_nonzero(c)) for c in counts)
        return {"coat_prune_rates": [backend.config.prune_rate, *coats_of(backend.config)],
                "mean_multiplier_of_kept": sum(int(c.sum()) for c in counts) / max(kept, 1)}
