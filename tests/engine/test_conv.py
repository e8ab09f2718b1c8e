"""im2col / col2im (sltsim.engine.conv) against the loops of tests/naive.py, over drawn geometries."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from sltsim.engine.conv import col2im, im2col
from tests.naive import naive_col2im, naive_im2col
from tests.strategies import conv_geometries, float64_arrays


@given(conv_geometries(), st.data())
def test_im2col_and_col2im_match_the_loops(geometry, data):
    B, c_in, _, H, W, kernel, stride, padding = geometry
    x = data.draw(float64_arrays((B, c_in, H, W)))
    cols = im2col(x, kernel, stride, padding)
    np.testing.assert_array_equal(cols, naive_im2col(x, kernel, stride, padding))
    g = data.draw(float64_arrays(cols.shape))
    np.testing.assert_allclose(col2im(g, x.shape, kernel, stride, padding), naive_col2im(g, x.shape, kernel, stride,
                                                                                          padding),
                               rtol=1e-12, atol=1e-12)
    if B > 1:  # a batch slice unfolds just those images, as the whole unfolding's columns
        per_image = cols.shape[1] // B
        np.testing.assert_array_equal(im2col(x, kernel, stride, padding, batch=(1, B)), cols[:, per_image:])
