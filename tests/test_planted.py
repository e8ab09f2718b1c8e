"""Planted targets: the ticket's shape and budget, the teacher, labels, and bad input."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sltsim.cli import main
from sltsim.config import RunConfig
from sltsim.engine.models import build_model
from sltsim.engine.supermask import MaskedParam
from sltsim.init import initialise_weights
from sltsim.planted import PLANTS, check_ticket, make_planted, student_io
from sltsim.search import run_search
from sltsim.search.numpy_backend import build_search
from sltsim.teacher import norm_layers, teacher_outputs
from sltsim.ticket import choose_units, count_replicas, draw_ticket, unit_links
from sltsim.ticket_plan import plan_ticket
from tests.naive import naive_keep_count
from tests.strategies import seeds

DYING_EDGES_PRUNE_RATES = (0.2, 0.36, 0.488, 0.59, 0.672, 0.738, 0.79, 0.832)  # paper Table 1
SMALL = dict(data="planted", model="mlp:16,32,32,10", n_train=300, n_test=200, epochs=1)
CLASSES = dict(SMALL, task="classification", ticket_remaining=0.1, ticket_width=0.5, sub_budget_ticket=True)


def _budget(n, k):
    """Independent reference for the final mask's keep count: n - floor(k n + 1/2)."""
    return n - math.floor(k * n + 0.5)


def _config(**changes) -> RunConfig:
    return RunConfig(**{**SMALL, **changes})


def _model(spec, input_shape, n_out, seed=0, prune_rate=0.5):
    model = build_model(spec, input_shape, n_out)
    for p in model.params:
        p.prune_rate = prune_rate
    initialise_weights(model.params, "signed_kaiming_constant", prune_rate, np.random.default_rng(seed))
    return model


def _check_ticket(params, ticket, remaining=None, prune_rate=None):
    """Exact edge counts (naive_keep_count(n, 1 - remaining), or the budget at prune_rate), edges
    only among kept units, every kept hidden unit alive."""
    links = {link.name: link for link in ticket.links}
    alive_in, alive_out = {}, {}
    for p in params:
        if not p.searched:
            continue
        P = ticket.masks[p.name]
        assert P.shape == p.shape and P.dtype == np.uint8
        want = _budget(p.size, prune_rate) if prune_rate is not None else naive_keep_count(p.size, 1.0 - remaining)
        assert int(P.sum()) == want
        link = links[p.name]
        rows = np.flatnonzero(P.reshape(P.shape[0], -1).any(axis=1))
        assert set(rows) <= set(ticket.units[link.out_group])
        alive_in.setdefault(link.out_group, set()).update(rows)
        if link.in_group is not None:
            per_feature = P.reshape(P.shape[0], P.shape[1], -1).any(axis=(0, 2))
            cols = np.flatnonzero(per_feature.reshape(-1, link.repeat).any(axis=1))
            assert set(cols) <= set(ticket.units[link.in_group])
            alive_out.setdefault(link.in_group, set()).update(cols)
    for group, kept in ticket.units.items():
        if group not in ("input", "output"):
            assert alive_in[group] == set(kept), f"{group}: a kept unit without an in-edge"
            assert alive_out[group] == set(kept), f"{group}: a kept unit without an out-edge"


def _mlp_teacher(model, masks, X):
    """Independent reference: relu(... relu(X W1^T) ...) W_L^T with W = P * theta0."""
    weights = [p for p in model.params if p.name.endswith(".weight")]
    h = X.astype(np.float64)
    for i, p in enumerate(weights):
        h = h @ (masks[p.name] * p.theta0.astype(np.float64)).T
        if i < len(weights) - 1:
            h = np.maximum(h, 0)
    return h


@settings(max_examples=25, deadline=None)
@given(seed=seeds, k=st.floats(0.05, 0.97), hidden=st.integers(8, 48), depth=st.integers(1, 2),
       width=st.sampled_from([None, 1.0]))
