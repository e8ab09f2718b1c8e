"""Recovery statistics (sltsim.metrics.recovery) against references written out edge by edge in
tests/naive.py: enrichment from the masks, the chance recall by enumerating every mask with the
same per-layer counts, and 1 - R^2 by loops."""

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sltsim.metrics.planted import fn_tn_counts
from sltsim.metrics.recovery import above_chance, enrichment, recall_chance, unexplained
from tests.naive import naive_enrichment, naive_recall_chance, naive_unexplained
from tests.strategies import float64_arrays


@st.composite
def dying_and_ticket(draw, max_layers: int = 3, max_size: int = 30):
    sizes = draw(st.lists(st.integers(1, max_size), min_size=1, max_size=max_layers))
    dying = [draw(hnp.arrays(np.bool_, n)) for n in sizes]
    ticket = [draw(hnp.arrays(np.bool_, n)) for n in sizes]
    return dying, ticket


@given(dying_and_ticket())
def test_enrichment_matches_the_shares_counted_edge_by_edge(case):
    dying, ticket = case
    fn, tn = fn_tn_counts(dying, ticket)
    n_ticket, n_total = sum(int(t.sum()) for t in ticket), sum(t.size for t in ticket)
    got, want = enrichment(int(fn.sum()), int(tn.sum()), n_ticket, n_total), naive_enrichment(dying, ticket)
    if math.isnan(want):
        assert math.isnan(got)
    else:
        assert got == pytest.approx(want, rel=1e-12)


def test_enrichment_is_one_when_p_and_the_rest_die_at_the_same_rate():
    ticket = [np.array([1, 1, 0, 0, 0, 0], bool)]
    dying = [np.array([1, 0, 1, 0, 1, 0], bool)]  # half of P, half of the rest
    fn, tn = fn_tn_counts(dying, ticket)
    assert enrichment(int(fn[0]), int(tn[0]), 2, 6) == 1.0 == naive_enrichment(dying, ticket)


@st.composite
def tiny_tickets(draw):
    # every mask with the per-layer counts is enumerated: keep the layers tiny
    sizes = draw(st.lists(st.integers(1, 6), min_size=1, max_size=2))
    ticket = [draw(hnp.arrays(np.bool_, n)) for n in sizes]
    if not any(t.any() for t in ticket):
        ticket[0][0] = True
    kept = [draw(st.integers(0, n)) for n in sizes]
    return ticket, kept


@given(tiny_tickets())
def test_recall_chance_is_the_mean_recall_of_every_mask_with_the_same_counts(case):
    ticket, kept = case
    chance = recall_chance([int(t.sum()) for t in ticket], kept, [t.size for t in ticket])
    assert chance == pytest.approx(naive_recall_chance(ticket, kept), rel=1e-12, abs=1e-15)


def test_recall_above_chance_is_zero_at_chance_and_one_at_full_recall():
    assert above_chance(0.25, 0.25) == 0.0 and above_chance(1.0, 0.25) == 1.0
    assert above_chance(0.0, 0.5) == -1.0  # a mask that avoids P scores below chance
    assert above_chance(None, 0.3) is None and math.isnan(above_chance(1.0, 1.0))


@given(st.integers(1, 6), st.integers(1, 4), st.data())
def test_unexplained_matches_the_loops(n, d, data):
    target = data.draw(float64_arrays((n, d)))
    predicted = data.draw(float64_arrays((n, d)))
    got, want = unexplained(predicted, target), naive_unexplained(predicted, target)
    if np.ptp(target, axis=0).max() == 0:  # constant targets: R^2 is undefined
        assert math.isnan(got) and math.isnan(want)
        return
    assume(target.var(axis=0).sum() > 1e-6)  # away from the cancellation of a near-constant target
    assert got == pytest.approx(want, rel=1e-9)
    assert unexplained(target, target) == 0.0
    assert unexplained(np.broadcast_to(target.mean(axis=0), target.shape), target) == pytest.approx(1.0)
