"""Hypothesis strategies shared by every test: shapes, arrays, prune rates, seeds."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

prune_rates = st.floats(min_value=0.0, max_value=0.95, allow_nan=False, exclude_max=True)
seeds = st.integers(min_value=0, max_value=2**31 - 1)
small_dims = st.integers(min_value=1, max_value=7)


def float64_arrays(shape, low: float = -2.0, high: float = 2.0):
    """Finite float64 arrays of ``shape`` with values in [low, high]."""
    return hnp.arrays(np.float64, shape, elements=st.floats(low, high, allow_nan=False, allow_infinity=False))


@st.composite
def score_vectors(draw, max_size: int = 200, with_ties: bool = True):
    """Flat float32 score vectors; with ``with_ties`` values come from a small set so ties are common."""
    n = draw(st.integers(1, max_size))
    if with_ties and draw(st.booleans()):
        values = draw(st.lists(st.sampled_from([-1.0, -0.5, 0.0, 0.25, 0.5, 1.0]), min_size=n, max_size=n))
        return np.asarray(values, np.float32)
    return draw(hnp.arrays(np.float32, n, elements=st.floats(-10, 10, width=32, allow_nan=False)))


@st.composite
def mlp_widths(draw, max_layers: int = 3, max_width: int = 6):
    n = draw(st.integers(2, max_layers + 1))
    return tuple(draw(st.integers(1, max_width)) for _ in range(n))
