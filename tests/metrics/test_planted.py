"""Planted metrics: the exact fn/tn split, recovery of P, alignment of hidden units."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sltsim.config import RunConfig
from sltsim.engine.models import build_model
from sltsim.engine.supermask import select
from sltsim.init import initialise_weights
from sltsim.metrics.history import MaskHistory
from sltsim.metrics.planted import (align_units, aligned_counts, alignment, fn_tn_counts, planted_metrics,
                                    teacher_agreement)
from sltsim.search.driver import summarise
from sltsim.search.loop import run_cycle
from sltsim.search.numpy_backend import build_search
from sltsim.ticket import draw_ticket
from tests.naive import naive_fn_tn, naive_keep_count
from tests.strategies import seeds

PLANTED = dict(data="planted", model="mlp:16,32,32,10", n_train=256, n_test=256, batch_size=64)


@st.composite
def masks_and_tickets(draw):
    sizes = draw(st.lists(st.integers(1, 60), min_size=1, max_size=4))
    dying = [draw(hnp.arrays(np.bool_, n)) for n in sizes]
    ticket = [draw(hnp.arrays(np.uint8, n, elements=st.integers(0, 1))) for n in sizes]
    return dying, ticket


@given(masks_and_tickets())
def test_fn_plus_tn_is_dying(case):
    dying, ticket = case
    fn, tn = fn_tn_counts(dying, ticket)
    naive_fn, naive_tn = naive_fn_tn(dying, ticket)
    assert fn.tolist() == naive_fn and tn.tolist() == naive_tn
    for d, f, n in zip(dying, fn, tn):
        assert f + n == d.sum()


def test_fn_tn_refuses_mismatched_layers():
    with pytest.raises(ValueError, match="3 edges but ticket mask 4"):
        fn_tn_counts([np.ones(3, bool)], [np.ones(4)])


@given(seed=seeds, steps=st.integers(1, 12))
def test_fn_tn_fractions_sum_to_the_history_dying_ratio(seed, steps):
    rng = np.random.default_rng(seed)
    model = build_model("mlp:6,9,4", (6,), 4)
    for p in model.params:
        p.prune_rate = 0.7
    initialise_weights(model.params, "kaiming_normal", 0.7, rng)
    ticket = draw_ticket(model.params, 0.3, 1.0, rng)
    history = MaskHistory(model.params, steps)
    for _ in range(steps):
        for p in model.params:
            p.scores[...] = rng.standard_normal(p.shape)
        select(model.params, False, history)
    fn, tn = fn_tn_counts(history.dying_masks(), [ticket.masks[p.name] for p in model.params])
    assert (fn.sum() + tn.sum()) / history.sizes.sum() == pytest.approx(history.dying_ratio(), abs=1e-12)


def _perfect_search(**changes):
    """Scores put exactly P on top (|s| >= 0.6 on P, <= 0.4 elsewhere) and
    k = 1 - r, so each layer's keep count is |P|; lr 0 keeps them there."""
    config = RunConfig(**{**PLANTED, **changes, "ticket_remaining": 0.1, "prune_rate": 0.9, "lr": 0.0})
    search = build_search(config)
    rng = np.random.default_rng(0)
    for p in search.searched:
        P = search.ticket.masks[p.name]
        assert P.sum() == naive_keep_count(p.size, p.prune_rate)
        p.scores[...] = P + rng.uniform(0.0, 0.4, p.shape) * rng.choice([-1, 1], p.shape)
    return search


