"""Baselines: ep-global, IteRand, multicoated supermasks, random tickets (uniform and smart
ratios), layerwise-rearranged EP masks, the dense magnitude-pruned baseline, and bad input."""

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from sltsim.cli import main
from sltsim.config import RunConfig
from sltsim.engine.supermask import MaskedParam, select
from sltsim.engine.topk import topk_mask
from sltsim.init import RELU_GAIN
from sltsim.search import METHODS, run_search
from sltsim.search.iterand import rerandomize
from sltsim.engine.coats import Coats
from sltsim.search.numpy_backend import build_search
from sltsim.search.random_ticket import smart_keep_counts, smart_keep_ratios
from tests.naive import naive_keep_count
from tests.strategies import prune_rates, score_vectors

TINY = dict(data="digits", model="mlp:64,16,10", epochs=1)


def _built(method, **changes):
    return build_search(RunConfig(method=method, **{**TINY, **changes}))


def _kept(search):
    return [int(p.mask.sum()) for p in search.searched]


# -- IteRand --------------------------------------------------------------------------------


def test_iterand_redraws_only_masked_weights_at_the_stated_rate():
    rate = 0.1
    search = _built("iterand", model="mlp:64,256,10", weight_init="kaiming_normal", prune_rate=0.5)
    select(search.params)  # m_t, the mask of the last forward pass
    used = [p.mask.copy() for p in search.searched]
    for p in search.searched:  # a score update after it: z(s) now differs from m_t
        p.scores += np.random.default_rng(7).standard_normal(p.shape).astype(p.dtype) * 0.01
    before = [p.theta0.copy() for p in search.searched]
    pruned = [topk_mask(p.scores, p.prune_rate).reshape(-1) == 0 for p in search.searched]
    assert any(np.any(m.reshape(-1) == z) for m, z in zip(used, pruned))  # some edge left or joined
    redrawn = rerandomize(search, rate, np.random.default_rng(123))
    n_pruned = n_redrawn = 0
    for p, m_t, old, z0, chosen in zip(search.searched, used, before, pruned, redrawn):
        changed = (p.theta0 != old).reshape(-1)
        np.testing.assert_array_equal(changed, chosen)  # Gaussian redraws never repeat a value
        assert not np.any(chosen & ~z0), "a kept weight was redrawn"
        np.testing.assert_array_equal(p.mask, m_t)  # the mask used in the last step is left alone
        np.testing.assert_array_equal(p.w_eff, p.mask * p.theta0)
        n_pruned += int(z0.sum())
        n_redrawn += int(chosen.sum())
        if chosen.sum() > 500:  # drawn from the initialiser: N(0, 2 / fan_in)
            std = float(p.theta0.reshape(-1)[chosen].std())
            assert abs(std / (RELU_GAIN / math.sqrt(p.fan_in)) - 1) < 0.15
    sigma = math.sqrt(n_pruned * rate * (1 - rate))
    assert abs(n_redrawn - rate * n_pruned) < 4 * sigma, (n_redrawn, n_pruned)


def test_iterand_redraws_every_period_steps_deterministically():
    config = RunConfig(method="iterand", iterand_period=5, **TINY)  # 12 steps per epoch on digits
    first, second = run_search(config), run_search(config)
    assert first["cycles"][0]["rerandomizations"] == 2
    assert first["cycles"][0]["redrawn_weights"] > 0
    assert first["test_acc"] == second["test_acc"] and first["loss"] == second["loss"]


def test_iterand_abs_at_rate_zero_is_edge_popup():
    ep = run_search(RunConfig(method="ep", **TINY))
    iterand = run_search(RunConfig(method="iterand", iterand_period=3, iterand_rate=0.0, iterand_ranking="abs",
                                   **TINY))
    assert iterand["config"]["score_init"] == "kaiming_uniform"  # the |s| variant keeps EP's inits
    assert iterand["cycles"][0]["redrawn_weights"] == 0
    assert iterand["loss"] == ep["loss"] and iterand["dying_ratio"] == ep["dying_ratio"]
    # the released ranking is not EP even without redraws
    raw = run_search(RunConfig(method="iterand", iterand_period=3, iterand_rate=0.0, **TINY))
    assert raw["loss"] != ep["loss"]


# -- multicoated supermasks ----------------------------------------------------------------------


@st.composite
def coated_layers(draw):
    scores = draw(score_vectors(max_size=120))
    rates = sorted(set(draw(st.lists(prune_rates, min_size=2, max_size=4))))
    assume(len(rates) >= 2)
    return scores, rates[0], tuple(rates[1:])


