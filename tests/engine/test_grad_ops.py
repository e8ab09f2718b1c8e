"""Every engine op's hand-written backward against float64 central differences.

Shapes and values are drawn by hypothesis; the scalar is a random linear functional
of the op's output, and the check covers the input and every param's w_eff.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sltsim.engine.activation import ReLU
from sltsim.engine.conv import Conv2d
from sltsim.engine.convnets import basic_block
from sltsim.engine.dense import Dense
from sltsim.engine.loss import mse, softmax_cross_entropy
from sltsim.engine.norm import BatchNorm
from sltsim.engine.pool import AvgPool2d, GlobalAvgPool2d, MaxPool2d
from sltsim.engine.shape import Flatten
from tests.engine.layer_check import check_layer, one_blas_thread  # noqa: F401 (autouse fixture)
from tests.gradcheck import assert_close, numerical_grad
from tests.strategies import (conv_geometries, distinct_arrays, float64_arrays, pool_geometries, seeds,
                              small_dims)


def fill_weights(layer, rng):
    for p in layer.params:
        p.w_eff[...] = rng.standard_normal(p.shape)


@given(small_dims, small_dims, small_dims, st.booleans(), seeds, st.data())
def test_dense(batch, n_in, n_out, bias, seed, data):
    rng = np.random.default_rng(seed)
    layer = Dense("fc", n_in, n_out, bias=bias, dtype=np.float64)
    fill_weights(layer, rng)
    check_layer(layer, data.draw(float64_arrays((batch, n_in))), rng)


@given(st.tuples(small_dims, small_dims), seeds, st.data())
def test_relu(shape, seed, data):
    check_layer(ReLU(), data.draw(distinct_arrays(shape)), np.random.default_rng(seed))


@given(small_dims, st.integers(2, 6), st.data())
def test_softmax_cross_entropy(batch, n_classes, data):
    logits = data.draw(float64_arrays((batch, n_classes), -5.0, 5.0))
    labels = np.asarray(data.draw(st.lists(st.integers(0, n_classes - 1), min_size=batch, max_size=batch)))
    _, grad = softmax_cross_entropy(logits, labels)
    expected = numerical_grad(lambda: softmax_cross_entropy(logits, labels)[0], logits)
    assert_close(grad, expected)


@given(small_dims, small_dims, st.data())
def test_mse(batch, n_out, data):
    outputs = data.draw(float64_arrays((batch, n_out)))
    targets = data.draw(float64_arrays((batch, n_out)))
    _, grad = mse(outputs, targets)
    assert_close(grad, numerical_grad(lambda: mse(outputs, targets)[0], outputs))


@given(conv_geometries(), st.booleans(), seeds, st.data())
def test_conv2d(geometry, bias, seed, data):
    B, c_in, c_out, H, W, kernel, stride, padding = geometry
    rng = np.random.default_rng(seed)
    layer = Conv2d("conv", c_in, c_out, kernel, stride, padding, bias=bias, dtype=np.float64)
    fill_weights(layer, rng)
    check_layer(layer, data.draw(float64_arrays((B, c_in, H, W))), rng)


@given(pool_geometries(), seeds, st.data())
def test_max_pool(geometry, seed, data):
    B, C, H, W, kernel, stride = geometry
    X = data.draw(distinct_arrays((B, C, H, W)))
    check_layer(MaxPool2d(kernel, stride), X, np.random.default_rng(seed))


@given(pool_geometries(), seeds, st.data())
def test_avg_pool(geometry, seed, data):
    B, C, H, W, kernel, stride = geometry
    check_layer(AvgPool2d(kernel, stride), data.draw(float64_arrays((B, C, H, W))), np.random.default_rng(seed))


@given(st.tuples(small_dims, small_dims, small_dims, small_dims), seeds, st.data())
def test_global_avg_pool_and_flatten(shape, seed, data):
    X = data.draw(float64_arrays(shape))
    rng = np.random.default_rng(seed)
    check_layer(GlobalAvgPool2d(), X, rng)
    check_layer(Flatten(), X, rng)


@st.composite
def batch_norm_inputs(draw):
    """(B, C) or (B, C, H, W) with more than one value per channel."""
    if draw(st.booleans()):
        shape = (draw(st.integers(2, 6)), draw(small_dims))
    else:
        shape = (draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(2, 4)))
    return draw(float64_arrays(shape, -3.0, 3.0))


@given(batch_norm_inputs(), st.booleans(), seeds)
def test_batch_norm(X, train, seed):
    rng = np.random.default_rng(seed)
    layer = BatchNorm(X.shape[1], dtype=np.float64)
    layer.running_mean[...] = rng.standard_normal(X.shape[1])
    layer.running_var[...] = rng.uniform(0.5, 2.0, X.shape[1])
    # a near-constant channel makes 1 / sqrt(var + eps) up to ~316: loosen atol with it
    check_layer(layer, X, rng, train=train, rtol=1e-5, atol=1e-6)


@given(st.integers(2, 3), st.integers(1, 2), st.sampled_from([(1, 1), (1, 2), (2, 2), (2, 1)]),
       st.integers(2, 4), seeds)
def test_residual_block(batch, c_in, widen_stride, size, seed):
    widen, stride = widen_stride
    rng = np.random.default_rng(seed)
    block = basic_block("block", c_in, c_in * widen, stride, dtype=np.float64)
    assert (block.shortcut == []) == (widen == 1 and stride == 1)
    fill_weights(block, rng)
    check_layer(block, rng.standard_normal((batch, c_in, size, size)), rng, rtol=1e-5, atol=1e-6)


FIRST_LAYERS = {
    "dense": lambda: Dense("fc", 4, 3, bias=True, dtype=np.float64),
    "conv": lambda: Conv2d("conv", 2, 3, 3, stride=2, padding=1, bias=True, dtype=np.float64),
    "residual": lambda: basic_block("block", 2, 4, 2, dtype=np.float64),
    "max_pool": lambda: MaxPool2d(2),
    "avg_pool": lambda: AvgPool2d(2),
    "global_pool": GlobalAvgPool2d,
    "batch_norm": lambda: BatchNorm(2, dtype=np.float64),
    "flatten": Flatten,
}


@pytest.mark.parametrize("kind", sorted(FIRST_LAYERS))
def test_first_layer_returns_none_and_writes_param_grads(kind):
    rng = np.random.default_rng(0)
    layer = FIRST_LAYERS[kind]()
    fill_weights(layer, rng)
    X = rng.standard_normal((3, 4) if kind == "dense" else (3, 2, 4, 4))
    R = rng.standard_normal(layer.forward(X, True)[0].shape)
    _, bp = layer.forward(X, True)
    assert bp(R) is not None
    with_input = [p.grad.copy() for p in layer.params]
    layer.input_grad = False
    for p in layer.params:
        p.grad.fill(np.nan)
    _, bp = layer.forward(X, True)
    assert bp(R) is None
    for p, g in zip(layer.params, with_input):
        np.testing.assert_array_equal(p.grad, g, err_msg=p.name)
    if layer.params:
        check_layer(layer, X, rng)  # checks the param grads again, with input_grad False
