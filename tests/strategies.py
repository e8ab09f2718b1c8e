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


@st.composite
def distinct_arrays(draw, shape, gap: float = 0.1):
    """Float64 arrays of ``shape`` whose entries differ pairwise by at least ``gap / 2`` and
    lie at least ``gap / 4`` from 0: no ties for max pool and no ReLU kink within a
    central difference step. The order of the values is drawn, then each gets a jitter."""
    n = int(np.prod(shape))
    order = np.asarray(draw(st.permutations(range(n))), np.float64)
    jitter = draw(hnp.arrays(np.float64, n, elements=st.floats(-0.25, 0.25)))
    values = (order - n // 2 + 0.5 + jitter) * gap
    return values.reshape(shape)


@st.composite
def conv_geometries(draw, max_batch: int = 3, max_channels: int = 3, max_size: int = 7):
    """(B, C_in, C_out, H, W, kernel, stride, padding) with an output of at least 1x1;
    kernel, stride and padding are (h, w) pairs. Half of the draws are the models'
    3x3 convs with padding 1 and stride 1 or 2."""
    B = draw(st.integers(1, max_batch))
    c_in, c_out = draw(st.integers(1, max_channels)), draw(st.integers(1, max_channels))
    if draw(st.booleans()):
        kernel, padding = (3, 3), (1, 1)
        stride = draw(st.sampled_from([(1, 1), (2, 2)]))
    else:
        kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        padding = (draw(st.integers(0, kernel[0] - 1)), draw(st.integers(0, kernel[1] - 1)))
        stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    H = draw(st.integers(max(1, kernel[0] - 2 * padding[0]), max_size))
    W = draw(st.integers(max(1, kernel[1] - 2 * padding[1]), max_size))
    return B, c_in, c_out, H, W, kernel, stride, padding


@st.composite
def pool_geometries(draw, max_batch: int = 3, max_channels: int = 3, max_size: int = 7):
    """(B, C, H, W, kernel, stride) for a pool without padding whose window fits the input.
    Half of the draws are the conv nets' 2x2 pool of stride 2."""
    B, C = draw(st.integers(1, max_batch)), draw(st.integers(1, max_channels))
    if draw(st.booleans()):
        kernel, stride = (2, 2), (2, 2)
    else:
        kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    H, W = draw(st.integers(kernel[0], max_size)), draw(st.integers(kernel[1], max_size))
    return B, C, H, W, kernel, stride


PLANTED_MODEL = "mlp:32,16,10"


@st.composite
def run_config_fields(draw):
    """Flat keyword arguments of a valid engine :class:`~sltsim.config.RunConfig`, spread over
    every group but execution: the method and its options, training, model, data set and (on
    planted data) the planted target. Some values are not yet canonical (an int in a float
    field, a model spec with spaces, integer coats) so that canonicalisation has work to do."""
    fields = {}
    method = draw(st.sampled_from(["ep", "hard-ft", "soft-lr", "iterand", "multicoat", "random-uniform", "dense"]))
    fields["method"] = method
    if method in ("hard-ft", "soft-lr"):
        fields.update(cycles=draw(st.integers(2, 4)), shrinkage=draw(st.sampled_from([0.25, 0.5])),
                      keep_momentum=draw(st.booleans()))
    elif method == "iterand":
        fields.update(iterand_period=draw(st.integers(1, 500)), iterand_ranking=draw(st.sampled_from(["raw", "abs"])),
                      iterand_rate=draw(st.sampled_from([0, 0.1, 1])), method_inits=draw(st.booleans()))
    elif method == "multicoat":
        fields["coats"] = draw(st.sampled_from([(), (0.75,), (0.75, 0.875)]))
    if method not in ("multicoat", "hard-ft", "soft-lr"):  # these derive or bound it
        fields["prune_rate"] = draw(st.sampled_from([0, 0.5, 0.7, 0.25]))
    fields["seed"] = draw(seeds)
    fields["lr"] = draw(st.sampled_from([1, 0.1, 0.05, -0.0]))
    fields["epochs"] = draw(st.integers(1, 60))
    fields["warmup_epochs"] = draw(st.integers(0, fields["epochs"]))
    fields["schedule"] = draw(st.sampled_from(["constant", "cosine", "step"]))
    fields["weight_decay"] = draw(st.sampled_from([0, 5e-4, 1e-3]))
    fields["dtype"] = draw(st.sampled_from(["float32", "float64"]))
    fields["bias"] = draw(st.booleans())
    if draw(st.booleans()):
        fields.update(data="planted", model=draw(st.sampled_from([PLANTED_MODEL, "mlp: 32, 16, 10"])),
                      plant=draw(st.sampled_from(["subnetwork", "neuron"])),
                      task=draw(st.sampled_from(["classification", "regression"])),
                      n_train=draw(st.integers(10, 3000)), label_noise=draw(st.sampled_from([0, 0.1, 0.0])))
    else:
        fields.update(data=draw(st.sampled_from(["digits", "mnist1d"])), random_labels=draw(st.booleans()))
    return fields
