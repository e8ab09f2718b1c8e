"""Zero init (soft iEP "w/ zero init") equals hard pruning only under two conditions: the |s|
straight-through gradient (sign(0) = 0) and the momentum reset at every cycle start."""

from __future__ import annotations

import numpy as np
import pytest

from sltsim.config import RunConfig
from sltsim.search import METHODS, run_search
from sltsim.search.numpy_backend import build_search
from tests.search.steps import identity_step

TINY = dict(data="digits", model="mlp:64,32,10", epochs=2, shrinkage=0.4, cycles=3)


def _masks_per_step(method, **changes):
    """Every step's masks of a run, as one flat uint8 array per step."""
    search = build_search(RunConfig(method=method, **{**TINY, **changes}))
    steps = []
    original = search.select_masks

    def recording(history=None):
        original(history)
        if history is not None:
            steps.append(np.concatenate([p.mask.reshape(-1) for p in search.searched]))

    search.select_masks = recording
    results = METHODS[method].run(search)
    return steps, results


@pytest.mark.parametrize("soft, hard, lr", [("soft-lr-zero", "hard-lr", 0.1), ("soft-lr-zero", "hard-lr", 1.0),
                                           ("soft-srw-zero", "hard-srw", 1.0)])
def test_zero_init_selects_exactly_what_hard_pruning_selects(soft, hard, lr):
    soft_steps, soft_results = _masks_per_step(soft, lr=lr, epochs=5)
    hard_steps, hard_results = _masks_per_step(hard, lr=lr, epochs=5)
    assert len(soft_steps) == len(hard_steps) > 0
    for i, (a, b) in enumerate(zip(soft_steps, hard_steps)):
        np.testing.assert_array_equal(a, b, err_msg=f"step {i}")
    for a, b in zip(soft_results, hard_results):
        assert a.extra["test_acc"] == b.extra["test_acc"] and a.extra["loss"] == b.extra["loss"]
    assert [r.extra["revived_ratio"] for r in soft_results[1:]] == [0.0, 0.0]


def test_with_momentum_kept_zeroed_edges_revive():
    # the same runs as the lr = 1.0 case above, with the momentum carried over: a zeroed score
    # moves by lr * mu * v, gets a nonzero sign and a gradient, and re-enters the mask
    kept_steps, kept = _masks_per_step("soft-lr-zero", keep_momentum=True, lr=1.0, epochs=5)
    hard_steps, _ = _masks_per_step("hard-lr", keep_momentum=True, lr=1.0, epochs=5)
    assert any(r.extra["revived_ratio"] > 0 for r in kept[1:])
    assert any(not np.array_equal(a, b) for a, b in zip(kept_steps, hard_steps))


def test_momentum_is_reset_unless_kept():
    for keep in (False, True):
        search = build_search(RunConfig(method="soft-lr-zero", keep_momentum=keep, **TINY))
        seen = {}

        def start(s, i):
            seen[i] = [v.copy() for v in s.optimizer.velocity]

        METHODS["soft-lr-zero"].run(search, on_cycle_start=start)
        zero = [all(not v.any() for v in seen[i]) for i in (2, 3)]
        assert zero == ([False, False] if keep else [True, True])


def test_an_identity_straight_through_moves_a_zeroed_score():
    # cycle 2 of soft-lr-zero starts with the scores outside m*_1 at exactly 0; one step with
    # the |s| gradient leaves them at 0, one with the identity gradient does not
    captured = {}

    def start(s, i):
        if i == 2:
            captured["zeroed"] = [p.flat("scores") == 0 for p in s.searched]
            captured["state"] = [p.scores.copy() for p in s.searched]
            s.select_masks()
            out, backprop = s.model.forward(s.data.X_train[:128])
            backprop(s.loss(out, s.data.y_train[:128])[1])
            s.optimizer.step(0.1)
            captured["abs"] = [p.flat("scores").copy() for p in s.searched]
            for p, st in zip(s.searched, captured["state"]):
                np.copyto(p.scores, st)
            s.optimizer.reset_state()
            identity_step(s, 0.1)
            captured["identity"] = [p.flat("scores").copy() for p in s.searched]

    search = build_search(RunConfig(method="soft-lr-zero", **TINY))
    METHODS["soft-lr-zero"].run(search, on_cycle_start=start)
    zeroed = captured["zeroed"]
    assert sum(int(z.sum()) for z in zeroed) > 0
    for z, a in zip(zeroed, captured["abs"]):
        assert np.all(a[z] == 0)
    assert any(np.any(ident[z] != 0) for z, ident in zip(zeroed, captured["identity"]))


def test_keep_momentum_is_refused_outside_the_iterative_methods():
    with pytest.raises(ValueError, match="keep_momentum applies to the iterative methods"):
        RunConfig(method="ep", keep_momentum=True)
    assert run_search(RunConfig(method="soft-lr", keep_momentum=True, **TINY))["status"] == "ok"
