"""Model builders: gradients of whole models (sampled central differences, float64),
structure, names and the errors for inputs that do not fit."""

import numpy as np
import pytest
from hypothesis import given, settings

from sltsim.engine import conv as conv_module
from sltsim.engine.conv import Conv2d
from sltsim.engine.convnets import conv_net, resnet
from sltsim.engine.models import build_model, mlp
from sltsim.engine.norm import BatchNorm
from sltsim.engine.residual import Residual
from tests.engine.layer_check import check_model_sampled, one_blas_thread  # noqa: F401 (autouse fixture)
from tests.strategies import mlp_widths, seeds


def draw_weights(model, rng, prune_rate=0.0):
    """Kaiming-scaled normal theta0, weights masked at random as after a top-k step.

    Masked weights put pre-activations exactly on the ReLU kink (a corner pixel whose few
    taps are all masked, or a unit without bias whose in-edges are all masked), where
    central differences see half the slope; models with such units are drawn unmasked.
    """
    for p in model.params:
        theta0 = rng.standard_normal(p.shape) * np.sqrt(2.0 / p.fan_in)
        keep = rng.random(p.shape) >= prune_rate if p.name.endswith(".weight") else True
        p.w_eff[...] = theta0 * keep


@given(mlp_widths(), seeds)
def test_mlp_gradients(widths, seed):
    rng = np.random.default_rng(seed)
    # frozen biases keep pre-activations off the ReLU kink when a unit's in-edges are all masked
    model = mlp(widths, bias=True, dtype=np.float64)
    draw_weights(model, rng, prune_rate=0.3)
    model.set_input_grad(True)
    check_model_sampled(model, rng.standard_normal((3, widths[0])), rng, n_entries=8)


MODEL_CASES = [  # (spec, input shape, batch): tiny inputs so that float64 differences stay cheap
    ("conv2", (2, 4, 4), 2),
    ("conv4", (1, 4, 6), 2),
    ("resnet8", (2, 6, 6), 3),
]


@pytest.mark.parametrize("spec,shape,batch", MODEL_CASES)
@settings(max_examples=3)
@given(seed=seeds)
def test_model_gradients(spec, shape, batch, seed):
    rng = np.random.default_rng(seed)
    model = build_model(spec, shape, 3, dtype=np.float64)
    draw_weights(model, rng)
    X = rng.standard_normal((batch,) + shape)
    check_model_sampled(model, X, rng, n_entries=5)  # the first layer returns no input grad
    model.set_input_grad(True)
    check_model_sampled(model, X, rng, n_entries=5, atol=1e-6)


def test_conv_net_structure():
    model = build_model("conv4", (3, 32, 32), 10)
    names = [p.name for p in model.params]
    assert names == ["conv1.weight", "conv2.weight", "conv3.weight", "conv4.weight",
                     "fc1.weight", "fc2.weight", "fc3.weight"]
    shapes = {p.name: p.shape for p in model.params}
    assert shapes["conv1.weight"] == (64, 3, 3, 3) and shapes["conv4.weight"] == (128, 128, 3, 3)
    assert shapes["fc1.weight"] == (256, 128 * 8 * 8) and shapes["fc3.weight"] == (10, 256)
    assert {p.name: p.fan_in for p in model.params}["conv2.weight"] == 64 * 9
    out, _ = model.forward(np.zeros((2, 3, 32, 32), np.float32), train=False)
    assert out.shape == (2, 10)
    conv8 = build_model("conv8", (3, 32, 32), 10)
    assert {p.name: p.shape for p in conv8.params}["fc1.weight"] == (256, 512 * 2 * 2)
    assert build_model("conv2", (1, 8, 8), 10).params[2].shape == (256, 64 * 4 * 4)


@pytest.mark.parametrize("spec,shape", [("conv8", (1, 8, 8)), ("conv2", (1, 1, 40)), ("conv4", (3, 3, 3))])
def test_conv_net_rejects_inputs_too_small(spec, shape):
    with pytest.raises(ValueError, match=rf"{spec}.*{shape[0]}, {shape[1]}, {shape[2]}"):
        build_model(spec, shape, 10)


