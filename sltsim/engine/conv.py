"""2-D convolution supermask layer (NCHW) by im2col and one BLAS GEMM per batch slice.

The batch is processed in slices whose column matrix holds at most
:data:`SLICE_ELEMENTS` numbers, so that memory stays bounded for any batch size
(evaluation runs 1024 images at once) and each slice's columns are still in cache
when the GEMM reads them. Backward rebuilds each slice's columns from the saved
input instead of keeping them all: on conv4 and resnet20 (batch 64, 32x32, one BLAS
thread) that was as fast or faster (resnet20: 490 ms against 583 ms per step) than
keeping up to 150 MB of columns per layer, whose fresh pages cost more than the copy.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from sltsim.engine.conv_kernels import _col2im, _im2col
from sltsim.engine.supermask import MaskedParam
from sltsim.engine.threads import current, run

SLICE_ELEMENTS = 1 << 20
"""Largest column matrix (numbers) built at once, 4 MB in float32."""

_thread_scratch = threading.local()


def _pair(value, what: str) -> tuple[int, int]:
    pair = (value, value) if np.isscalar(value) else tuple(value)
    if len(pair) != 2 or any(int(v) != v for v in pair):
        raise ValueError(f"{what} must be an int or a pair of ints, got {value!r}")
    return int(pair[0]), int(pair[1])


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output length along one axis: floor((size + 2 * padding - kernel) / stride) + 1."""
    return (size + 2 * padding - kernel) // stride + 1


def _check_image(x: np.ndarray, what: str) -> None:
    if x.ndim != 4:
        raise ValueError(f"{what} needs NCHW input of 4 dimensions, got shape {x.shape}")
    if x.dtype not in (np.float32, np.float64):
        raise ValueError(f"{what} needs float32 or float64 input, got {x.dtype}")


def im2col(x: np.ndarray, kernel, stride=1, padding=0, batch: tuple[int, int] | None = None,
           out: np.ndarray | None = None) -> np.ndarray:
    """Unfold image patches into columns.

    Parameters
    ----------
    x : (B, C, H, W) float32 or float64.
    kernel, stride, padding : int or (h, w) pair; zero padding.
    batch : images [b0, b1) to unfold; all of them by default.
    out : optional (C * kh * kw, (b1 - b0) * Ho * Wo) C-contiguous array of x's dtype.

    Returns
    -------
    cols : (C * kh * kw, (b1 - b0) * Ho * Wo); row (c * kh + i) * kw + j, column
        (b - b0) * Ho * Wo + oh * Wo + ow holds x[b, c, oh * sh + i - ph, ow * sw + j - pw].
    """
    _check_image(x, "im2col")
    (kh, kw), (sh, sw), (ph, pw) = _pair(kernel, "kernel"), _pair(stride, "stride"), _pair(padding, "padding")
    if min(kh, kw, sh, sw) < 1 or min(ph, pw) < 0:
        raise ValueError(f"kernel and stride must be >= 1 and padding >= 0, got {kernel}, {stride}, {padding}")
    B, C, H, W = x.shape
    Ho, Wo = conv_output_size(H, kh, sh, ph), conv_output_size(W, kw, sw, pw)
    if Ho < 1 or Wo < 1:
        raise ValueError(f"kernel {(kh, kw)} with padding {(ph, pw)} does not fit input {(H, W)}")
    b0, b1 = (0, B) if batch is None else batch
    if not 0 <= b0 < b1 <= B:
        raise ValueError(f"batch slice must satisfy 0 <= b0 < b1 <= {B}, got {batch}")
    shape = (C * kh * kw, (b1 - b0) * Ho * Wo)
    out = _check_out(out, shape, x.dtype, "im2col")
    _im2col(np.ascontiguousarray(x), kh, kw, sh, sw, ph, pw, b0, b1, Ho, Wo, out)
    return out


