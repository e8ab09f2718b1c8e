"""Planted targets: the ticket's shape and budget, the teacher, labels, and bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sltsim.cli import main
from sltsim.config import RunConfig
from sltsim.engine.models import build_model
from sltsim.engine.supermask import MaskedParam
from sltsim.engine.topk import keep_count
from sltsim.init import initialise_weights
from sltsim.planted import DEFAULT_TICKET_REMAINING, PLANTS, make_planted, student_io
from sltsim.search.loop import build_search
from sltsim.ticket import choose_units, draw_ticket, norm_layers, teacher_outputs, unit_links
from tests.strategies import seeds

DYING_EDGES_PRUNE_RATES = (0.2, 0.36, 0.488, 0.59, 0.672, 0.738, 0.79, 0.832)  # paper Table 1
SMALL = dict(data="planted", model="mlp:16,32,32,10", n_train=300, n_test=200, epochs=1)


def _config(**changes) -> RunConfig:
    return RunConfig(**{**SMALL, **changes})


def _model(spec, input_shape, n_out, seed=0, prune_rate=0.5):
    model = build_model(spec, input_shape, n_out)
    for p in model.params:
        p.prune_rate = prune_rate
    initialise_weights(model.params, "signed_kaiming_constant", prune_rate, np.random.default_rng(seed))
    return model


def _check_ticket(params, ticket, remaining):
    """Exact edge counts, edges only among kept units, every kept hidden unit alive."""
    links = {link.name: link for link in ticket.links}
    alive_in, alive_out = {}, {}
    for p in params:
        if not p.searched:
            continue
        P = ticket.masks[p.name]
        assert P.shape == p.shape and P.dtype == np.uint8
        assert int(P.sum()) == keep_count(p.size, 1.0 - remaining)
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


@settings(max_examples=15)
@given(seed=seeds, k=st.sampled_from(DYING_EDGES_PRUNE_RATES), width=st.sampled_from([0.5, 0.75, 1.0]),
       hidden=st.integers(8, 40))
def test_ticket_fits_the_budget_and_has_no_dead_unit(seed, k, width, hidden):
    remaining = min(DEFAULT_TICKET_REMAINING, 1 - k)
    model = _model(f"mlp:12,{hidden},{hidden},10", (12,), 10, seed, k)
    try:
        ticket = draw_ticket(model.params, remaining, width, np.random.default_rng(seed))
    except ValueError as e:  # too few units for this ratio: a one-line refusal naming the fix
        assert "\n" not in str(e) and "ticket_remaining" in str(e)
        return
    _check_ticket(model.params, ticket, remaining)
    for p in model.params:
        assert ticket.masks[p.name].sum() <= keep_count(p.size, k)


def test_default_ticket_fits_every_dying_edges_prune_rate():
    for k in DYING_EDGES_PRUNE_RATES:
        search = build_search(_config(model="mlp:16,64,64,10", prune_rate=k))
        for p in search.searched:
            assert search.ticket.masks[p.name].sum() <= p.n_keep()
        _check_ticket(search.params, search.ticket, DEFAULT_TICKET_REMAINING)


def test_conv_ticket_keeps_channels_and_kernel_entries():
    params = [MaskedParam("conv1.weight", (8, 3, 3, 3), 27), MaskedParam("conv2.weight", (16, 8, 3, 3), 72),
              MaskedParam("fc1.weight", (20, 16 * 4), 64), MaskedParam("fc2.weight", (10, 20), 20)]
    links, sizes = unit_links(params)
    assert [link.repeat for link in links] == [1, 1, 4, 1]
    assert sizes == {"input": 3, "hidden1": 8, "hidden2": 16, "hidden3": 20, "output": 10}
    ticket = draw_ticket(params, 0.1, 0.5, np.random.default_rng(3))
    _check_ticket(params, ticket, 0.1)
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
    config = _config(plant=plant)
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
    clean = build_search(_config(n_train=503))
    for y in (clean.data.y_train, clean.data.y_test):
        counts = np.bincount(y, minlength=10)
        assert counts.max() - counts.min() <= 1  # the stated bound: exact balance
    noisy = build_search(_config(n_train=503, label_noise=0.2))
    np.testing.assert_array_equal(noisy.data.X_train, clean.data.X_train)
    np.testing.assert_array_equal(noisy.data.y_test, clean.data.y_test)
    changed = int((noisy.data.y_train != clean.data.y_train).sum())
    assert 0.2 * 503 * 0.6 < changed <= round(0.2 * 503)  # replaced uniformly: ~9/10 differ


def test_digits_inputs_are_relabelled_and_balanced():
    search = build_search(RunConfig(data="planted", inputs="digits", model="mlp:64,64,64,10", n_train=1000))
    data = search.data
    assert data.X_train.shape[1] == 64 and 500 <= data.X_train.shape[0] <= 1000
    assert np.ptp(np.bincount(data.y_train, minlength=10)) <= 1
    reference = _mlp_teacher(search.model, search.ticket.masks, data.X_test)
    np.testing.assert_array_equal(data.y_test, reference.argmax(axis=1))


def test_regression_targets_are_the_teacher_outputs():
    search = build_search(_config(task="regression"))
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
    (dict(prune_rate=0.95), ["default ticket_remaining 0.1", "0.95", "0.05"]),
    (dict(ticket_remaining=0.3, prune_rate=0.5), ["ticket_remaining 0.3", "raise ticket_width"]),
    (dict(model="mlp:16,32,32,4"), ["need 16", "none is dead"]),
    (dict(inputs="digits"), ["inputs digits", "64", "mlp:16,32,32,10"]),
    (dict(model="conv2", inputs="mnist1d"), ["mnist1d", "mlp"]),
    (dict(plant="tree"), ["plant must be one of neuron, subnetwork", "'tree'"]),
    (dict(ticket_width=1.5), ["ticket_width", "(0, 1]"]),
])
def test_bad_input_is_one_line(changes, words):
    with pytest.raises(ValueError) as info:
        build_search(_config(**changes))
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_ticket_wider_than_a_layer_is_refused():
    with pytest.raises(ValueError, match=r"wider than layer hidden1 \(32 units\)"):
        choose_units({"input": 4, "hidden1": 32, "output": 3}, 1.5, np.random.default_rng(0))


@pytest.mark.parametrize("argv", [
    ["--data", "planted", "--ticket-remaining", "0.6", "--prune-rate", "0.5"],
    ["--data", "planted", "--prune-rate", "0.95"],
    ["--data", "planted", "--plant", "tree"],
])
def test_cli_refuses_a_ticket_outside_the_budget(capsys, argv):
    code = main(argv + ["--no-progress", "--epochs", "1"])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "ticket_remaining" in err or "plant" in err


def test_resnet_teacher_labels_are_kept_and_norms_reset():
    search = build_search(_config(model="resnet8", n_train=60, n_test=40))
    ticket = search.ticket
    assert ticket.residual and ticket.teacher_test.shape == (40, 10)
    np.testing.assert_array_equal(search.data.y_test, ticket.teacher_test.argmax(axis=1))
    _check_ticket(search.params, ticket, DEFAULT_TICKET_REMAINING)
    norms = list(norm_layers(search.model.layers))
    assert norms and all(not n.running_mean.any() and (n.running_var == 1).all() for n in norms)
