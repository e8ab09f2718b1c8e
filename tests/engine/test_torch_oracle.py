"""torch autograd as a second oracle: each op's forward and backward in float64."""

import numpy as np
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from sltsim.engine.activation import ReLU
from sltsim.engine.conv import Conv2d, col2im, im2col
from sltsim.engine.dense import Dense
from sltsim.engine.loss import mse, softmax_cross_entropy
from sltsim.engine.norm import BatchNorm
from sltsim.engine.pool import AvgPool2d, GlobalAvgPool2d, MaxPool2d, max_pool2d
from tests.engine.layer_check import one_blas_thread  # noqa: F401 (autouse fixture)
from tests.gradcheck import assert_close
from tests.strategies import conv_geometries, float64_arrays, pool_geometries, seeds, small_dims


def torch_grads(fn, *arrays, grad_output):
    """Forward ``fn`` on leaf tensors of ``arrays`` and backward ``grad_output``."""
    leaves = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*leaves)
    out.backward(torch.from_numpy(grad_output))
    return out.detach().numpy(), [leaf.grad.numpy() for leaf in leaves]


def compare(layer, X, torch_fn, rng, train=True):
    """Our forward / dX / param grads against torch's, on the same random grad_output."""
    Y, bp = layer.forward(X, train)
    R = rng.standard_normal(Y.shape)
    dX = bp(R.copy())
    ref_Y, ref_grads = torch_grads(torch_fn, X, *[p.w_eff for p in layer.params], grad_output=R)
    assert_close(Y, ref_Y, rtol=1e-10, atol=1e-12, what="forward")
    assert_close(dX, ref_grads[0], rtol=1e-10, atol=1e-12, what="input gradient")
    for p, g in zip(layer.params, ref_grads[1:]):
        assert_close(p.grad, g, rtol=1e-10, atol=1e-12, what=p.name)


@given(conv_geometries(), st.booleans(), seeds, st.data())
def test_conv2d(geometry, bias, seed, data):
    B, c_in, c_out, H, W, kernel, stride, padding = geometry
    rng = np.random.default_rng(seed)
    layer = Conv2d("conv", c_in, c_out, kernel, stride, padding, bias=bias, dtype=np.float64)
    for p in layer.params:
        p.w_eff[...] = rng.standard_normal(p.shape)
    X = data.draw(float64_arrays((B, c_in, H, W)))
    compare(layer, X, lambda x, w, b=None: F.conv2d(x, w, b, stride=stride, padding=padding), rng)


@given(conv_geometries(), st.data())
def test_im2col_col2im_match_unfold_fold(geometry, data):
    B, C, _, H, W, kernel, stride, padding = geometry
    x = data.draw(float64_arrays((B, C, H, W)))
    cols = im2col(x, kernel, stride, padding)
    ref = F.unfold(torch.from_numpy(x), kernel, padding=padding, stride=stride).numpy()  # (B, K, L)
    np.testing.assert_array_equal(cols, ref.transpose(1, 0, 2).reshape(ref.shape[1], -1))
    g = np.random.default_rng(0).standard_normal(cols.shape)
    g_batched = torch.from_numpy(np.ascontiguousarray(g.reshape(g.shape[0], B, -1).transpose(1, 0, 2)))
    ref_dx = F.fold(g_batched, (H, W), kernel, padding=padding, stride=stride).numpy()
    assert_close(col2im(g, x.shape, kernel, stride, padding), ref_dx, rtol=1e-12, atol=1e-12, what="col2im")
    # the public col2im leaves its input alone
    np.testing.assert_array_equal(g, np.random.default_rng(0).standard_normal(cols.shape))


@st.composite
def tied_images(draw):
    """Pool inputs drawn from three values, so that windows often hold tied maxima."""
    B, C, H, W, kernel, stride = draw(pool_geometries())
    values = draw(st.lists(st.sampled_from([-1.0, 0.0, 1.0]), min_size=B * C * H * W, max_size=B * C * H * W))
    return np.asarray(values).reshape(B, C, H, W), kernel, stride


@given(tied_images(), seeds)
def test_max_pool_with_ties_routes_like_torch(drawn, seed):
    X, kernel, stride = drawn
    compare(MaxPool2d(kernel, stride), X, lambda x: F.max_pool2d(x, kernel, stride), np.random.default_rng(seed))


@given(pool_geometries(), seeds, st.data())
def test_avg_pool(geometry, seed, data):
    B, C, H, W, kernel, stride = geometry
    X = data.draw(float64_arrays((B, C, H, W)))
    compare(AvgPool2d(kernel, stride), X, lambda x: F.avg_pool2d(x, kernel, stride), np.random.default_rng(seed))


@given(st.tuples(small_dims, small_dims, small_dims, small_dims), seeds, st.data())
def test_global_avg_pool(shape, seed, data):
    X = data.draw(float64_arrays(shape))
    compare(GlobalAvgPool2d(), X, lambda x: x.mean(dim=(2, 3)), np.random.default_rng(seed))


@given(small_dims, small_dims, small_dims, st.booleans(), seeds, st.data())
def test_dense(batch, n_in, n_out, bias, seed, data):
    rng = np.random.default_rng(seed)
    layer = Dense("fc", n_in, n_out, bias=bias, dtype=np.float64)
    for p in layer.params:
        p.w_eff[...] = rng.standard_normal(p.shape)
    compare(layer, data.draw(float64_arrays((batch, n_in))), F.linear, rng)


