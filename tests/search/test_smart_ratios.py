"""Smart ratios by architecture family (Su et al. 2020, pruner/SmartRatio.py): the ResNet rule,
the rule divided by l^2 for every other network, greedy overflow into later layers. The tables
are computed in exact rational arithmetic (tests/naive.py), or by hand in the comments."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from sltsim.config import RunConfig
from sltsim.search import METHODS
from sltsim.search.numpy_backend import build_search
from sltsim.search.random_ticket import architecture_family, smart_keep_counts, smart_keep_ratios
from tests.naive import naive_keep_count, naive_smart_keep_ratios
from tests.strategies import prune_rates


def test_conv4_table_of_the_issue():
    # conv4 on 3x16x16 inputs, 10 classes, at k = 0.9: the per-layer keep ratios of Su et al.'s
    # rule for a non-ResNet (divided by l^2), with the first layer's excess pushed into the second
    sizes = [3 * 64 * 9, 64 * 64 * 9, 64 * 128 * 9, 128 * 128 * 9, 128 * 4 * 4 * 256, 256 * 256, 256 * 10]
    got = smart_keep_ratios(sizes, 0.9, "plain")
    np.testing.assert_allclose(np.round(got, 3), [1.0, 0.895, 0.239, 0.09, 0.034, 0.012, 0.3])
    np.testing.assert_allclose(got, naive_smart_keep_ratios(sizes, 0.9, resnet=False), rtol=1e-12)


@pytest.mark.parametrize("k", [0.5, 0.8, 0.9, 0.95])
def test_conv4_on_digits_matches_the_exactnaive_smart_keep_ratios(k):
    search = build_search(RunConfig(model="conv4", data="digits"))
    sizes = [p.size for p in search.searched]
    assert architecture_family("conv4") == "plain"
    np.testing.assert_allclose(smart_keep_ratios(sizes, k, "plain"), naive_smart_keep_ratios(sizes, k, resnet=False), rtol=1e-12)
    np.testing.assert_allclose(smart_keep_ratios(sizes, k, "resnet"), naive_smart_keep_ratios(sizes, k, resnet=True), rtol=1e-12)


def test_mlp_table_by_hand():
    sizes = [16384, 65536, 2560]  # mlp:64,256,256,10
    # k = 0.8 keeps 16896, the last layer 768; weights 12 / 1 and 6 / 4 = 1.5:
    # c = 16128 / (12 * 16384 + 1.5 * 65536) = 0.0546875, so 12c and 1.5c
    np.testing.assert_allclose(smart_keep_ratios(sizes, 0.8), [0.65625, 0.08203125, 0.3], rtol=1e-12)
    # the ResNet rule does not divide: 12c' and 6c', c' = 16128 / 589824
    np.testing.assert_allclose(smart_keep_ratios(sizes, 0.8, "resnet"), [0.328125, 0.1640625, 0.3], rtol=1e-12)
    # k = 0.1 keeps 76032: the first layer would keep 3.0625, so it keeps all and the second
    # takes the rest, (76032 - 768 - 16384) / 65536
    np.testing.assert_allclose(smart_keep_ratios(sizes, 0.1), [1.0, 0.8984375, 0.3], rtol=1e-12)


def test_overflow_cascades_over_several_layers():
    sizes = [100, 100, 100, 10000, 100]
    got = smart_keep_ratios(sizes, 0.5)
    np.testing.assert_allclose(got, naive_smart_keep_ratios(sizes, 0.5, resnet=False), rtol=1e-12)
    assert got[:3].tolist() == [1.0, 1.0, 1.0] and got[3] < 1


@given(st.lists(st.integers(10, 5000), min_size=2, max_size=7), prune_rates, st.booleans())
def test_ratios_match_the_reference_and_the_budget(sizes, k, resnet):
    budget = naive_keep_count(sum(sizes), k)
    assume(0.3 * sizes[-1] <= budget <= 0.3 * sizes[-1] + sum(sizes[:-1]))
    family = "resnet" if resnet else "plain"
    ratios = smart_keep_ratios(sizes, k, family)
    np.testing.assert_allclose(ratios, naive_smart_keep_ratios(sizes, k, resnet), rtol=1e-9, atol=1e-12)
    assert np.all(np.diff(ratios[:-1]) <= 1e-12) and np.all((ratios > 0) & (ratios <= 1))
    try:
        counts = smart_keep_counts(sizes, k, family)
    except ValueError as e:
        assert "keep no edge" in str(e)
        return
    assert int(counts.sum()) == budget and np.all(np.abs(counts - ratios * np.asarray(sizes)) < 1 + 1e-9)


def test_families():
    assert [architecture_family(m) for m in ("resnet8", "resnet20", "resnet18", "wide_resnet50_2")] == ["resnet"] * 4
    assert [architecture_family(m) for m in ("conv2", "conv6", "mlp:64,16,10")] == ["plain"] * 3
    with pytest.raises(ValueError, match="family must be one of resnet, plain; got 'vgg'"):
        smart_keep_ratios([10, 10], 0.5, "vgg")


def test_random_smart_uses_the_family_of_its_model():
    config = RunConfig(method="random-smart", model="conv4", data="digits", prune_rate=0.9)
    search = build_search(config)
    METHODS["random-smart"].run(search)
    search.select()
    sizes = [p.size for p in search.searched]
    assert [int(p.mask.sum()) for p in search.searched] == smart_keep_counts(sizes, 0.9, "plain").tolist()
    assert smart_keep_counts(sizes, 0.9, "plain").tolist() != smart_keep_counts(sizes, 0.9, "resnet").tolist()
