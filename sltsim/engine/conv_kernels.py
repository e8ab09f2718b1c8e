"""Private Numba kernels for convolution and pooling: arrays in, no checks, no allocation.

Public, validating wrappers live in :mod:`sltsim.engine.conv` (im2col / col2im)
and :mod:`sltsim.engine.pool`. Images are NCHW. A column matrix ``cols`` holds
one row per (c, i, j) filter tap, ``row = (c * kh + i) * kw + j``, and one column
per output pixel of a batch slice, ``col = (b - b0) * Ho * Wo + oh * Wo + ow``, so
that a convolution is the single GEMM ``W.reshape(C_out, -1) @ cols``.
"""

from __future__ import annotations

from sltsim.engine.jit import njit


@njit
def _valid_range(n_out, stride, offset, size):
    """The output positions o in [lo, hi) whose input o * stride + offset lies in [0, size)."""
    lo = 0
    while lo < n_out and lo * stride + offset < 0:
        lo += 1
    hi = n_out
    while hi > lo and (hi - 1) * stride + offset >= size:
        hi -= 1
    return lo, hi


@njit
def _im2col(x, kh, kw, sh, sw, ph, pw, b0, b1, Ho, Wo, cols):
    # x: (B, C, H, W) -> cols: (C * kh * kw, (b1 - b0) * Ho * Wo); zero padding.
    # Inner loops index views from 0 so that LLVM drops the wraparound checks and
    # vectorises them. With stride 1 and Wo == W a tap is one shifted copy of the plane.
    B, C, H, W = x.shape
    P = Ho * Wo
    xp = x.reshape(B * C, H * W)
    fast = sh == 1 and sw == 1 and Wo == W
    for c in range(C):
        for i in range(kh):
            oh_lo, oh_hi = _valid_range(Ho, sh, i - ph, H)
            for j in range(kw):
                row = (c * kh + i) * kw + j
                ow_lo, ow_hi = _valid_range(Wo, sw, j - pw, W)
                n_valid = ow_hi - ow_lo
                w_lo = ow_lo * sw + j - pw
                for b in range(b0, b1):
                    dst = cols[row, (b - b0) * P:(b - b0 + 1) * P]
                    src = xp[b * C + c]
                    if oh_lo >= oh_hi or n_valid <= 0:
                        dst[:] = 0
                    elif fast:
                        a = oh_lo * W + ow_lo
                        e = (oh_hi - 1) * W + ow_hi
                        shift = (i - ph) * W + j - pw
                        d = dst[a:e]
                        s = src[a + shift:e + shift]
                        for k in range(e - a):
                            d[k] = s[k]
                        dst[:a] = 0
                        dst[e:] = 0
                        for oh in range(oh_lo, oh_hi):
                            dst[oh * W:oh * W + ow_lo] = 0
                            dst[oh * W + ow_hi:(oh + 1) * W] = 0
                    else:
                        for oh in range(Ho):
                            drow = dst[oh * Wo:(oh + 1) * Wo]
                            if oh < oh_lo or oh >= oh_hi:
                                drow[:] = 0
                                continue
                            h = oh * sh + i - ph
                            drow[:ow_lo] = 0
                            drow[ow_hi:] = 0
                            d = drow[ow_lo:ow_hi]
                            s = src[h * W + w_lo:(h + 1) * W]
                            for k in range(n_valid):
                                d[k] = s[k * sw]


@njit
def _col2im(cols, kh, kw, sh, sw, ph, pw, b0, b1, Ho, Wo, dx):
    # cols: (C * kh * kw, (b1 - b0) * Ho * Wo) -> dx[b0:b1]: (b1 - b0, C, H, W), overwritten;
    # the adjoint of _im2col: taps that read padding are dropped. On the stride-1 fast
    # path those entries of cols are zeroed in place, then each tap is one shifted add.
    B, C, H, W = dx.shape
    P = Ho * Wo
    dxp = dx.reshape(B * C, H * W)
    fast = sh == 1 and sw == 1 and Wo == W
    for b in range(b0, b1):
        for c in range(C):
            plane = dxp[b * C + c]
            plane[:] = 0
            for i in range(kh):
                oh_lo, oh_hi = _valid_range(Ho, sh, i - ph, H)
                for j in range(kw):
                    row = (c * kh + i) * kw + j
                    ow_lo, ow_hi = _valid_range(Wo, sw, j - pw, W)
                    n_valid = ow_hi - ow_lo
                    if oh_lo >= oh_hi or n_valid <= 0:
                        continue
                    src = cols[row, (b - b0) * P:(b - b0 + 1) * P]
                    if fast:
                        for oh in range(oh_lo, oh_hi):
                            src[oh * W:oh * W + ow_lo] = 0
                            src[oh * W + ow_hi:(oh + 1) * W] = 0
                        a = oh_lo * W + ow_lo
                        e = (oh_hi - 1) * W + ow_hi
                        shift = (i - ph) * W + j - pw
                        d = plane[a + shift:e + shift]
                        s = src[a:e]
                        for k in range(e - a):
                            d[k] += s[k]
                    else:
                        w_lo = ow_lo * sw + j - pw
                        for oh in range(oh_lo, oh_hi):
                            h = oh * sh + i - ph
                            d = plane[h * W + w_lo:(h + 1) * W]
                            s = src[oh * Wo + ow_lo:oh * Wo + ow_hi]
                            for k in range(n_valid):
                                d[k * sw] += s[k]


