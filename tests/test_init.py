"""The initialisers by name (sltsim.init): the stated scale of theta0, deterministic score draws."""

import math

import numpy as np
import pytest

from sltsim.engine.models import mlp
from sltsim.init import SCORE_INITS, WEIGHT_INITS, initialise_weights


@pytest.mark.parametrize("name", sorted(WEIGHT_INITS))
def test_weight_inits_have_the_stated_scale(name):
    model = mlp((400, 300, 10), dtype=np.float64)
    params = model.params
    initialise_weights(params, name, prune_rate=0.75, rng=np.random.default_rng(0))
    w = params[0].theta0
    gain_std = math.sqrt(2.0 / 400)
    expected_std = {"signed_kaiming_constant": gain_std, "scaled_signed_constant": gain_std / math.sqrt(0.25),
                    "kaiming_normal": gain_std, "kaiming_uniform": gain_std,
                    "uniform": 1 / math.sqrt(3 * 400)}[name]
    assert w.std() == pytest.approx(expected_std, rel=0.02)
    assert abs(w.mean()) < 0.05 * expected_std + 3 * expected_std / math.sqrt(w.size)
    if "constant" in name:
        assert np.unique(np.abs(w)).size == 1
    np.testing.assert_array_equal(params[0].w_eff, w)


@pytest.mark.parametrize("name", sorted(SCORE_INITS))
def test_score_inits_are_deterministic_per_seed(name):
    draws = [SCORE_INITS[name]((50, 20), 20, 0.5, np.random.default_rng(s)) for s in (0, 0, 1)]
    np.testing.assert_array_equal(draws[0], draws[1])
    assert not np.array_equal(draws[0], draws[2])


@pytest.mark.parametrize("score_name, weight_name", [
    ("kaiming_uniform", "uniform"),  # EP's score default is the narrow uniform, not the weight kaiming_uniform
    ("kaiming_uniform_relu", "kaiming_uniform"),
    ("normal", "kaiming_normal"),
    ("signed_constant", "signed_kaiming_constant"),
    ("scaled_signed_constant", "scaled_signed_constant"),
])
def test_the_glossary_table_of_score_and_weight_init_names(score_name, weight_name):
    draw = lambda init: init((64, 32), 32, 0.7, np.random.default_rng(5))  # noqa: E731
    np.testing.assert_array_equal(draw(SCORE_INITS[score_name]), draw(WEIGHT_INITS[weight_name]))
    if score_name == "kaiming_uniform":  # and the two inits named kaiming_uniform differ
        assert not np.array_equal(draw(SCORE_INITS["kaiming_uniform"]), draw(WEIGHT_INITS["kaiming_uniform"]))