@given(coated_layers(), st.integers(0, 2**31 - 1))
def test_multicoat_multiplier_counts_the_thresholds_passed(case, seed):
    scores, k, inner = case
    p = MaskedParam("fc.weight", (scores.size,), fan_in=4)
    p.scores[...] = scores
    p.theta0[...] = np.random.default_rng(seed).standard_normal(scores.size)
    p.prune_rate = k
    p.after_select = Coats(p, inner)
    select([p])
    # reference: one stable sort of |s| (ties to the lower index), one cut per coat
    order = np.argsort(-np.abs(scores.astype(np.float64)), kind="stable")
    rank = np.empty(scores.size, np.int64)
    rank[order] = np.arange(scores.size)
    count = sum((rank < naive_keep_count(scores.size, rate)).astype(np.int64) for rate in (k, *inner))
    np.testing.assert_array_equal(p.after_select.counts, count)
    np.testing.assert_array_equal(p.mask, (count > 0).astype(np.uint8))
    np.testing.assert_allclose(p.w_eff, count * p.theta0, rtol=1e-6, atol=0)


def test_multicoat_scores_get_the_straight_through_gradient_of_every_coat():
    search = _built("multicoat", prune_rate=0.5, coats=(0.7, 0.9), momentum=0.0, weight_decay=0.0)
    search.use_coats((0.7, 0.9))
    select(search.params)
    out, backprop = search.model.forward(search.data.X_train[:64])
    backprop(search.loss(out, search.data.y_train[:64])[1])
    expected = [p.scores - 0.1 * 3 * np.sign(p.scores) * p.theta0 * p.grad for p in search.searched]
    search.update(0.1)
    for p, e in zip(search.searched, expected):
        np.testing.assert_allclose(p.scores, e, rtol=1e-5, atol=1e-7)


def test_multicoat_run_records_the_outer_coat_and_keeps_the_coats_for_evaluation():
    config = RunConfig(method="multicoat", prune_rate=0.5, coats=(0.75, 0.875), **TINY)
    search = build_search(config)
    cycles = METHODS["multicoat"].run(search)
    search.select()
    assert _kept(search) == [naive_keep_count(p.size, 0.5) for p in search.searched]
    for p in search.searched:
        assert set(np.unique(np.rint(p.w_eff / p.theta0))) <= {0.0, 1.0, 2.0, 3.0}
        assert int(p.after_select.counts.max()) == 3
    assert cycles[0].extra["coat_prune_rates"] == [0.5, 0.75, 0.875]


# -- smart ratios and random tickets ----------------------------------------------------------------


def test_smart_ratios_refuse_an_unreachable_target():
    with pytest.raises(ValueError, match="smart ratios cannot keep"):
        smart_keep_ratios([100, 1000], 0.9)  # 110 kept < 0.3 * 1000


@pytest.mark.parametrize("method", ["random-uniform", "random-smart"])
def test_random_masks_have_the_exact_per_layer_counts(method):
    config = RunConfig(method=method, data="digits", model="mlp:64,32,16,10", prune_rate=0.7)
    search = build_search(config)
    s0 = [p.scores.copy() for p in search.searched]
    cycles = METHODS[method].run(search)
    search.select()
    sizes = [p.size for p in search.searched]
    expected = (smart_keep_counts(sizes, 0.7).tolist() if method == "random-smart"
                else [naive_keep_count(n, 0.7) for n in sizes])
    assert _kept(search) == expected
    assert sum(expected) == naive_keep_count(sum(sizes), 0.7)
    assert not all(np.array_equal(m, topk_mask(s, 0.7)) for m, s in
                   zip([p.mask for p in search.searched], s0)), "the mask is EP's initial mask"
    other = build_search(config.replace(seed=1))
    METHODS[method].run(other)
    assert any(not np.array_equal(a.mask, b.mask) for a, b in zip(search.searched, other.searched))
    # one mask was ever used: e = m, so d = k and nothing was reverted
    assert cycles[0].history.dying_ratio() == pytest.approx(1 - sum(expected) / sum(sizes))
    assert cycles[0].history.reverted_ratio() == 0


def test_random_ticket_record_carries_the_dying_accounting():
    record = run_search(RunConfig(method="random-smart", data="digits", model="mlp:64,32,16,10", prune_rate=0.7))
    assert record["status"] == "ok" and record["cycles"][0]["epochs"] == []
    assert record["dying_ratio"] == pytest.approx(record["prune_rate"]) and record["k_minus_d"] == 0
    assert record["prune_rate"] == pytest.approx(0.7, abs=1e-12)
    ratios = [v["prune_rate"] for v in record["per_layer"].values()]
    assert ratios[0] < ratios[1] and ratios[2] == pytest.approx(0.7)  # prune rates grow with depth


@pytest.mark.parametrize("global_topk", [False, True])
def test_rearranged_ep_keeps_each_layers_count_and_moves_the_edges(global_topk):
    ep_method = "ep-global" if global_topk else "ep"
    ep = _built(ep_method)
    METHODS[ep_method].run(ep)
    ep.select()
    rearranged = _built("rearranged-ep", global_topk=global_topk)
    cycles = METHODS["rearranged-ep"].run(rearranged)
    rearranged.select()
    assert _kept(rearranged) == _kept(ep)  # the same seed trains the same EP mask first
    for a, b in zip(ep.searched, rearranged.searched):
        assert not np.array_equal(a.mask, b.mask)
    kept = sum(_kept(ep))
    overlap = sum(int((a.mask & b.mask).sum()) for a, b in zip(ep.searched, rearranged.searched))
    assert cycles[0].extra["rearranged_overlap"] == pytest.approx(overlap / kept)
    assert overlap < kept


