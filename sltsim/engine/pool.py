"""Pooling layers (NCHW): max pool, average pool and global average pool.

Max and average pools run Numba kernels (:mod:`sltsim.engine.conv_kernels`) behind
the validating wrappers below. Windows never read padding and the output size is
floor((H - k) / s) + 1, torch's default (``ceil_mode=False``).
"""

from __future__ import annotations

import numpy as np

from sltsim.engine.conv import _check_image, _pair, conv_output_size
from sltsim.engine import threads
from sltsim.engine.conv_kernels import _avg_pool_backward, _avg_pool_forward, _max_pool_backward, _max_pool_forward


def _pool_geometry(x_shape, kernel, stride, what: str):
    (kh, kw) = _pair(kernel, "kernel")
    (sh, sw) = (kh, kw) if stride is None else _pair(stride, "stride")
    if min(kh, kw, sh, sw) < 1:
        raise ValueError(f"{what} kernel and stride must be >= 1, got {kernel}, {stride}")
    H, W = x_shape[2], x_shape[3]
    Ho, Wo = conv_output_size(H, kh, sh, 0), conv_output_size(W, kw, sw, 0)
    if Ho < 1 or Wo < 1:
        raise ValueError(f"{what} window {(kh, kw)} does not fit input of shape {tuple(x_shape)}")
    return kh, kw, sh, sw, Ho, Wo


PIECE = 1 << 16
"""Fewest input numbers per range of images when a pool runs on several threads."""


def _by_images(kernel_on, n_images: int, x: np.ndarray) -> None:
    # kernel_on(b0, b1) for ranges of images, side by side on several threads: every image
    # is pooled on its own, so any ranges give the same bits
    n_threads = threads.current()
    if n_threads <= 1 or x.size < 2 * PIECE or n_images < 2:
        kernel_on(0, n_images)
        return
    pieces = min(n_threads, x.size // PIECE)
    threads.run([(lambda a=a, b=b: kernel_on(a, b)) for a, b in threads.bounds(n_images, pieces)], n_threads)


def max_pool2d(x: np.ndarray, kernel, stride=None) -> tuple[np.ndarray, np.ndarray]:
    """Max over each window.

    Parameters
    ----------
    x : (B, C, H, W) float32 or float64.
    kernel : int or (kh, kw); stride defaults to the kernel.

    Returns
    -------
    y : (B, C, Ho, Wo).
    argmax : (B, C, Ho, Wo) int64, flat index h * W + w of the first maximum of each
        window in row-major order (torch's tie rule); NaN wins.
    """
    _check_image(x, "max_pool2d")
    kh, kw, sh, sw, Ho, Wo = _pool_geometry(x.shape, kernel, stride, "max_pool2d")
    B, C = x.shape[:2]
    y = np.empty((B, C, Ho, Wo), x.dtype)
    argmax = np.empty((B, C, Ho, Wo), np.int64)
    x = np.ascontiguousarray(x)
    _by_images(lambda a, b: _max_pool_forward(x[a:b], kh, kw, sh, sw, y[a:b], argmax[a:b]), B, x)
    return y, argmax


def max_pool2d_backward(dy: np.ndarray, argmax: np.ndarray, x_shape: tuple[int, ...]) -> np.ndarray:
    """dL/dx of :func:`max_pool2d`: each dy goes to its window's argmax (summed where windows overlap).

    Parameters
    ----------
    dy, argmax : (B, C, Ho, Wo).
    x_shape : (B, C, H, W).
    """
    if dy.shape != argmax.shape or dy.shape[:2] != tuple(x_shape[:2]):
        raise ValueError(f"max_pool2d_backward: dy {dy.shape}, argmax {argmax.shape} and x {x_shape} disagree")
    dx = np.empty(tuple(x_shape), dy.dtype)
    dy, argmax = np.ascontiguousarray(dy), np.ascontiguousarray(argmax)
    _by_images(lambda a, b: _max_pool_backward(dy[a:b], argmax[a:b], dx[a:b]), dx.shape[0], dx)
    return dx


def avg_pool2d(x: np.ndarray, kernel, stride=None) -> np.ndarray:
    """Mean over each window: (B, C, H, W) -> (B, C, Ho, Wo)."""
    _check_image(x, "avg_pool2d")
    kh, kw, sh, sw, Ho, Wo = _pool_geometry(x.shape, kernel, stride, "avg_pool2d")
    y = np.empty(x.shape[:2] + (Ho, Wo), x.dtype)
    _avg_pool_forward(np.ascontiguousarray(x), kh, kw, sh, sw, y)
    return y


def avg_pool2d_backward(dy: np.ndarray, x_shape: tuple[int, ...], kernel, stride=None) -> np.ndarray:
    """dL/dx of :func:`avg_pool2d`: every window spreads dy / (kh * kw) over its inputs."""
    kh, kw, sh, sw, Ho, Wo = _pool_geometry(x_shape, kernel, stride, "avg_pool2d")
    if dy.shape != tuple(x_shape[:2]) + (Ho, Wo):
        raise ValueError(f"avg_pool2d_backward: dy {dy.shape} does not match x {tuple(x_shape)}")
    dx = np.empty(tuple(x_shape), dy.dtype)
    _avg_pool_backward(np.ascontiguousarray(dy), kh, kw, sh, sw, dx)
    return dx


class MaxPool2d:
    """Max pooling; backward routes each gradient to its window's (first) maximum."""

    def __init__(self, kernel, stride=None):
        self.kernel = _pair(kernel, "kernel")
        self.stride = self.kernel if stride is None else _pair(stride, "stride")
        self.params = []
        self.input_grad = True

    def output_shape(self, input_shape: tuple[int, int, int]) -> tuple[int, int, int]:
        """(C, Ho, Wo) for an input of (C, H, W); Ho or Wo < 1 when the window does not fit."""
        C, H, W = input_shape
        (kh, kw), (sh, sw) = self.kernel, self.stride
        return C, conv_output_size(H, kh, sh, 0), conv_output_size(W, kw, sw, 0)

    def forward(self, X: np.ndarray, train: bool = True):
        Y, argmax = max_pool2d(X, self.kernel, self.stride)
        input_grad = self.input_grad

        def backprop(dY):
            return max_pool2d_backward(dY, argmax, X.shape) if input_grad else None

        return Y, backprop


class AvgPool2d:
    """Average pooling over (kh, kw) windows without padding."""

    def __init__(self, kernel, stride=None):
        self.kernel = _pair(kernel, "kernel")
        self.stride = self.kernel if stride is None else _pair(stride, "stride")
        self.params = []
        self.input_grad = True

    def forward(self, X: np.ndarray, train: bool = True):
        Y = avg_pool2d(X, self.kernel, self.stride)
        kernel, stride, input_grad = self.kernel, self.stride, self.input_grad

        def backprop(dY):
            return avg_pool2d_backward(dY, X.shape, kernel, stride) if input_grad else None

        return Y, backprop


class GlobalAvgPool2d:
    """Mean over all pixels of each channel: (B, C, H, W) -> (B, C), as ResNet's last pool."""

    def __init__(self):
        self.params = []
        self.input_grad = True

    def forward(self, X: np.ndarray, train: bool = True):
        _check_image(X, "GlobalAvgPool2d")
        Y = X.mean(axis=(2, 3))
        shape, input_grad = X.shape, self.input_grad

        def backprop(dY):
            if not input_grad:
                return None
            scaled = dY / (shape[2] * shape[3])
            return np.ascontiguousarray(np.broadcast_to(scaled[:, :, None, None], shape))

        return Y, backprop
