"""ReLU (sltsim.engine.activation) against the element-by-element reference of tests/naive.py."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sltsim.engine.activation import ReLU
from tests.naive import naive_relu, naive_relu_backward

VALUES = st.one_of(st.sampled_from([0.0, -0.0]), st.floats(-5, 5, width=32))


@given(st.tuples(st.integers(1, 6), st.integers(1, 40)), st.sampled_from([np.float32, np.float64]), st.data())
def test_relu_forward_and_backward_match_the_elements(shape, dtype, data):
    x = data.draw(hnp.arrays(dtype, shape, elements=VALUES))
    dy = data.draw(hnp.arrays(dtype, shape, elements=st.floats(-5, 5, width=32)))
    y, backprop = ReLU().forward(x)
    want = naive_relu(x)
    np.testing.assert_array_equal(y, want)
    assert not np.any(np.signbit(y))  # -0.0 comes out +0.0
    np.testing.assert_array_equal(backprop(dy), naive_relu_backward(dy, want))
