"""softmax_cross_entropy (sltsim.engine.loss) against the row-by-row reference of tests/naive.py."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sltsim.engine.loss import softmax_cross_entropy
from tests.naive import naive_softmax_cross_entropy
from tests.strategies import float64_arrays


@given(st.integers(1, 8), st.integers(2, 12), st.sampled_from([np.float32, np.float64]), st.data())
def test_softmax_cross_entropy_matches_the_rows(batch, n_classes, dtype, data):
    logits = data.draw(float64_arrays((batch, n_classes), -30.0, 30.0)).astype(dtype)
    labels = np.asarray(data.draw(st.lists(st.integers(0, n_classes - 1), min_size=batch, max_size=batch)))
    loss, grad = softmax_cross_entropy(logits, labels)
    want_loss, want_grad = naive_softmax_cross_entropy(logits, labels)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert grad.dtype == dtype and grad.shape == logits.shape
    assert loss == pytest.approx(want_loss, rel=tol, abs=tol)
    np.testing.assert_allclose(grad, want_grad, rtol=tol, atol=tol)


def test_a_label_outside_the_classes_is_refused():
    with pytest.raises(IndexError, match=r"class indices in \[0, 3\)"):
        softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 3]))
