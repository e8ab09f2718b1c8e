"""Method options: each method declares the RunConfig fields it owns; every other method refuses them."""

from __future__ import annotations

import pytest

from sltsim import registry
from sltsim.config import RunConfig, method_options
from sltsim.search.ep import EdgePopup


class _RestartEP(EdgePopup):
    name = "test-restart-ep"
    options = ("iterand_rate",)  # shares an option with iterand


class _BadOption(EdgePopup):
    name = "test-bad-option"
    options = ("no_such_field",)


@pytest.fixture
def registered():
    added = []

    def add(method):
        registry.register(registry.METHODS, method.name, method)
        added.append(method.name)
        return method

    yield add
    for name in added:
        del registry.METHODS[name]


def test_the_methods_own_their_options():
    assert method_options() == {"iterand_period": ["iterand"], "iterand_rate": ["iterand"],
                                "iterand_ranking": ["iterand"], "coats": ["multicoat"]}
    with pytest.raises(ValueError, match="^coats applies to method multicoat only, got coats=\\(0.7,\\) with method iterand$"):
        RunConfig(method="iterand", coats=(0.7,))
    assert RunConfig(method="multicoat", coats=(0.7,)).coats == (0.7,)


def test_a_new_method_declares_its_options_in_its_own_class(registered):
    registered(_RestartEP())
    assert RunConfig(method="test-restart-ep", iterand_rate=0.3).iterand_rate == 0.3
    with pytest.raises(ValueError, match="^iterand_rate applies to methods iterand, test-restart-ep only, "
                                         "got iterand_rate=0.3 with method ep$"):
        RunConfig(iterand_rate=0.3)
    with pytest.raises(ValueError, match="iterand_period applies to method iterand only"):
        RunConfig(method="test-restart-ep", iterand_period=5)


def test_an_option_that_is_no_field_is_refused(registered):
    registered(_BadOption())
    with pytest.raises(ValueError, match="method test-bad-option declares option 'no_such_field'"):
        RunConfig()