@pytest.mark.parametrize("task, changes", [
    ("classification", {}), ("regression", {}), ("classification", {"plant": "neuron"}),
    ("classification", {"model": "conv2", "n_train": 64, "n_test": 64, "batch_size": 32}),
])
def test_scores_on_p_reach_the_teacher_exactly(task, changes):
    search = _perfect_search(task=task, **changes)
    cycle = run_cycle(search, 2)
    record = summarise(search, [cycle])
    assert record["teacher_agreement"] == 1.0
    assert record["recall"] == 1.0 and record["precision"] == 1.0 and record["aligned_recall"] == 1.0
    assert 0.1 < record["aligned_recall_chance"] < 0.5  # M = P: the density of P among the kept units
    assert record["false_negative_dying"] == 0.0 and record["ticket_dying_ratio"] == 0.0
    assert record["true_negative_dying"] == pytest.approx(record["dying_ratio"], abs=1e-12)
    assert record["dying_ratio"] == pytest.approx(0.9, abs=2e-3)
    hist = record["first_selected_histogram"]
    n_P = sum(layer["ticket_edges"] for layer in record["planted_per_layer"].values())
    assert hist["counts"][0] == n_P and sum(hist["counts"]) == n_P and hist["never"] == 0
    assert hist["bin_upper_step"][0] == 1 and hist["bin_upper_step"][-1] == cycle.history.step
    if task == "classification":
        assert record["test_acc"] == 1.0


def test_first_selection_histogram_and_fn_split_after_training():
    search = build_search(RunConfig(**PLANTED, epochs=3, prune_rate=0.6))
    cycle = run_cycle(search, 3)
    record = summarise(search, [cycle])
    hist = record["first_selected_histogram"]
    steps = hist["bin_upper_step"]
    assert steps == sorted(steps) and steps[:3] == [1, 2, 4] and steps[-1] == 3 * 4
    n_P = sum(layer["ticket_edges"] for layer in record["planted_per_layer"].values())
    assert sum(hist["counts"]) + hist["never"] == n_P
    n = sum(p.size for p in search.searched)
    assert record["false_negative_dying"] * n == pytest.approx(hist["never"])
    assert record["false_negative_dying"] + record["true_negative_dying"] == pytest.approx(record["dying_ratio"], abs=1e-12)
    for layer in record["planted_per_layer"].values():
        assert layer["false_negative_dying"] + layer["true_negative_dying"] <= 0.6 + 1e-9


def test_metrics_without_history():
    search = _perfect_search(track_history=False)
    cycle = run_cycle(search, 1)
    assert cycle.history is None
    record = summarise(search, [cycle])
    assert record["false_negative_dying"] is None and record["first_selected_histogram"] is None
    assert record["teacher_agreement"] == 1.0 and record["recall"] == 1.0
    assert planted_metrics(search, None)["aligned_recall"] == 1.0


@given(seed=seeds, w=st.integers(1, 12), extra=st.integers(0, 10))
def test_alignment_recovers_a_permutation(seed, w, extra):
    rng = np.random.default_rng(seed)
    teacher = rng.standard_normal((200, w))
    where = rng.permutation(w + extra)[:w]
    student = rng.standard_normal((200, w + extra))
    student[:, where] = 3.0 * teacher + 1.0  # correlation 1, any positive scale and shift
    np.testing.assert_array_equal(align_units(teacher, student), where)