def test_feasible_ticket_holds_exactly_the_budget_and_no_dead_unit(seed, k, hidden, depth, width):
    spec = "mlp:12," + ",".join([str(hidden)] * depth) + ",6"
    model = _model(spec, (12,), 6, seed, k)
    try:
        plan = plan_ticket(model.params, k, width=width)
    except ValueError as e:  # the budget cannot give every ticket unit an edge: one line naming the layer
        assert "\n" not in str(e) and "layer" in str(e)
        return
    assert plan.feasible
    ticket = draw_ticket(model.params, plan.remaining, plan.width, np.random.default_rng(seed), edges=plan.edges)
    _check_ticket(model.params, ticket, prune_rate=k)
    if width is None:  # the default width is the smallest that holds the edges half full (or the full width)
        try:
            draw_ticket(model.params, plan.remaining, 1.0, np.random.default_rng(seed), edges=plan.edges)
            full_fits = True
        except ValueError:
            full_fits = False
        assert _max_fill(model.params, ticket) <= 0.5 + 1e-9 or plan.width == 1.0 or not full_fits
        smaller = (round(plan.width * hidden) - 1) / hidden  # one unit fewer in every hidden layer
        if smaller > 0:
            try:
                small = draw_ticket(model.params, plan.remaining, smaller, np.random.default_rng(seed),
                                    edges=plan.edges)
            except ValueError:  # does not fit at all
                return
            assert _max_fill(model.params, small) > 0.5 + 1e-9


def _max_fill(params, ticket):
    """The largest share of its block between ticket units that P fills, over the tensors."""
    links = {link.name: link for link in ticket.links}
    return max(ticket.masks[p.name].sum() / (len(ticket.units[links[p.name].out_group])
                                             * len(ticket.units[links[p.name].in_group])) for p in params)


@pytest.mark.parametrize("model", ["mlp:32,256,10", "mlp:32,256,256,10"])
def test_default_ticket_is_feasible_at_every_dying_edges_prune_rate_with_loss_zero(model):
    for k in DYING_EDGES_PRUNE_RATES:
        record = run_search(_config(model=model, prune_rate=k, epochs=1, n_train=64, n_test=64))
        assert record["ticket_feasible"] is True
        assert record["ticket_train_loss"] <= 1e-10 * float(np.var(build_search(
            _config(model=model, prune_rate=k, n_train=64, n_test=64)).data.y_train))
        sizes = {n: v["size"] for n, v in record["planted_per_layer"].items()}
        for name, row in record["planted_per_layer"].items():
            assert row["ticket_edges"] == _budget(sizes[name], k)


def test_iterative_ticket_is_feasible_at_the_final_cycle():
    config = _config(method="soft-lr", cycles=3, prune_rate=0.875, model="mlp:16,64,64,10")
    plan = check_ticket(config)
    search = build_search(config)
    assert plan.feasible
    for p in search.searched:
        assert search.ticket.masks[p.name].sum() == _budget(p.size, 0.875)


def test_sub_budget_permission_leaves_a_ticket_that_meets_the_budget_feasible():
    assert check_ticket(_config(ticket_remaining=0.5, prune_rate=0.5, sub_budget_ticket=True)).feasible


def test_sub_budget_ticket_is_marked_and_not_a_solution():
    record = run_search(_config(ticket_remaining=0.1, prune_rate=0.5, sub_budget_ticket=True, n_train=200))
    assert record["ticket_feasible"] is False
    assert record["ticket_train_loss"] > 1e-3  # P plus padding to the budget changes the function
    for row in record["planted_per_layer"].values():
        assert row["ticket_edges"] == naive_keep_count(row["size"], 0.9) < _budget(row["size"], 0.5)