def col2im(cols: np.ndarray, x_shape: tuple[int, int, int, int], kernel, stride=1, padding=0,
           batch: tuple[int, int] | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """Fold columns back onto images, summing overlaps: the adjoint of :func:`im2col`.

    Parameters
    ----------
    cols : (C * kh * kw, (b1 - b0) * Ho * Wo).
    x_shape : (B, C, H, W) of the images.
    out : optional (B, C, H, W) C-contiguous array of cols' dtype; only images [b0, b1)
        are written (overwritten, not accumulated).

    Returns
    -------
    out : (B, C, H, W).
    """
    (kh, kw), (sh, sw), (ph, pw) = _pair(kernel, "kernel"), _pair(stride, "stride"), _pair(padding, "padding")
    B, C, H, W = (int(d) for d in x_shape)
    Ho, Wo = conv_output_size(H, kh, sh, ph), conv_output_size(W, kw, sw, pw)
    b0, b1 = (0, B) if batch is None else batch
    if not 0 <= b0 < b1 <= B:
        raise ValueError(f"batch slice must satisfy 0 <= b0 < b1 <= {B}, got {batch}")
    expected = (C * kh * kw, (b1 - b0) * Ho * Wo)
    if cols.shape != expected:
        raise ValueError(f"col2im needs cols of shape {expected}, got {cols.shape}")
    out = _check_out(out, (B, C, H, W), cols.dtype, "col2im")
    # the kernel zeroes the entries of cols that read padding: give it a copy
    _col2im(np.array(cols, order="C"), kh, kw, sh, sw, ph, pw, b0, b1, Ho, Wo, out)
    return out


def _check_out(out, shape, dtype, what):
    if out is None:
        return np.empty(shape, dtype)
    if out.shape != shape or out.dtype != dtype or not out.flags.c_contiguous:
        raise ValueError(f"{what} needs out of shape {shape} and dtype {dtype}, C-contiguous; "
                         f"got {out.shape}, {out.dtype}")
    return out


class Conv2d:
    """A 2-D convolution whose weight is searched by top-k on its scores.

    ``Y[b, o] = sum_c W[o, c] (*) X[b, c]`` (cross-correlation, as torch's conv2d),
    with zero padding.

    Parameters
    ----------
    name : layer name; the weight is ``f"{name}.weight"``.
    c_in, c_out : input and output channels; the weight is (c_out, c_in, kh, kw),
        fan_in = c_in * kh * kw.
    kernel, stride, padding : int or (h, w) pair.
    bias : add a bias of shape (c_out,); frozen at its init unless ``score_bias``,
        as in :class:`~sltsim.engine.dense.Dense`.
    """

    def __init__(self, name: str, c_in: int, c_out: int, kernel, stride=1, padding=0,
                 bias: bool = False, score_bias: bool = False, dtype=np.float32):
        self.name = name
        self.c_in, self.c_out = int(c_in), int(c_out)
        self.kernel, self.stride = _pair(kernel, "kernel"), _pair(stride, "stride")
        self.padding = _pair(padding, "padding")
        kh, kw = self.kernel
        if min(self.c_in, self.c_out, kh, kw, *self.stride) < 1 or min(self.padding) < 0:
            raise ValueError(f"Conv2d {name}: channels, kernel and stride must be >= 1 and padding >= 0")
        fan_in = self.c_in * kh * kw
        self.weight = MaskedParam(f"{name}.weight", (c_out, c_in, kh, kw), fan_in=fan_in, dtype=dtype)
        self.bias = MaskedParam(f"{name}.bias", (c_out,), fan_in=fan_in, dtype=dtype) if bias else None
        if self.bias is not None and not score_bias:
            self.bias.searched = False
        self.params = [self.weight] + ([self.bias] if self.bias is not None else [])
        self.input_grad = True
        self._workspace: dict = {}

    def output_shape(self, input_shape: tuple[int, int, int]) -> tuple[int, int, int]:
        """(C_out, Ho, Wo) for an input of (C_in, H, W); Ho or Wo < 1 when the kernel does not fit."""
        _, H, W = input_shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        return self.c_out, conv_output_size(H, kh, sh, ph), conv_output_size(W, kw, sw, pw)

    def _buffer(self, key: str, shape: tuple, dtype, threads: int) -> np.ndarray:
        # scratch reused across calls. On one thread the layer's own, used inside one forward
        # or backward call; on several, the calling thread's, shared by every layer and used
        # inside one slice's task only (a thread runs one task at a time)
        workspace = self._workspace
        if threads > 1:
            workspace = _thread_scratch.__dict__.setdefault("workspace", {})
        size = math.prod(shape)
        buf = workspace.get(key)
        if buf is None or buf.dtype != dtype or buf.size < size:
            buf = np.empty(size, dtype)
            workspace[key] = buf
        return buf[:size].reshape(shape)

    def forward(self, X: np.ndarray, train: bool = True):
        # X: (B, C_in, H, W) -> Y: (B, C_out, Ho, Wo)
        _check_image(X, f"Conv2d {self.name}")
        B, C, H, W = X.shape
        if C != self.c_in:
            raise ValueError(f"Conv2d {self.name} expects {self.c_in} input channels, got input shape {X.shape}")
        _, Ho, Wo = self.output_shape((C, H, W))
        if Ho < 1 or Wo < 1:
            raise ValueError(f"Conv2d {self.name}: kernel {self.kernel} does not fit input {X.shape}")
        X = np.ascontiguousarray(X)
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        P, K, C_out = Ho * Wo, C * kh * kw, self.c_out
        W2 = self.weight.w_eff.reshape(C_out, K)
        dtype = X.dtype
        step = max(1, min(B, SLICE_ELEMENTS // (K * P)))
        slices = [(b0, min(B, b0 + step)) for b0 in range(0, B, step)]
        Y = np.empty((B, C_out, Ho, Wo), dtype)
        threads = current()

        def forward_slice(b0, b1):
            n = b1 - b0
            cols = self._buffer("cols", (K, n * P), dtype, threads)
            _im2col(X, kh, kw, sh, sw, ph, pw, b0, b1, Ho, Wo, cols)
            # (for one image, out has Y[b0]'s layout; writing the product straight into the fresh
            # pages of Y was measured slower than this copy: 390 against 366 ms CPU per conv4 step)
            out = self._buffer("out", (C_out, n, P), dtype, threads)
            np.matmul(W2, cols, out=out.reshape(C_out, n * P))
            np.copyto(Y[b0:b1].reshape(n, C_out, P), out.transpose(1, 0, 2))

        run([(lambda b0=b0, b1=b1: forward_slice(b0, b1)) for b0, b1 in slices], threads)
        if self.bias is not None:
            Y += self.bias.w_eff.reshape(1, C_out, 1, 1)
        weight, bias, input_grad = self.weight, self.bias, self.input_grad

        def backward_slice(b0, b1, dY, dX, dW):
            # dW: where this slice's weight gradient goes (the layer's grad, or a partial)
            n = b1 - b0
            if n == 1:  # one image: dY[b0] is already (C_out, P), no transpose to copy
                dYt = dY[b0].reshape(C_out, P)
            else:
                dYt = self._buffer("dyt", (C_out, n, P), dtype, threads)
                np.copyto(dYt, dY[b0:b1].reshape(n, C_out, P).transpose(1, 0, 2))
                dYt = dYt.reshape(C_out, n * P)
            cols = self._buffer("cols", (K, n * P), dtype, threads)
            _im2col(X, kh, kw, sh, sw, ph, pw, b0, b1, Ho, Wo, cols)
            np.matmul(dYt, cols.T, out=dW)
            if dX is not None:
                dcols = self._buffer("dcols", (K, n * P), dtype, threads)
                np.matmul(W2.T, dYt, out=dcols)
                _col2im(dcols, kh, kw, sh, sw, ph, pw, b0, b1, Ho, Wo, dX)

        def backprop(dY):
            dY = np.ascontiguousarray(dY, dtype=dtype)
            dW = weight.grad.reshape(C_out, K)
            dX = np.empty((B, C, H, W), dtype) if input_grad else None
            if threads <= 1 or len(slices) == 1:
                # the serial order: dW = slice 0's product, then += each next slice's
                for index, (b0, b1) in enumerate(slices):
                    if index == 0:
                        backward_slice(b0, b1, dY, dX, dW)
                    else:
                        partial = self._buffer("partial", (C_out, K), dtype, 1)
                        backward_slice(b0, b1, dY, dX, partial)
                        dW += partial
            else:
                # every slice's product at once, then the same sum in the same order
                partials = self._buffer("partials", (len(slices), C_out, K), dtype, 1)  # the layer's own
                run([(lambda i=i, b0=b0, b1=b1: backward_slice(b0, b1, dY, dX, partials[i]))
                     for i, (b0, b1) in enumerate(slices)], threads)
                np.copyto(dW, partials[0])
                for partial in partials[1:]:
                    dW += partial
            if bias is not None:
                np.sum(dY, axis=(0, 2, 3), out=bias.grad)
            return dX

        return Y, backprop
