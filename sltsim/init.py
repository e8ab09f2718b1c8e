"""Weight and score initialisers, by the names of the paper's Table 2.

Each initialiser fills an array of a :class:`~sltsim.engine.supermask.MaskedParam`'s
shape from a ``numpy.random.Generator``; draws are made in float64 and cast, so a
float32 and a float64 run of the same seed start from the same values up to rounding.

Constants follow Ramanujan et al. (2020), "What's hidden in a randomly weighted
neural network?": the signed Kaiming constant is sign * gain / sqrt(fan_in) with the
ReLU gain sqrt(2); the scaled variant divides by sqrt(1 - k) so that the kept
edges carry the variance of a dense layer; scores start from Kaiming uniform with
a = sqrt(5), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)). Two score inits are the released
defaults of other methods (``docs/methods.md``): ``kaiming_uniform_relu`` (IteRand) and
``kaiming_normal_fan_out`` (multicoated supermasks).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from sltsim import registry

RELU_GAIN = math.sqrt(2.0)

Init = Callable[[tuple, int, float, np.random.Generator], np.ndarray]


def _signs(shape, rng) -> np.ndarray:
    return np.where(rng.random(shape) < 0.5, -1.0, 1.0)


def signed_kaiming_constant(shape, fan_in, prune_rate, rng):
    """sign * sqrt(2) / sqrt(fan_in): the edge-popup default weight init."""
    return _signs(shape, rng) * (RELU_GAIN / math.sqrt(fan_in))


def scaled_signed_constant(shape, fan_in, prune_rate, rng):
    """Signed Kaiming constant divided by sqrt(1 - k) (Ramanujan et al.'s scale_fan)."""
    return signed_kaiming_constant(shape, fan_in, prune_rate, rng) / math.sqrt(1.0 - prune_rate)


def kaiming_normal(shape, fan_in, prune_rate, rng):
    """N(0, 2 / fan_in)."""
    return rng.standard_normal(shape) * (RELU_GAIN / math.sqrt(fan_in))


def kaiming_uniform(shape, fan_in, prune_rate, rng):
    """U(-b, b), b = sqrt(2) * sqrt(3 / fan_in): the same variance as Kaiming normal."""
    bound = RELU_GAIN * math.sqrt(3.0 / fan_in)
    return rng.uniform(-bound, bound, shape)


def uniform(shape, fan_in, prune_rate, rng):
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)): torch's nn.Linear default."""
    bound = 1.0 / math.sqrt(fan_in)
    return rng.uniform(-bound, bound, shape)


def score_kaiming_uniform(shape, fan_in, prune_rate, rng):
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)): kaiming_uniform_ with a = sqrt(5), the EP default."""
    return uniform(shape, fan_in, prune_rate, rng)


def score_normal(shape, fan_in, prune_rate, rng):
    """N(0, 2 / fan_in), the Kaiming normal scale."""
    return kaiming_normal(shape, fan_in, prune_rate, rng)


for _name, _init in (("signed_kaiming_constant", signed_kaiming_constant),
                     ("scaled_signed_constant", scaled_signed_constant), ("kaiming_normal", kaiming_normal),
                     ("kaiming_uniform", kaiming_uniform), ("uniform", uniform)):
    registry.register(registry.WEIGHT_INITS, _name, _init)
del _name, _init
#: ``weight_init`` names -> initialisers: :data:`sltsim.registry.WEIGHT_INITS` itself (one dict).
WEIGHT_INITS: dict[str, Init] = registry.WEIGHT_INITS

def fan_out(shape) -> int:
    """Outputs per input unit, as torch computes it: shape[0] times the receptive field
    (prod(shape[2:])) for a 2-d or larger tensor; a 1-d tensor (a bias) has fan_out 1."""
    shape = tuple(int(d) for d in shape)
    return shape[0] * math.prod(shape[2:]) if len(shape) >= 2 else 1


def score_kaiming_uniform_relu(shape, fan_in, prune_rate, rng):
    """U(-sqrt(6 / fan_in), sqrt(6 / fan_in)): kaiming_uniform_ with the ReLU gain (a = 0),
    IteRand's released score init (``init_mode_mask: kaiming_uniform``)."""
    return kaiming_uniform(shape, fan_in, prune_rate, rng)


def score_kaiming_normal_fan_out(shape, fan_in, prune_rate, rng):
    """N(0, 2 / fan_out): kaiming_normal_ with mode fan_out and the ReLU gain, the released
    multicoated-supermask score init (``ScoreKaiming``). Needs the tensor's shape, so it
    cannot draw a flat vector of a conv tensor's values."""
    return rng.standard_normal(shape) * (RELU_GAIN / math.sqrt(fan_out(shape)))


for _name, _init in (("kaiming_uniform", score_kaiming_uniform), ("normal", score_normal),
                     ("signed_constant", signed_kaiming_constant), ("scaled_signed_constant", scaled_signed_constant),
                     ("kaiming_uniform_relu", score_kaiming_uniform_relu),
                     ("kaiming_normal_fan_out", score_kaiming_normal_fan_out)):
    registry.register(registry.SCORE_INITS, _name, _init)
del _name, _init
#: ``score_init`` names -> initialisers: :data:`sltsim.registry.SCORE_INITS` itself (one dict).
SCORE_INITS: dict[str, Init] = registry.SCORE_INITS


def initialise_weights(params, name: str, prune_rate: float, rng: np.random.Generator) -> None:
    """Fill every param's theta0 (in order) with the named weight init.

    Frozen (unsearched) biases start from :func:`uniform`, as torch's layers do.
    """
    init = registry.get(WEIGHT_INITS, name, "weight_init")
    for p in params:
        fill = uniform if p.name.endswith(".bias") and not p.searched else init
        p.theta0[...] = fill(p.shape, p.fan_in, prune_rate, rng)
        np.copyto(p.w_eff, p.theta0)


def initialise_scores(params, name: str, prune_rate: float, rng: np.random.Generator) -> None:
    """Fill every searched param's scores (in order) with the named score init."""
    init = registry.get(SCORE_INITS, name, "score_init")
    for p in params:
        if p.searched:
            p.scores[...] = init(p.shape, p.fan_in, prune_rate, rng)