@njit
def _max_pool_forward(x, kh, kw, sh, sw, y, argmax):
    # x: (B, C, H, W) -> y, argmax: (B, C, Ho, Wo); argmax is the flat index h * W + w
    # of the first maximum in row-major window order (torch's tie rule); NaN wins
    if kh == 2 and kw == 2 and sh == 2 and sw == 2:
        _max_pool_2x2(x, y, argmax)
        return
    B, C, H, W = x.shape
    Ho, Wo = y.shape[2], y.shape[3]
    xp = x.reshape(B * C, H * W)
    yp = y.reshape(B * C, Ho * Wo)
    ap = argmax.reshape(B * C, Ho * Wo)
    for q in range(B * C):
        xr, yr, ar = xp[q], yp[q], ap[q]
        for oh in range(Ho):
            for ow in range(Wo):
                start = oh * sh * W + ow * sw
                best = xr[start]
                where = start
                for i in range(kh):
                    for j in range(kw):
                        k = start + i * W + j
                        v = xr[k]
                        if v > best or v != v:
                            best = v
                            where = k
                yr[oh * Wo + ow] = best
                ar[oh * Wo + ow] = where


@njit
def _max_pool_2x2(x, y, argmax):
    # the conv nets' pool, unrolled, with plain comparisons; a window whose sum is NaN
    # (holds a NaN, or inf and -inf) is redone with the NaN rule. 6x faster than the
    # generic loops, whose NaN test on every element defeats branch prediction.
    B, C, H, W = x.shape
    Ho, Wo = y.shape[2], y.shape[3]
    xp = x.reshape(B * C, H * W)
    yp = y.reshape(B * C, Ho * Wo)
    ap = argmax.reshape(B * C, Ho * Wo)
    for q in range(B * C):
        xr, yr, ar = xp[q], yp[q], ap[q]
        for oh in range(Ho):
            top = xr[2 * oh * W:(2 * oh + 1) * W]
            bottom = xr[(2 * oh + 1) * W:(2 * oh + 2) * W]
            yo = yr[oh * Wo:(oh + 1) * Wo]
            ao = ar[oh * Wo:(oh + 1) * Wo]
            base = 2 * oh * W
            for ow in range(Wo):
                v0, v1 = top[2 * ow], top[2 * ow + 1]
                v2, v3 = bottom[2 * ow], bottom[2 * ow + 1]
                best = v0
                where = base + 2 * ow
                if v1 > best:
                    best = v1
                    where = base + 2 * ow + 1
                if v2 > best:
                    best = v2
                    where = base + W + 2 * ow
                if v3 > best:
                    best = v3
                    where = base + W + 2 * ow + 1
                total = v0 + v1 + v2 + v3
                if total != total:
                    best = v0
                    where = base + 2 * ow
                    if v1 > best or v1 != v1:
                        best = v1
                        where = base + 2 * ow + 1
                    if v2 > best or v2 != v2:
                        best = v2
                        where = base + W + 2 * ow
                    if v3 > best or v3 != v3:
                        best = v3
                        where = base + W + 2 * ow + 1
                yo[ow] = best
                ao[ow] = where


@njit
def _max_pool_backward(dy, argmax, dx):
    # dy, argmax: (B, C, Ho, Wo) -> dx: (B, C, H, W), zeroed here, then routed to each argmax
    B, C, H, W = dx.shape
    Ho, Wo = dy.shape[2], dy.shape[3]
    for b in range(B):
        for c in range(C):
            for h in range(H):
                for w in range(W):
                    dx[b, c, h, w] = 0
            for oh in range(Ho):
                for ow in range(Wo):
                    where = argmax[b, c, oh, ow]
                    dx[b, c, where // W, where % W] += dy[b, c, oh, ow]


@njit
def _avg_pool_forward(x, kh, kw, sh, sw, y):
    # x: (B, C, H, W) -> y: (B, C, Ho, Wo), mean over each window
    B, C = x.shape[0], x.shape[1]
    Ho, Wo = y.shape[2], y.shape[3]
    scale = 1.0 / (kh * kw)
    for b in range(B):
        for c in range(C):
            for oh in range(Ho):
                for ow in range(Wo):
                    total = x[b, c, oh * sh, ow * sw] * 0
                    for i in range(kh):
                        for j in range(kw):
                            total += x[b, c, oh * sh + i, ow * sw + j]
                    y[b, c, oh, ow] = total * scale


@njit
def _avg_pool_backward(dy, kh, kw, sh, sw, dx):
    # dy: (B, C, Ho, Wo) -> dx: (B, C, H, W), zeroed here, each window gets dy / (kh * kw)
    B, C, H, W = dx.shape
    Ho, Wo = dy.shape[2], dy.shape[3]
    scale = 1.0 / (kh * kw)
    for b in range(B):
        for c in range(C):
            for h in range(H):
                for w in range(W):
                    dx[b, c, h, w] = 0
            for oh in range(Ho):
                for ow in range(Wo):
                    g = dy[b, c, oh, ow] * scale
                    for i in range(kh):
                        for j in range(kw):
                            dx[b, c, oh * sh + i, ow * sw + j] += g
