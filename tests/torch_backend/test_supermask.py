"""Top-k selection and the straight-through gradient against naive references."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from sltsim.engine.topk import topk_mask
from sltsim.torch_backend.supermask import MaskedTensor, effective_weights, keep_top, kth_largest, select
from tests.naive import naive_keep_count, naive_keep_largest
from tests.strategies import prune_rates, score_vectors


@given(score_vectors(), prune_rates, st.sampled_from(["kthvalue", "topk"]))
def test_keep_top_matches_a_stable_sort_and_the_engine(scores, prune_rate, method):
    a = np.abs(scores.astype(np.float64))
    n_keep = naive_keep_count(a.size, prune_rate)
    if 0 < n_keep < a.size:
        assert float(kth_largest(torch.from_numpy(a), n_keep, method)) == np.sort(a)[::-1][n_keep - 1]
    keep = keep_top(torch.from_numpy(a), n_keep).numpy()
    np.testing.assert_array_equal(keep, naive_keep_largest(a, n_keep))
    np.testing.assert_array_equal(keep, topk_mask(scores, prune_rate).astype(bool))


def test_global_selection_shares_one_budget_and_breaks_ties_layer_then_index():
    a, b = MaskedTensor("a.weight", (2, 3), 3), MaskedTensor("b.weight", (4,), 4)
    with torch.no_grad():
        a.scores.copy_(torch.tensor([[0.5, -1.0, 0.5], [0.1, 0.5, 2.0]]))
        b.scores.copy_(torch.tensor([0.5, -0.5, 3.0, 0.0]))
    for t in (a, b):
        t.prune_rate = 0.5  # 10 edges: keep 5 (3.0, 2.0, -1.0 and the first two tied 0.5s)
    ma, mb = select([a, b], global_topk=True)
    assert ma.tolist() == [True, True, True, False, False, True] and mb.tolist() == [False, False, True, False]
    a.restrict(torch.tensor([0, 1, 0, 1, 1, 1]))  # hard pruning: only searchable edges compete
    ma, mb = select([a, b], global_topk=True)
    assert ma.tolist() == [False, True, False, False, True, True] and mb.tolist() == [True, False, True, False]


@pytest.mark.parametrize("scale", [1.0, 3.0])
def test_straight_through_gradient_is_sign_times_theta0_times_upstream(scale):
    t = MaskedTensor("w.weight", (5,), 5, torch.float64)
    with torch.no_grad():
        t.theta0.copy_(torch.tensor([1.0, -2.0, 3.0, -4.0, 5.0], dtype=torch.float64))
        t.scores.copy_(torch.tensor([0.3, -0.2, 0.0, -0.9, 0.1], dtype=torch.float64))
    t.prune_rate = 0.4
    masks = select([t])
    upstream = torch.tensor([0.5, 0.25, -1.0, 2.0, -3.0], dtype=torch.float64)
    w = effective_weights([t], masks, grad_scale=scale)["w.weight"]
    (w * upstream).sum().backward()
    # mask keeps |s| = 0.9, 0.3, 0.2; W_eff = m * theta0, and dL/ds = sign(s) dL/dW theta0 even where m = 0
    np.testing.assert_array_equal(w.detach().numpy(), [1.0, -2.0, 0.0, -4.0, 0.0])
    expected = scale * np.sign(t.scores.detach().numpy()) * upstream.numpy() * t.theta0.detach().numpy()
    np.testing.assert_array_equal(t.scores.grad.numpy(), expected)
    assert t.scores.grad[2] == 0  # sign(0) = 0
    assert not t.theta0.requires_grad