def test_conv_ticket_keeps_channels_and_kernel_entries():
    params = [MaskedParam("conv1.weight", (8, 3, 3, 3), 27), MaskedParam("conv2.weight", (16, 8, 3, 3), 72),
              MaskedParam("fc1.weight", (20, 16 * 4), 64), MaskedParam("fc2.weight", (10, 20), 20)]
    links, sizes = unit_links(params)
    assert [link.repeat for link in links] == [1, 1, 4, 1]
    assert sizes == {"input": 3, "hidden1": 8, "hidden2": 16, "hidden3": 20, "output": 10}
    ticket = draw_ticket(params, 0.1, 0.5, np.random.default_rng(3))
    _check_ticket(params, ticket, remaining=0.1)
    P = ticket.masks["conv2.weight"].reshape(16, 8, 9)
    pair_counts = P.sum(axis=2)[P.sum(axis=2) > 0]
    assert pair_counts.min() < 9  # a channel pair may keep a subset of its kernel entries


def test_residual_units_are_shared_by_width():
    model = build_model("resnet8", (3, 8, 8), 10)
    links, sizes = unit_links(model.params, residual=True)
    assert sizes == {"input": 3, "width16": 16, "width32": 32, "width64": 64, "output": 10}
    shortcut = next(link for link in links if link.name == "block2.1.shortcut.weight")
    assert (shortcut.in_group, shortcut.out_group) == ("width16", "width32")


