"""Iterative edge-popup (Table 3): schedules, search spaces, score starts, learning rates,
per-cycle accounting, the searchable-restricted top-k and bad input."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sltsim.cli import main
from sltsim.config import RunConfig
from sltsim.engine.supermask import MaskedParam, select
from sltsim.metrics.history import MaskHistory
from sltsim.search import METHODS, run_search
from sltsim.search.numpy_backend import build_search
from sltsim.search.cycle_rates import from_config, geometric, towards
from tests.naive import naive_keep_count, naive_masked_count, naive_restricted_mask
from tests.strategies import prune_rates, score_vectors

HARD = ("hard-ft", "hard-srw", "hard-sri", "hard-lr")
SOFT = ("soft-lr", "soft-lr-zero", "soft-srw-zero")
TINY = dict(data="digits", model="mlp:64,16,10", epochs=1)


def _run(method, on_start=None, on_end=None, **changes):
    """Run ``method`` on a tiny digits MLP; returns (search, results, per-cycle captures)."""
    config = RunConfig(method=method, **{**TINY, "shrinkage": 0.5, "cycles": 3, **changes})
    search = build_search(config)
    captured = {"s0": [p.scores.copy() for p in search.searched], "start": {}, "end": {}}

    def start(s, i):
        captured["start"][i] = [p.scores.copy() for p in s.searched]
        if on_start is not None:
            on_start(s, i, captured)

    def end(s, i, result):
        captured["end"][i] = {"scores": [p.scores.copy() for p in s.searched],
                              "masks": [p.mask.reshape(-1).copy() for p in s.searched],
                              "ever": [e.copy() for e in result.history.ever]}
        if on_end is not None:
            on_end(s, i, result, captured)

    results = METHODS[method].run(search, on_cycle_start=start, on_cycle_end=end)
    return search, results, captured


# -- schedule -------------------------------------------------------------------------------


def test_geometric_and_towards_schedules():
    assert geometric(0.5, 3).prune_rates == (0.5, 0.75, 0.875)
    plan = towards(0.7, 3)
    assert plan.final_prune_rate == 0.7
    np.testing.assert_allclose(plan.remaining, [0.3 ** (1 / 3), 0.3 ** (2 / 3), 0.3])
    cfg = RunConfig(method="soft-lr", shrinkage=0.2, cycles=4)
    assert cfg.final_prune_rate == pytest.approx(1 - 0.8**4)
    # an explicit prune rate that agrees with the shrinkage is accepted
    assert from_config(RunConfig(method="hard-lr", shrinkage=0.5, cycles=3, prune_rate=0.875)).cycles == 3


@pytest.mark.parametrize("method", HARD + SOFT)
def test_every_cycle_masks_exactly_the_scheduled_count(method):
    search, results, cap = _run(method)
    plan = from_config(search.config)
    for i, (k, result) in enumerate(zip(plan.prune_rates, results), start=1):
        assert result.extra["cycle"] == i
        for p, m in zip(search.searched, cap["end"][i]["masks"]):
            assert p.size - int(m.sum()) == naive_masked_count(p.size, k)
            assert result.extra["n_masked"][p.name] == naive_masked_count(p.size, k)
        n = sum(p.size for p in search.searched)
        assert result.prune_rate == sum(naive_masked_count(p.size, k) for p in search.searched) / n


def test_prune_rate_route_reaches_the_target_exactly():
    search, results, cap = _run("soft-lr", shrinkage=None, cycles=2, prune_rate=0.9)
    for p, m in zip(search.searched, cap["end"][2]["masks"]):
        assert p.size - int(m.sum()) == naive_masked_count(p.size, 0.9)
    assert results[0].extra["n_masked"]["fc1.weight"] == naive_masked_count(64 * 16, 1 - 0.1**0.5)


# -- search space ---------------------------------------------------------------------------


def _boost_removed(s, i, captured):
    """At cycle 2, give the first 5 edges of fc1 outside m*_1 a huge score."""
    if i == 2:
        removed = np.flatnonzero(captured["end"][1]["masks"][0] == 0)[:5]
        captured["boosted"] = removed
        s.searched[0].flat("scores")[removed] = 10.0


@pytest.mark.parametrize("method", HARD)
def test_hard_never_selects_an_edge_removed_earlier(method):
    search, results, cap = _run(method, on_start=_boost_removed)
    for i in (2, 3):
        for ever, searchable in zip(cap["end"][i]["ever"], cap["end"][i - 1]["masks"]):
            assert not np.any(ever & (1 - searchable)), f"cycle {i} selected a removed edge"
    assert not cap["end"][2]["ever"][0][cap["boosted"]].any()
    assert all(r.extra["revived_ratio"] == 0 for r in results[1:])


def test_soft_can_select_an_edge_removed_earlier():
    search, results, cap = _run("soft-lr", on_start=_boost_removed)
    boosted = cap["boosted"]
    assert cap["end"][2]["ever"][0][boosted].all()
    assert cap["end"][2]["masks"][0][boosted].all()  # and they are in m*_2
    assert results[1].extra["revived_ratio"] > 0


# -- scores at cycle start ------------------------------------------------------------------


@pytest.mark.parametrize("method, source", [("soft-lr-zero", "end"), ("soft-srw-zero", "s0")])
def test_zero_init_zeroes_exactly_the_unselected_scores(method, source):
    search, results, cap = _run(method)
    for i in (2, 3):
        previous = cap["end"][i - 1]
        inherited = previous["scores"] if source == "end" else cap["s0"]
        for start, m, s in zip(cap["start"][i], previous["masks"], inherited):
            start = start.reshape(-1)
            np.testing.assert_array_equal(start, np.where(m == 1, s.reshape(-1), 0))
            np.testing.assert_array_equal(start == 0, m == 0)
        # the zeroed scores get no gradient: still 0 at the cycle end, never selected
        for end, ever, m in zip(cap["end"][i]["scores"], cap["end"][i]["ever"], previous["masks"]):
            assert np.all(end.reshape(-1)[m == 0] == 0)
            assert not np.any(ever[m == 0])


def test_score_rewinding_restores_s0_bit_for_bit():
    search, results, cap = _run("hard-srw")
    for i in (2, 3):
        for start, s0 in zip(cap["start"][i], cap["s0"]):
            assert start.tobytes() == s0.tobytes()
    assert cap["end"][1]["scores"][0].tobytes() != cap["s0"][0].tobytes()  # cycle 1 did train


def test_score_reinitialising_draws_fresh_scores_from_the_initialiser():
    search, results, cap = _run("hard-sri")
    _, _, again = _run("hard-sri")
    for i in (2, 3):
        for p, start, s0, prev, rerun in zip(search.searched, cap["start"][i], cap["s0"], cap["start"][i - 1],
                                             again["start"][i]):
            bound = 1 / math.sqrt(p.fan_in)  # kaiming_uniform scores: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
            assert np.all(np.abs(start) <= bound)
            assert np.mean(start == s0) < 0.01 and np.mean(start == prev) < 0.01
            assert abs(start.std() / (bound / math.sqrt(3)) - 1) < 0.25
            np.testing.assert_array_equal(start, rerun)  # deterministic per seed


@pytest.mark.parametrize("method", ["hard-lr", "soft-lr", "hard-ft"])
def test_inheriting_methods_start_from_the_previous_final_scores(method):
    search, results, cap = _run(method)
    for i in (2, 3):
        for start, prev in zip(cap["start"][i], cap["end"][i - 1]["scores"]):
            np.testing.assert_array_equal(start, prev)


# -- learning rate --------------------------------------------------------------------------


def _record_lrs(s, i, captured):
    """Record every lr the optimiser is stepped with, per cycle, and whether momentum starts at 0."""
    if i == 1:
        original = s.optimizer.step

        def recording(lr):
            captured["lrs"][captured["cycle"]].append(lr)
            original(lr)

        s.optimizer.step = recording
        captured["lrs"], captured["velocity_zero"] = {}, {}
    captured["cycle"] = i
    captured["lrs"][i] = []
    captured["velocity_zero"][i] = all(not v.any() for v in s.optimizer.velocity)


def test_fine_tuning_holds_the_previous_final_lr():
    search, results, cap = _run("hard-ft", on_start=_record_lrs, epochs=2)
    lrs = cap["lrs"]
    assert lrs[1][0] == search.config.lr and lrs[1][-1] < lrs[1][0]
    # per-epoch cosine over 2 epochs: the last epoch runs at lr * (1 + cos(pi / 2)) / 2
    assert lrs[1][-1] == pytest.approx(search.config.lr * 0.5 * (1 + math.cos(math.pi / 2)), rel=1e-12)
    for i in (2, 3):
        assert set(lrs[i]) == {results[i - 2].final_lr} == {lrs[1][-1]}
    assert all(cap["velocity_zero"].values())


def _ft_movement(granularity):
    """(largest relative score change, k - d among the searchable edges) of each FT cycle after the first."""
    search, results, cap = _run("hard-ft", epochs=3, schedule_granularity=granularity)
    out = []
    for i in (2, 3):
        move = max(float(np.abs(a - b).max() / np.abs(b).max()) for a, b in zip(cap["end"][i]["scores"], cap["start"][i]))
        out.append((move, results[i - 1].extra["k_minus_d_apparent"]))
    return out


def test_a_fine_tuning_cycle_moves_its_scores_and_changes_its_mask():
    # at the last epoch's lr (per-epoch schedule) FT is a search, not a frozen one-shot prune:
    # the scores move and edges leave the mask during the cycle (k - d > 0: selected, then dropped)
    by_epoch = _ft_movement("epoch")
    for move, k_minus_d in by_epoch:
        assert move > 0.1 and k_minus_d > 0.02
    # at the last step's lr of a per-step cosine it barely moves
    by_step = _ft_movement("step")
    for (move_e, _), (move_s, _) in zip(by_epoch, by_step):
        assert move_s < move_e / 20


def test_lr_rewinding_restarts_the_schedule():
    search, results, cap = _run("hard-lr", on_start=_record_lrs, epochs=2)
    lrs = cap["lrs"]
    assert lrs[2][0] == search.config.lr
    assert lrs[2] == lrs[1] == lrs[3]
    assert all(cap["velocity_zero"].values())


# -- accounting -----------------------------------------------------------------------------


def test_hard_reports_apparent_and_worst_case_dying_ratios():
    search, results, cap = _run("hard-lr")
    plan = from_config(search.config)
    for i, r in enumerate(results, start=1):
        e, h = r.extra, r.history
        n = h.sizes.sum()
        searchable = n if i == 1 else sum(int(m.sum()) for m in cap["end"][i - 1]["masks"])
        assert e["searchable_ratio"] == searchable / n
        assert e["dying_ratio_apparent"] == pytest.approx(1 - h.n_ever.sum() / searchable)
        assert e["dying_ratio_worst_case"] == h.dying_ratio()
        if i > 1:  # every removed edge counts as dying in the worst case
            assert e["dying_ratio_worst_case"] >= plan.prune_rate(i - 1)
            assert e["dying_ratio_apparent"] < e["dying_ratio_worst_case"]
        assert r.epochs[-1]["dying_ratio_apparent"] == pytest.approx(e["dying_ratio_apparent"])


def test_record_cycles_and_top_level_describe_the_final_cycle():
    record = run_search(RunConfig(method="soft-lr", **TINY, shrinkage=0.5, cycles=2))
    assert [c["cycle"] for c in record["cycles"]] == [1, 2]
    last = record["cycles"][-1]
    for key in ("prune_rate", "dying_ratio", "k_minus_d", "dying_ratio_apparent", "dying_ratio_worst_case"):
        assert record[key] == last[key]
    assert record["prune_rate"] == pytest.approx(0.75, abs=1e-3)
    assert last["dying_ratio_apparent"] == last["dying_ratio_worst_case"] == last["dying_ratio"]


@pytest.mark.parametrize("method", ["hard-lr", "soft-lr"])
def test_planted_fn_and_tn_for_every_cycle(method):
    search, results, cap = _run(method, data="planted", model="mlp:16,32,32,4", epochs=2, n_train=256,
                                n_test=128, ticket_remaining=0.125)
    n = sum(p.size for p in search.searched)
    ticket = [search.ticket.masks[p.name].reshape(-1) != 0 for p in search.searched]
    for i, r in enumerate(results, start=1):
        e, ever = r.extra, cap["end"][i]["ever"]
        fn = sum(int(np.sum((v == 0) & t)) for v, t in zip(ever, ticket))
        tn = sum(int(np.sum((v == 0) & ~t)) for v, t in zip(ever, ticket))
        assert (e["false_negative_dying"], e["true_negative_dying"]) == (fn / n, tn / n)
        assert e["false_negative_dying"] + e["true_negative_dying"] == pytest.approx(r.history.dying_ratio())
        if method.startswith("hard") and i > 1:
            searchable = [m != 0 for m in cap["end"][i - 1]["masks"]]
            removed = sum(int(np.sum(t & ~a)) for t, a in zip(ticket, searchable))
            assert e["ticket_removed_ratio"] == removed / sum(int(t.sum()) for t in ticket)
            fn_a = sum(int(np.sum((v == 0) & t & a)) for v, t, a in zip(ever, ticket, searchable))
            assert e["false_negative_dying_apparent"] == fn_a / sum(int(a.sum()) for a in searchable)
        else:
            assert "false_negative_dying_apparent" not in e


def test_score_rank_snapshots_follow_one_sample_and_match_the_masks():
    search, results, cap = _run("hard-lr")
    first = results[0].extra["score_ranks"]
    assert len(first["rank"]) == 200 and len(set(zip(first["layer"], first["index"]))) == 200
    names = [p.name for p in search.searched]
    for i, r in enumerate(results, start=1):
        snap = r.extra["score_ranks"]
        assert snap["layer"] == first["layer"] and snap["index"] == first["index"]
        for layer, index, rank, threshold in zip(snap["layer"], snap["index"], snap["rank"], snap["threshold"]):
            assert 0 <= rank < 1
            selected = cap["end"][i]["masks"][names.index(layer)][index]
            assert (rank < threshold) == bool(selected)


# -- the searchable-restricted top-k -----------------------------------------------------------


@st.composite
def restricted_cases(draw):
    scores = draw(score_vectors())
    k = draw(prune_rates)
    n = scores.size
    n_searchable = draw(st.integers(naive_keep_count(n, k), n))
    searchable = np.zeros(n, np.uint8)
    searchable[draw(st.permutations(range(n)))[:n_searchable]] = 1
    return scores, searchable, k


def _param(scores, searchable, k, name="l.weight"):
    p = MaskedParam(name, scores.shape, fan_in=scores.size)
    p.theta0[...] = np.arange(1, scores.size + 1)
    p.scores[...] = scores
    p.prune_rate = k
    p.restrict(searchable)
    return p


@given(restricted_cases())
def test_restricted_topk_matches_the_sorted_reference(case):
    scores, searchable, k = case
    p = _param(scores, searchable, k)
    history = MaskHistory([p], 2)
    select([p], history=history)
    expected = naive_restricted_mask(scores, searchable, k)
    np.testing.assert_array_equal(p.mask, expected)
    assert p.mask.sum() == naive_keep_count(scores.size, k) and not np.any(p.mask & (1 - searchable))
    np.testing.assert_array_equal(p.w_eff, p.theta0 * p.mask)
    if searchable.any():
        assert history.dying_ratio_apparent() == pytest.approx(1 - p.mask.sum() / searchable.sum())
    else:
        assert math.isnan(history.dying_ratio_apparent())
    select([p], history=history)  # the same scores give the same mask
    np.testing.assert_array_equal(p.mask, expected)


@given(st.lists(restricted_cases(), min_size=1, max_size=3), prune_rates, st.booleans())
def test_restricted_global_topk_matches_the_sorted_reference(cases, k, leave_one_free):
    params = [_param(s, a, 0.0, f"l{i}.weight") for i, (s, a, _) in enumerate(cases)]
    if leave_one_free:
        params[0].restrict(None)
    searchable = np.concatenate([np.ones(p.size, np.uint8) if p.search_space is None else p.search_space for p in params])
    scores = np.concatenate([p.scores for p in params])
    n, n_searchable = scores.size, int(searchable.sum())
    k = max(k, (n - n_searchable - 0.25) / n)  # keep no more than the searchable edges
    for p in params:
        p.prune_rate = k
    select(params, global_topk=True, global_buffer=np.empty(scores.size, np.float32))
    np.testing.assert_array_equal(np.concatenate([p.mask for p in params]),
                                  naive_restricted_mask(scores, searchable, k))


def test_restricted_topk_refuses_too_few_allowed_edges():
    p = _param(np.arange(10, dtype=np.float32), np.r_[np.ones(3), np.zeros(7)].astype(np.uint8), 0.5)
    with pytest.raises(ValueError, match="keeps 5 edges of l.weight but only 3 are searchable"):
        select([p])
    with pytest.raises(ValueError, match="searchable must have the shape"):
        p.restrict(np.ones(4, np.uint8))


# -- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize("args, message", [
    (["--method", "hard-lr", "--cycles", "0"], "cycles must be a positive integer"),
    (["--method", "soft-lr", "--cycles", "3", "--shrinkage", "1.5"], "shrinkage must be in (0, 1)"),
    (["--method", "soft-lr"], "needs cycles"),
    (["--method", "hard-ft", "--cycles", "1"], "needs cycles"),
    (["--method", "ep", "--cycles", "3"], "runs one cycle"),
    (["--method", "soft-lr", "--cycles", "3", "--shrinkage", "0.5", "--prune-rate", "0.9"],
     "prune_rate must be 1-(1-shrinkage)^cycles = 0.875"),
])
def test_bad_input_is_one_line_and_exit_2(args, message, capsys):
    assert main(args + ["--data", "digits", "--model", "mlp:64,16,10", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