def test_alignment_finds_a_student_that_uses_other_hidden_units():
    """A student whose mask is P moved onto other hidden units, with theta0 copied there,
    computes the teacher's function: plain recall 0, aligned recall 1."""
    rng = np.random.default_rng(5)
    model = build_model("mlp:10,16,16,4", (10,), 4)
    initialise_weights(model.params, "signed_kaiming_constant", 0.5, rng)
    ticket = draw_ticket(model.params, 0.2, 0.5, rng)
    perm = {}  # hidden group -> involution swapping the kept units with the others
    for group in ("hidden1", "hidden2"):
        kept = ticket.units[group]
        others = rng.permutation(np.setdiff1d(np.arange(16), kept))
        perm[group] = np.arange(16)
        perm[group][kept], perm[group][others] = others, kept
    ident = {"input": np.arange(10), "output": np.arange(4)}
    for link, p in zip(ticket.links, model.params):
        po, pi = {**ident, **perm}[link.out_group], {**ident, **perm}[link.in_group]
        P = ticket.masks[p.name] != 0
        M = np.zeros_like(P)
        M[np.ix_(po, pi)] = P  # M[po[o], pi[i]] = P[o, i]
        p.theta0[np.ix_(po, pi)] = np.where(P, p.theta0, p.theta0[np.ix_(po, pi)])
        p.mask[...] = M
        np.multiply(M, p.theta0, out=p.w_eff)
        assert not (M & P).any()
    X = rng.standard_normal((300, 10)).astype(np.float32)
    maps = alignment(model, ticket, X)
    for group in perm:
        np.testing.assert_array_equal(maps[group][ticket.units[group]], perm[group][ticket.units[group]])
    for p in model.params:
        hits, kept, block = aligned_counts(ticket, p.name, p.shape, ticket.masks[p.name], p.mask, maps)
        assert hits == kept == ticket.masks[p.name].sum()  # M holds only the aligned image of P
        assert block == p.mask[p.mask.any(axis=1)][:, p.mask.any(axis=0)].size
    p.mask[...] = 1  # a dense mask recalls everything, and so would chance
    assert aligned_counts(ticket, p.name, p.shape, ticket.masks[p.name], p.mask, maps)[1:] == (block, block)


def test_teacher_agreement():
    t = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 1.0]])
    assert teacher_agreement(t[:, ::-1], t, "classification") == pytest.approx(0.0)
    assert teacher_agreement(t, t, "classification") == 1.0
    assert teacher_agreement(t, t, "regression") == 1.0
    assert teacher_agreement(np.broadcast_to(t.mean(axis=0), t.shape), t, "regression") == pytest.approx(0.0)


# -- controls and nulls ---------------------------------------------------------------------
NULL = dict(data="planted", model="mlp:16,64,64,4", n_train=128, n_test=128, epochs=1, prune_rate=0.5)


@pytest.mark.parametrize("seed", range(4))
def test_a_search_blind_to_p_has_enrichment_one_and_fn_share_the_base_rate(seed):
    """random-uniform never looks at P: its dying edges are its masked ones, so the fn share
    of the dying edges is |P| / n and enrichment 1, within sampling error."""
    from sltsim.search import run_search

    record = run_search(RunConfig(**NULL, method="random-uniform", seed=seed))
    n = sum(layer["size"] for layer in record["planted_per_layer"].values())
    n_P = record["ticket_edges"]
    r, k = n_P / n, record["dying_ratio"]
    dying = k * n
    fn_share = record["false_negative_dying"] / record["dying_ratio"]
    # hypergeometric standard deviation of the share of P among the dying edges
    sd = np.sqrt(r * (1 - r) / dying * (n - dying) / (n - 1))
    assert abs(fn_share - r) < 4 * sd
    sd_enrichment = np.sqrt(k * (1 - k) / n_P) / k * 2  # share of P dying vs of the rest
    assert abs(record["enrichment"] - 1.0) < 4 * sd_enrichment
    assert abs(record["recall_above_chance"]) < 4 * np.sqrt(k * (1 - k) / n_P) / k
    assert record["recall_chance"] == pytest.approx(1 - k, abs=1e-3)


def test_start_overlap_places_exactly_q_of_p_in_the_first_mask_by_rearranging_s0():
    base = RunConfig(**{**NULL, "prune_rate": 0.875})
    random_start = build_search(base)
    for q in (0.0, 0.25, 0.9, 1.0):
        search = build_search(base.replace(start_overlap=q))
        hits = total = 0
        for p, p0 in zip(search.searched, random_start.searched):
            np.testing.assert_array_equal(np.sort(p.scores.reshape(-1)), np.sort(p0.scores.reshape(-1)))
            P = search.ticket.masks[p.name].reshape(-1) != 0
            top = np.argsort(-np.abs(p.scores.reshape(-1)))[: naive_keep_count(p.size, p.prune_rate)]
            assert np.count_nonzero(P[top]) == int(np.floor(q * P.sum() + 0.5))
            hits, total = hits + np.count_nonzero(P[top]), total + P.sum()
        assert search.ticket.start_recall == pytest.approx(hits / total)
        np.testing.assert_array_equal(search.data.y_train, random_start.data.y_train)  # no other draw moved
    assert abs(random_start.ticket.start_recall - 0.125) < 0.05  # a random start holds about 1 - k of P


