"""The torch backend against the NumPy engine: same theta0, s0 and batches, float64.

Over 50 steps both select identical masks at every step, their losses agree to 1e-6
and they end with identical ever-selected bitmaps.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sltsim.config import RunConfig
from sltsim.engine.schedules import learning_rate
from sltsim.engine.supermask import select as engine_select
from sltsim.metrics.history import MaskHistory
from sltsim.search.numpy_backend import build_search
from sltsim.torch_backend.build import build_run
from sltsim.torch_backend.cycle import train_step
from sltsim.torch_backend.history import DeviceHistory

STEPS = 50


def _engine_step(search, history, xb, yb, lr):
    engine_select(search.params, search.global_topk, history, search.global_buffer)
    out, backprop = search.model.forward(xb, train=True)
    loss, dout = search.loss(out, yb)
    backprop(dout)
    search.optimizer.step(lr)
    return loss


def assert_parity(config: RunConfig, steps: int = STEPS, batch: int = 32, seed: int = 1) -> None:
    search = build_search(config)
    run = build_run(config.replace(backend="torch"))
    assert [p.name for p in search.params] == [t.name for t in run.tensors]
    for p, t in zip(search.params, run.tensors):
        assert p.searched == t.searched
        np.testing.assert_array_equal(p.theta0, t.theta0.detach().numpy(), err_msg=f"theta0 of {p.name}")
        if p.searched:
            np.testing.assert_array_equal(p.scores, t.scores.detach().numpy(), err_msg=f"s0 of {p.name}")
    X, y = search.data.X_train, search.data.y_train
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    engine_history = MaskHistory(search.searched, steps)
    torch_history = DeviceHistory(run.searched)
    rng = np.random.default_rng(seed)
    for step in range(steps):
        idx = rng.choice(len(X), batch, replace=False)
        lr = learning_rate(config.lr, config.schedule, step, steps, warmup=5)
        engine_loss = _engine_step(search, engine_history, X[idx], y[idx], lr)
        loss_sum, _, masks = train_step(run, Xt[idx], yt[idx], batch, lr)
        torch_history.update(masks)
        for p, m in zip(search.searched, masks):
            assert np.array_equal(p.mask.reshape(-1).astype(bool), m.numpy()), f"masks of {p.name} differ at step {step}"
        assert abs(engine_loss - loss_sum.item() / batch) < 1e-6, f"losses differ at step {step}"
    n_ever, n_selected = torch_history.ever_and_selected()
    np.testing.assert_array_equal(n_ever, engine_history.n_ever)
    np.testing.assert_array_equal(n_selected, engine_history.n_selected)
    for e, t in zip(engine_history.ever, torch_history.ever):
        np.testing.assert_array_equal(e.astype(bool), t.numpy())
    assert 0 < engine_history.dying_ratio() < config.prune_rate  # the masks moved: a real test


MLP = dict(model="mlp:64,48,32,10", data="digits", dtype="float64", lr=0.2, prune_rate=0.6)


@pytest.mark.parametrize("options", [
    dict(),
    dict(global_topk=True, nesterov=True, weight_decay=1e-3),
    dict(bias=True, score_bias=True, dense_last=True, momentum=0.5),
    dict(bias=True, dense_first=True, score_init="normal", weight_init="kaiming_normal"),
], ids=["per-layer", "global-nesterov", "score-bias", "dense-first"])
def test_mlp_parity(options):
    assert_parity(RunConfig(**MLP, **options))


def test_ties_in_index_order_match_the_engine():
    # signed-constant scores tie in huge groups: the tie rule decides most of the mask
    assert_parity(RunConfig(**MLP, score_init="signed_constant", momentum=0.0), steps=10)


@pytest.mark.parametrize("schedule", [dict(), dict(schedule_granularity="step", warmup_epochs=1)],
                         ids=["per-epoch", "per-step-warmup"])
def test_run_search_records_agree(schedule):
    from sltsim.search import run_search as engine_run
    from sltsim.torch_backend import run_search as torch_run

    config = RunConfig(**MLP, epochs=2, batch_size=64, **schedule)
    a, b = engine_run(config), torch_run(config.replace(backend="torch"))
    assert a["status"] == b["status"] == "ok"
    assert a["dying_ratio"] == b["dying_ratio"] and a["per_layer"] == b["per_layer"]
    assert a["test_acc"] == b["test_acc"] and a["train_acc"] == b["train_acc"]
    for name in ("loss", "test_loss"):
        assert abs(a[name] - b[name]) < 1e-6
    for ra, rb in zip(a["cycles"][0]["epochs"], b["cycles"][0]["epochs"]):
        assert ra["dying_ratio"] == rb["dying_ratio"] and ra["mask_churn"] == rb["mask_churn"]
        assert abs(ra["loss"] - rb["loss"]) < 1e-6 and ra["lr"] == rb["lr"]


@pytest.mark.parametrize("model, options", [
    ("conv2", dict()),
    ("resnet8", dict(global_topk=True)),  # non-affine batch norm, a projection shortcut, global top-k
])
def test_conv_net_parity_on_tiny_images(model, options):
    # digits as (1, 8, 8) images
    assert_parity(RunConfig(model=model, data="digits", dtype="float64", lr=0.1, prune_rate=0.5, **options), batch=16)


@pytest.mark.parametrize("method, options", [
    ("iterand", dict(iterand_period=1, iterand_rate=0.2)),  # a redraw before every step, the first included
    ("iterand", dict(iterand_period=4, iterand_ranking="abs")),  # the |s| variant and its clock
    ("iterand", dict(iterand_period=3, global_topk=True)),  # one raw-score threshold over all layers
    ("multicoat", dict(prune_rate=0.5)),  # the released inits and default coats
    ("soft-lr-zero", dict(cycles=2, shrinkage=0.4, keep_momentum=True, lr=1.0)),
    ("hard-ft", dict(cycles=2, shrinkage=0.4, warmup_epochs=1, epochs=3)),
    ("random-smart", dict(model="conv2", prune_rate=0.9)),  # the l^2 rule
    ("random-smart", dict(model="resnet8", prune_rate=0.9)),  # the ResNet rule
], ids=["iterand-k1", "iterand-abs", "iterand-global", "multicoat-defaults", "zero-init-momentum",
        "ft-warmup", "smart-plain", "smart-resnet"])
def test_changed_methods_give_the_engine_record(method, options):
    from sltsim.search import run_search as engine_run
    from sltsim.torch_backend import run_search as torch_run
    from tests.torch_backend.test_methods import _differences, _timeless

    config = RunConfig(**{**dict(method=method, model="mlp:64,32,10", data="digits", dtype="float64", epochs=2),
                          **options})
    engine = _timeless(engine_run(config))
    mirror = _timeless(torch_run(config.replace(backend="torch")))
    mirror.pop("torch")
    differences = [d for d in _differences(engine, mirror) if not d.startswith(("/config", "/key"))]
    assert not differences, differences[:5]
    assert engine["status"] == "ok"