@pytest.mark.parametrize("plant", ["subnetwork", "neuron"])
def test_teacher_is_the_student_restricted_to_the_ticket(plant):
    config = RunConfig(**{**CLASSES, "plant": plant})
    model = _model(config.model, (16,), 10, seed=1)
    before = {p.name: p.theta0.copy() for p in model.params}
    data, ticket = make_planted(config, model, np.random.default_rng(2))
    for p in model.params:
        changed = p.theta0 != before[p.name]
        if plant == "neuron":  # written exactly at P, at theta0's RMS
            np.testing.assert_array_equal(changed, ticket.masks[p.name] != 0)
            rms = lambda a: np.sqrt(np.mean(a.astype(np.float64) ** 2))  # noqa: E731
            assert rms(p.theta0[changed]) == pytest.approx(rms(before[p.name]), rel=0.02)
        else:
            assert not changed.any()
        np.testing.assert_array_equal(p.w_eff, p.theta0)
    reference = _mlp_teacher(model, ticket.masks, data.X_test)
    np.testing.assert_allclose(teacher_outputs(model, ticket, data.X_test), reference, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(data.y_test, reference.argmax(axis=1))


def test_classes_are_balanced_and_label_noise_touches_train_only():
    clean = build_search(RunConfig(**{**CLASSES, "n_train": 503}))
    for y in (clean.data.y_train, clean.data.y_test):
        counts = np.bincount(y, minlength=10)
        assert counts.max() - counts.min() <= 1  # the stated bound: exact balance
    noisy = build_search(RunConfig(**{**CLASSES, "n_train": 503, "label_noise": 0.2}))
    np.testing.assert_array_equal(noisy.data.X_train, clean.data.X_train)
    np.testing.assert_array_equal(noisy.data.y_test, clean.data.y_test)
    changed = int((noisy.data.y_train != clean.data.y_train).sum())
    assert 0.2 * 503 * 0.6 < changed <= round(0.2 * 503)  # replaced uniformly: ~9/10 differ


def test_digits_inputs_are_relabelled_and_balanced():
    search = build_search(RunConfig(data="planted", inputs="digits", model="mlp:64,64,64,10", n_train=1000,
                                    task="classification"))
    data = search.data
    assert data.X_train.shape[1] == 64 and 500 <= data.X_train.shape[0] <= 1000
    assert np.ptp(np.bincount(data.y_train, minlength=10)) <= 1
    reference = _mlp_teacher(search.model, search.ticket.masks, data.X_test)
    np.testing.assert_array_equal(data.y_test, reference.argmax(axis=1))


def test_regression_on_the_teacher_outputs_is_the_default():
    assert RunConfig().task == "regression"
    search = build_search(_config())
    data = search.data
    assert data.task == "regression" and data.y_train.shape == (300, 10)
    np.testing.assert_allclose(data.y_test, _mlp_teacher(search.model, search.ticket.masks, data.X_test),
                               rtol=1e-4, atol=1e-6)


def test_student_io():
    assert student_io(_config()) == ((16,), 10)
    assert student_io(_config(model="conv2")) == ((3, 8, 8), 10)
    assert student_io(_config(model="conv8")) == ((3, 16, 16), 10)
    assert student_io(_config(model="conv4", inputs="digits")) == ((1, 8, 8), 10)
    assert set(PLANTS) == {"subnetwork", "neuron"}


@pytest.mark.parametrize("changes, words", [
    (dict(ticket_remaining=0.1, prune_rate=0.5),
     ["ticket_remaining 0.1", "fc1.weight", "51 edges", "keeps 256", "sub_budget_ticket = true"]),
    (dict(ticket_remaining=0.6, prune_rate=0.5), ["ticket_remaining 0.6", "keeps only 256", "never be selected"]),
    (dict(ticket_width=0.25, prune_rate=0.5), ["ticket_width 0.25", "fc1.weight", "256 edges",
                                               "smallest ticket_width that fits is 0.71875"]),
    (dict(sub_budget_ticket=True), ["sub_budget_ticket needs an explicit ticket_remaining"]),
    (dict(model="mlp:16,32,32,4", prune_rate=0.99), ["no ticket width fits", "lower the prune rate"]),
    (dict(inputs="digits"), ["inputs digits", "64", "mlp:16,32,32,10"]),
    (dict(model="conv2", inputs="mnist1d"), ["mnist1d", "mlp"]),
    (dict(plant="tree"), ["plant must be one of neuron, subnetwork", "'tree'"]),
    (dict(task="ranking"), ["task must be one of classification, regression", "'ranking'"]),
    (dict(ticket_width=1.5), ["ticket_width", "(0, 1]"]),
    (dict(start_overlap=1.5), ["start_overlap must be in [0, 1]", "1.5"]),
    (dict(start_overlap=0.5, method="random-uniform"), ["start_overlap applies to", "random-uniform"]),
    (dict(start_overlap=0.5, global_topk=True), ["start_overlap", "global_topk false"]),
])
def test_bad_input_is_one_line(changes, words):
    with pytest.raises(ValueError) as info:
        build_search(_config(**changes))
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_start_overlap_needs_planted_data():
    with pytest.raises(ValueError, match="start_overlap needs data planted"):
        RunConfig(data="digits", start_overlap=0.5)


def test_ticket_wider_than_a_layer_is_refused():
    with pytest.raises(ValueError, match=r"wider than layer hidden1 \(32 units\)"):
        choose_units({"input": 4, "hidden1": 32, "output": 3}, 1.5, np.random.default_rng(0))


@pytest.mark.parametrize("argv", [
    ["--data", "planted", "--ticket-remaining", "0.6", "--prune-rate", "0.5"],
    ["--data", "planted", "--ticket-remaining", "0.04", "--prune-rate", "0.5"],
    ["--data", "planted", "--ticket-width", "0.1", "--prune-rate", "0.5"],
    ["--data", "planted", "--plant", "tree"],
    ["--data", "planted", "--task", "ranking"],
])
def test_cli_refuses_a_ticket_outside_the_budget(capsys, argv):
    code = main(argv + ["--no-progress", "--epochs", "1"])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert any(w in err for w in ("ticket_remaining", "ticket_width", "plant", "task"))


def test_resnet_teacher_labels_are_kept_and_norms_reset():
    search = build_search(RunConfig(**{**CLASSES, "model": "resnet8", "n_train": 60, "n_test": 40}))
    ticket = search.ticket
    assert ticket.residual and ticket.teacher_test.shape == (40, 10)
    np.testing.assert_array_equal(search.data.y_test, ticket.teacher_test.argmax(axis=1))
    _check_ticket(search.params, ticket, remaining=0.1)
    norms = list(norm_layers(search.model.layers))
    assert norms and all(not n.running_mean.any() and (n.running_var == 1).all() for n in norms)


def _naive_replicas(model, ticket, name, group):
    theta = next(p for p in model.params if p.name == name).theta0
    P = ticket.masks[name] != 0
    out = []
    for u in ticket.units[group]:
        cols = [j for j in range(theta.shape[1]) if P[u, j]]
        out.append(sum(1 for v in range(theta.shape[0])
                       if v != u and all(theta[v, j] == theta[u, j] for j in cols)))
    return out


@pytest.mark.parametrize("plant, weight_init", [("subnetwork", "signed_kaiming_constant"),
                                                ("subnetwork", "kaiming_normal"), ("neuron", "signed_kaiming_constant")])
def test_replicas_are_counted_exactly_and_vanish_for_gaussian_students(plant, weight_init):
    search = build_search(_config(model="mlp:8,64,64,4", prune_rate=0.9, plant=plant, weight_init=weight_init))
    ticket = search.ticket
    replicas = count_replicas(search.params, ticket)
    assert replicas.keys() == {"hidden1", "hidden2"}
    for group, name in (("hidden1", "fc1.weight"), ("hidden2", "fc2.weight")):
        assert replicas[group].tolist() == _naive_replicas(search.model, ticket, name, group)
    total = sum(int(r.sum()) for r in replicas.values())
    if plant == "subnetwork" and weight_init == "signed_kaiming_constant":
        assert total > 0  # +-constant weights: units whose signs match a ticket unit's in-edges
    else:
        assert total == 0  # Gaussian weights (drawn or written at P) have no exact replica


def test_a_start_control_is_refused_where_the_selection_would_not_keep_it():
    # raw IteRand keeps the largest signed scores, so P placed on the largest |s| would not be its
    # first mask (about half of P's placed scores are negative): refused, not recorded as recall 1
    with pytest.raises(ValueError, match="iterand_ranking raw"):
        RunConfig(method="iterand", data="planted", model="mlp:16,32,32,4", prune_rate=0.5, start_overlap=1.0)
    config = RunConfig(method="iterand", iterand_ranking="abs", data="planted", model="mlp:16,32,32,4",
                       prune_rate=0.5, epochs=1, start_overlap=1.0)
    assert run_search(config)["start_recall"] == 1.0


def test_a_ticket_is_feasible_only_where_the_method_keeps_its_budget():
    # random-smart keeps its own per-layer counts, not P's uniform ones: P is not a mask it can return
    common = dict(data="planted", model="mlp:16,32,32,4", prune_rate=0.5, epochs=1)
    smart = run_search(RunConfig(method="random-smart", **common))
    counts = [(row["ticket_edges"], round((1 - smart["per_layer"][name]["prune_rate"]) * row["size"]))
              for name, row in smart["planted_per_layer"].items()]
    assert any(p != m for p, m in counts) and smart["ticket_feasible"] is False
    assert run_search(RunConfig(method="random-uniform", **common))["ticket_feasible"] is True
    assert run_search(RunConfig(method="ep-global", **common))["ticket_feasible"] is True  # totals agree


def test_a_dense_control_plants_the_searched_count_although_one_minus_one_minus_k_is_not_k():
    # keep_count(50, 0.19) = 40 but keep_count(50, 1 - (1 - 0.19)) = 41 in floats: the dense control
    # (prune rate 0, ticket_remaining 1 - k) must plant the same P as the search at k
    model = _model("mlp:5,10,5", (5,), 5, 0, 0.19)
    searched = plan_ticket(model.params, 0.19, width=1.0)
    control = plan_ticket(model.params, 0.0, remaining=1 - 0.19, width=1.0, sub_budget=True)
    assert control.edges == searched.edges and naive_keep_count(50, 0.19) == 40