def test_resnet_structure():
    model = build_model("resnet20", (3, 32, 32), 10)
    names = [p.name for p in model.params]
    assert len(names) == len(set(names)) == 1 + 9 * 2 + 2 + 1
    assert names[:3] == ["conv1.weight", "block1.1.conv1.weight", "block1.1.conv2.weight"]
    assert "block2.1.shortcut.weight" in names and "block3.1.shortcut.weight" in names
    assert "block1.1.shortcut.weight" not in names and "block2.2.shortcut.weight" not in names
    assert names[-1] == "fc.weight"
    blocks = [layer for layer in model.layers if isinstance(layer, Residual)]
    assert len(blocks) == 9
    # the block's params: branch first, then shortcut
    assert [p.name for p in blocks[3].params] == ["block2.1.conv1.weight", "block2.1.conv2.weight",
                                                  "block2.1.shortcut.weight"]
    # He et al.'s 0.27M (268,336 with parameter-free shortcuts) plus the two 1x1 shortcut convs
    assert sum(p.size for p in model.params) == 268_336 + 16 * 32 + 32 * 64
    out, _ = model.forward(np.zeros((2, 3, 7, 5), np.float32), train=True)  # any input size
    assert out.shape == (2, 10)
    with pytest.raises(ValueError, match="resnet depth"):
        resnet(10, (3, 32, 32), 10)
    with pytest.raises(ValueError, match="conv_net depth"):
        conv_net(3, (3, 32, 32), 10)


@pytest.mark.parametrize("spec", ["conv2", "resnet8"])
def test_float32_models_stay_float32(spec):
    rng = np.random.default_rng(0)
    model = build_model(spec, (1, 8, 8), 4)
    draw_weights(model, rng)
    model.set_input_grad(True)
    X = rng.standard_normal((5, 1, 8, 8)).astype(np.float32)
    out, bp = model.forward(X, True)
    dX = bp(np.ones_like(out))
    assert out.dtype == dX.dtype == np.float32
    assert all(p.grad.dtype == np.float32 and np.isfinite(p.grad).all() for p in model.params)
    inner = [m for layer in model.layers for m in getattr(layer, "branch", [layer]) + getattr(layer, "shortcut", [])]
    bns = [m for m in inner if isinstance(m, BatchNorm)]
    assert all(bn.running_var.dtype == np.float32 for bn in bns) and len(bns) == (9 if spec == "resnet8" else 0)
    out_eval, _ = model.forward(X, False)
    assert out_eval.dtype == np.float32


@pytest.mark.parametrize("slice_elements", [1, 200, 1 << 30])
def test_conv_batch_slicing_gives_the_same_result(monkeypatch, slice_elements):
    """One GEMM per batch slice (one image, a few, all of them): every slicing agrees."""
    rng = np.random.default_rng(1)
    layer = Conv2d("conv", 3, 4, 3, stride=1, padding=1, bias=True, dtype=np.float64)
    for p in layer.params:
        p.w_eff[...] = rng.standard_normal(p.shape)
    X, R = rng.standard_normal((5, 3, 6, 6)), rng.standard_normal((5, 4, 6, 6))
    monkeypatch.setattr(conv_module, "SLICE_ELEMENTS", 1 << 30)
    Y_ref, bp = layer.forward(X, True)
    dX_ref, grads_ref = bp(R), [p.grad.copy() for p in layer.params]
    monkeypatch.setattr(conv_module, "SLICE_ELEMENTS", slice_elements)
    Y, bp = layer.forward(X, True)
    Y_other, _ = layer.forward(X + 1, True)  # a second forward must not disturb the first's backward
    dX = bp(R)
    np.testing.assert_allclose(Y, Y_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dX, dX_ref, rtol=1e-12, atol=1e-12)
    for p, g in zip(layer.params, grads_ref):
        np.testing.assert_allclose(p.grad, g, rtol=1e-12, atol=1e-12)
