"""Max and average pools (sltsim.engine.pool) against the loops of tests/naive.py: values, and
for max pool the first maximum of each window in row-major order when values tie."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sltsim.engine.pool import avg_pool2d, max_pool2d, max_pool2d_backward
from tests.naive import naive_avg_pool2d, naive_max_pool2d
from tests.strategies import float64_arrays, pool_geometries


@given(pool_geometries(), st.booleans(), st.data())
def test_max_pool_values_argmax_and_backward_match_the_loops(geometry, ties, data):
    B, C, H, W, kernel, stride = geometry
    shape = (B, C, H, W)
    x = (data.draw(hnp.arrays(np.float64, shape, elements=st.sampled_from([-1.0, 0.0, 2.0]))) if ties
         else data.draw(float64_arrays(shape)))
    y, argmax = max_pool2d(x, kernel, stride)
    want_y, want_arg = naive_max_pool2d(x, kernel, stride)
    np.testing.assert_array_equal(y, want_y)
    np.testing.assert_array_equal(argmax, want_arg)
    dy = data.draw(float64_arrays(y.shape))
    dx = np.zeros(shape)
    for b, c, i, j in np.ndindex(*y.shape):  # each dy goes to its window's first maximum
        h, w = divmod(int(want_arg[b, c, i, j]), W)
        dx[b, c, h, w] += dy[b, c, i, j]
    np.testing.assert_allclose(max_pool2d_backward(dy, argmax, shape), dx, rtol=1e-12, atol=1e-12)


@given(pool_geometries(), st.data())
def test_avg_pool_matches_the_loops(geometry, data):
    B, C, H, W, kernel, stride = geometry
    x = data.draw(float64_arrays((B, C, H, W)))
    np.testing.assert_allclose(avg_pool2d(x, kernel, stride), naive_avg_pool2d(x, kernel, stride),
                               rtol=1e-12, atol=1e-12)
