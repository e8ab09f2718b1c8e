"""Multicoated supermasks with the released defaults (yasu0001/multicoated-supermasks): scaled
signed constant weights from the outer coat, Kaiming-normal fan_out scores, and the coats of
the release's configuration when no --coats are given."""

from __future__ import annotations

import math

import numpy as np

from sltsim.config import RunConfig
from sltsim.search import run_search
from sltsim.search.numpy_backend import build_search
from sltsim.search.multicoat import DEFAULT_COATS

TINY = dict(data="digits", model="mlp:64,16,10", epochs=1)


def test_defaults_resolve_to_the_released_inits_and_coats():
    config = RunConfig(method="multicoat", prune_rate=0.7, **TINY)
    assert (config.weight_init, config.score_init) == ("scaled_signed_constant", "kaiming_normal_fan_out")
    assert DEFAULT_COATS == (0.9212, 0.9685)  # configs/imagenet/resnet50-linear-0.7-3.py: 0.7, 0.9212, 0.9685
    record = run_search(config)
    assert record["cycles"][0]["coat_prune_rates"] == [0.7, 0.9212, 0.9685]
    literal = RunConfig(method="multicoat", method_inits=False, **TINY)
    assert (literal.weight_init, literal.score_init) == ("signed_kaiming_constant", "kaiming_uniform")
    chosen = RunConfig(method="multicoat", weight_init="kaiming_normal", score_init="normal", **TINY)
    assert (chosen.weight_init, chosen.score_init) == ("kaiming_normal", "normal")  # explicit choices stay
    assert "weight_init" not in config.non_default() and "score_init" not in config.non_default()


def test_weights_are_signed_constants_scaled_by_the_outer_coat():
    k = 0.6
    search = build_search(RunConfig(method="multicoat", prune_rate=k, model="conv2", data="digits"))
    for p in search.searched:
        expected = math.sqrt(2.0) / math.sqrt(p.fan_in * (1.0 - k))  # gain / sqrt(fan_in (1 - k_1))
        np.testing.assert_allclose(np.abs(p.theta0), expected, rtol=1e-6)
        assert 0.4 < float((p.theta0 > 0).mean()) < 0.6


def test_scores_are_kaiming_normal_with_fan_out():
    search = build_search(RunConfig(method="multicoat", model="conv2", data="digits"))
    checked = 0
    for p in search.searched:
        shape = p.shape
        fan_out = shape[0] * int(np.prod(shape[2:])) if len(shape) > 2 else shape[0]  # C_out * kh * kw, or out
        if p.size < 5000:
            continue
        ratio = float(p.scores.astype(np.float64).var()) / (2.0 / fan_out)
        assert abs(ratio - 1) < 0.1, (p.name, ratio)
        checked += 1
    assert checked >= 2