@given(st.tuples(small_dims, small_dims), seeds, st.data())
def test_relu(shape, seed, data):
    # values from a small set put entries exactly at the kink: both give 0 there
    values = data.draw(st.lists(st.sampled_from([-1.5, -0.0, 0.0, 0.5, 2.0]), min_size=shape[0] * shape[1],
                                max_size=shape[0] * shape[1]))
    compare(ReLU(), np.asarray(values).reshape(shape), F.relu, np.random.default_rng(seed))


@given(small_dims, st.integers(2, 6), st.data())
def test_softmax_cross_entropy(batch, n_classes, data):
    logits = data.draw(float64_arrays((batch, n_classes), -30.0, 30.0))
    labels = np.asarray(data.draw(st.lists(st.integers(0, n_classes - 1), min_size=batch, max_size=batch)))
    loss, grad = softmax_cross_entropy(logits, labels)
    t_logits = torch.tensor(logits, requires_grad=True)
    ref = F.cross_entropy(t_logits, torch.from_numpy(labels))
    ref.backward()
    assert_close(loss, ref.item(), rtol=1e-12, atol=1e-12, what="loss")
    assert_close(grad, t_logits.grad.numpy(), rtol=1e-10, atol=1e-12)


@given(small_dims, small_dims, st.data())
def test_mse(batch, n_out, data):
    outputs, targets = data.draw(float64_arrays((batch, n_out))), data.draw(float64_arrays((batch, n_out)))
    loss, grad = mse(outputs, targets)
    t_out = torch.tensor(outputs, requires_grad=True)
    ref = F.mse_loss(t_out, torch.from_numpy(targets))
    ref.backward()
    assert_close(loss, ref.item(), rtol=1e-12, atol=1e-12, what="loss")
    assert_close(grad, t_out.grad.numpy(), rtol=1e-10, atol=1e-12)


@st.composite
def batch_norm_inputs(draw):
    if draw(st.booleans()):
        shape = (draw(st.integers(2, 6)), draw(small_dims))
    else:
        shape = (draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(2, 4)))
    return draw(float64_arrays(shape, -3.0, 3.0))


@given(batch_norm_inputs(), st.floats(0.0, 1.0), st.integers(1, 3), seeds)
def test_batch_norm_train_and_running_stats(X, momentum, steps, seed):
    rng = np.random.default_rng(seed)
    C = X.shape[1]
    layer = BatchNorm(C, momentum=momentum, dtype=np.float64)
    running_mean, running_var = torch.zeros(C, dtype=torch.float64), torch.ones(C, dtype=torch.float64)
    for step in range(steps):
        Xs = X + step * rng.standard_normal(X.shape)  # the running stats see different batches
        compare(layer, Xs, lambda x: F.batch_norm(x, running_mean, running_var, training=True,
                                                  momentum=momentum, eps=1e-5), rng)
        assert_close(layer.running_mean, running_mean.numpy(), rtol=1e-12, atol=1e-12, what="running mean")
        assert_close(layer.running_var, running_var.numpy(), rtol=1e-12, atol=1e-12, what="running var")


@given(batch_norm_inputs(), seeds)
def test_batch_norm_eval_uses_running_stats(X, seed):
    rng = np.random.default_rng(seed)
    C = X.shape[1]
    layer = BatchNorm(C, dtype=np.float64)
    for _ in range(3):  # move the running stats away from (0, 1)
        layer.forward(2 + 3 * rng.standard_normal(X.shape), True)
    running_mean, running_var = torch.from_numpy(layer.running_mean.copy()), torch.from_numpy(layer.running_var.copy())
    compare(layer, X, lambda x: F.batch_norm(x, running_mean, running_var, training=False, eps=1e-5), rng,
            train=False)
    # evaluation neither reads nor changes the batch statistics
    np.testing.assert_array_equal(layer.running_mean, running_mean.numpy())
    Y_eval, _ = layer.forward(X, False)
    expected = (X - layer.running_mean.reshape((1, C) + (1,) * (X.ndim - 2))) / np.sqrt(
        layer.running_var.reshape((1, C) + (1,) * (X.ndim - 2)) + 1e-5)
    assert_close(Y_eval, expected, rtol=1e-12, atol=1e-12, what="eval forward")


@given(pool_geometries(), st.data())
def test_max_pool_indices_match_torch_with_nan_and_inf(geometry, data):
    B, C, H, W, kernel, stride = geometry
    n = B * C * H * W
    values = data.draw(st.lists(st.sampled_from([-1.0, 0.0, 1.0, np.nan, np.inf, -np.inf]), min_size=n, max_size=n))
    X = np.asarray(values).reshape(B, C, H, W)
    Y, argmax = max_pool2d(X, kernel, stride)
    ref_Y, ref_index = F.max_pool2d(torch.from_numpy(X), kernel, stride, return_indices=True)
    np.testing.assert_array_equal(Y, ref_Y.numpy())  # NaN == NaN here
    np.testing.assert_array_equal(argmax, ref_index.numpy())