def test_the_positive_control_discriminates():
    """Started from P (q = 1) EP stays there: loss 0, so no gradient. From a random start it does not."""
    from sltsim.search import run_search

    base = RunConfig(data="planted", model="mlp:16,64,4", prune_rate=0.875, n_train=1000, n_test=500, epochs=4)
    at_p = run_search(base.replace(start_overlap=1.0))
    random_start = run_search(base)
    assert at_p["recall"] == 1.0 and at_p["aligned_recall"] == 1.0 and at_p["enrichment"] == 0.0
    assert at_p["train_unexplained"] == pytest.approx(0.0, abs=1e-10) and at_p["dying_ratio"] == pytest.approx(0.875, abs=1e-3)
    assert random_start["recall"] < 0.6 and random_start["enrichment"] > 0.5
    assert random_start["train_unexplained"] > 0.05


def _replica_search():
    """A feasible planted search whose final mask is P with one ticket unit u's edges moved
    onto a unit v outside the ticket, theta0 copied there: v is an exact replica of u and
    the student computes the teacher exactly."""
    search = build_search(RunConfig(data="planted", model="mlp:10,16,16,4", prune_rate=0.8, n_train=64,
                                    n_test=256, track_history=False))
    ticket = search.ticket
    kept = ticket.units["hidden1"]
    v = int(np.setdiff1d(np.arange(16), kept)[0])
    u = int(kept[kept > v][0])  # v before u: a tie broken by column order alone would pick v
    by_name = {p.name: p for p in search.params}
    fc1, fc2 = by_name["fc1.weight"], by_name["fc2.weight"]
    P1, P2 = ticket.masks["fc1.weight"].copy(), ticket.masks["fc2.weight"].copy()
    fc1.theta0[v] = np.where(P1[u] != 0, fc1.theta0[u], fc1.theta0[v])
    fc2.theta0[:, v] = np.where(P2[:, u] != 0, fc2.theta0[:, u], fc2.theta0[:, v])
    P1[v], P1[u] = P1[u], 0
    P2[:, v], P2[:, u] = P2[:, u], 0
    for p in search.searched:
        M = {"fc1.weight": P1, "fc2.weight": P2}.get(p.name, ticket.masks[p.name])
        p.mask[...] = M
        np.multiply(M, p.theta0, out=p.w_eff)
    return search, u, v


def test_an_exact_replica_counts_as_recovered_aligned_and_missed_raw():
    from sltsim.ticket import count_replicas

    search, u, v = _replica_search()
    i = int(np.flatnonzero(search.ticket.units["hidden1"] == u)[0])
    assert count_replicas(search.params, search.ticket)["hidden1"][i] >= 1  # v now replicates u
    record = planted_metrics(search, None)
    assert record["teacher_agreement"] == pytest.approx(1.0, abs=1e-9)
    assert record["recall"] < 1.0 and record["aligned_recall"] == 1.0
    assert record["aligned_recall_above_chance"] == 1.0 > record["recall_above_chance"]


def test_with_a_replica_present_p_itself_still_aligns_to_itself():
    """Ties between a unit and its exact replica go to the unit: M = P scores aligned recall 1."""
    search, u, v = _replica_search()
    for p in search.searched:
        p.mask[...] = search.ticket.masks[p.name]
        if p.name == "fc1.weight":  # v computes u's activation too (its out-edges are not kept)
            p.mask[v] = p.mask[u]
        np.multiply(p.mask, p.theta0, out=p.w_eff)
    record = planted_metrics(search, None)
    assert record["recall"] == 1.0 and record["aligned_recall"] == 1.0