def test_rearranged_ep_records_both_accuracies():
    ep = run_search(RunConfig(method="ep", **TINY))
    rearranged = run_search(RunConfig(method="rearranged-ep", **TINY))
    assert rearranged["ep_test_acc"] == ep["test_acc"] and rearranged["ep_loss"] == ep["loss"]
    assert rearranged["test_acc"] != ep["test_acc"] or rearranged["loss"] != ep["loss"]
    assert rearranged["dying_ratio"] == ep["dying_ratio"]  # the search is EP's


# -- ep-global -------------------------------------------------------------------------------------


def test_ep_global_keeps_round_k_n_edges_over_all_layers():
    search = _built("ep-global", prune_rate=0.6)
    assert search.global_topk and not search.config.global_topk
    METHODS["ep-global"].run(search)
    search.select()
    sizes = [p.size for p in search.searched]
    assert sum(_kept(search)) == naive_keep_count(sum(sizes), 0.6)
    assert _kept(search) != [naive_keep_count(n, 0.6) for n in sizes]  # layers do not each keep 40 %
    kept = np.concatenate([np.abs(p.scores[p.mask == 1]) for p in search.searched])
    masked = np.concatenate([np.abs(p.scores[p.mask == 0]) for p in search.searched])
    assert kept.min() >= masked.max()  # one threshold


# -- dense baseline ------------------------------------------------------------------------------


def test_dense_baseline_keeps_the_stated_number_of_parameters():
    search = _built("dense", prune_rate=0.8, epochs=2)
    init = [p.theta0.copy() for p in search.searched]
    cycles = METHODS["dense"].run(search)
    assert [c.prune_rate for c in cycles] == [0.0, pytest.approx(0.8, abs=1e-3)]
    search.select()
    assert _kept(search) == [naive_keep_count(p.size, 0.8) for p in search.searched]
    for p, p0 in zip(search.searched, init):
        assert np.count_nonzero(p.w_eff) <= naive_keep_count(p.size, 0.8)
        assert not np.array_equal(p.theta0[p.mask == 1], p0[p.mask == 1])  # the kept weights trained
        # the mask is the magnitude mask of the weights at the end of the dense phase (scores)
        np.testing.assert_array_equal(p.mask, topk_mask(p.scores, 0.8))
    record = run_search(RunConfig(method="dense", **{**TINY, "epochs": 2}))
    assert record["test_acc"] > 0.5 and record["dying_ratio"] == pytest.approx(record["prune_rate"])


# -- bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize("argv, field", [
    (["--method", "multicoat", "--coats", "0.9,0.8"], "coats"),
    (["--method", "multicoat", "--coats", "0.8,0.8"], "coats"),
    (["--method", "multicoat", "--prune-rate", "0.5", "--coats", "0.4,0.8"], "coats"),
    (["--method", "multicoat", "--coats", "0.8,x"], "coats"),
    (["--method", "multicoat", "--prune-rate", "0.95"], "coats"),  # the default coats are below k
    (["--method", "ep", "--iterand-ranking", "abs"], "iterand_ranking"),
    (["--method", "iterand", "--iterand-ranking", "signed"], "iterand_ranking"),
    (["--method", "multicoat", "--coats", "0.8", "--global-topk"], "global_topk"),
    (["--method", "iterand", "--iterand-period", "0"], "iterand_period"),
    (["--method", "iterand", "--iterand-rate", "1.5"], "iterand_rate"),
    (["--method", "random-smart", "--dense-last"], "dense_last"),
    (["--method", "random-uniform", "--global-topk"], "global_topk"),
    (["--method", "ep-global", "--cycles", "2"], "cycles"),
    (["--method", "dense", "--shrinkage", "0.5"], "shrinkage"),
])
def test_bad_input_is_one_line_and_exit_2(argv, field, capsys):
    assert main(argv + ["--model", "mlp:64,16,10", "--epochs", "1", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and field.split("_")[0] in err.replace("-", "_"), err


def test_unreachable_smart_ratios_exit_2(capsys):
    # 64*16 + 16*10 = 1184 edges; k = 0.999 keeps 1, fewer than 0.3 * 160 in the last layer
    assert main(["--method", "random-smart", "--model", "mlp:64,16,10", "--prune-rate", "0.999",
                 "--no-progress"]) == 2
    assert "smart ratios cannot keep" in capsys.readouterr().err


def test_coats_round_trip_through_a_json_record():
    import json

    config = RunConfig(method="multicoat", prune_rate=0.5, coats=(0.75, 0.875))
    again = RunConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config and again.key() == config.key() and again.coats == (0.75, 0.875)
    with pytest.raises(ValueError, match="coats must be strictly increasing"):
        RunConfig.from_dict({"method": "multicoat", "coats": [0.875, 0.75]})
