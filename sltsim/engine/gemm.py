"""Matrix products on several threads that give the bits of the one-call product.

:func:`matmuls` runs a few independent products ``out = A @ B`` at once (a dense
layer's weight and input gradients) and, with threads to spare, splits a product
by rows of ``out``: piece ``[r0, r1)`` is ``A[r0:r1] @ B``, one single-threaded BLAS
call. No sum is split; every entry of ``out`` is one BLAS dot over the whole shared
dimension. Whether the BLAS then gives an entry the same bits in a piece as in the
whole product is the BLAS's business: OpenBLAS's Haswell float32 kernels (the ones
this machine runs) do when the rows are cut at multiples of :data:`ROW_QUANTUM`
(measured: cuts at multiples of 4, 8, 16, 32 or 64 rows, or along the columns, change
the last bits). So each split is tried once per process on random operands of the same
shapes and memory layout against the one-call product, and a split that changes a
single bit is never used: that product then runs whole, on one thread.
"""

from __future__ import annotations

import numpy as np

from sltsim.engine.threads import bounds, current, run

ROW_QUANTUM = 24
"""Pieces of a split product start at multiples of this many rows of ``out``."""

MIN_PIECE_FLOPS = 4_000_000
"""No piece of a split product does fewer multiply-adds x 2 than this (dispatch and
the repacking of ``B`` for each piece cost about as much as a 1 MFLOP product)."""

_exact: dict = {}


def _layout(a: np.ndarray) -> str | None:
    if a.flags.c_contiguous:
        return "C"
    if a.T.flags.c_contiguous:
        return "T"
    return None


def _like(shape, dtype, layout: str, rng) -> np.ndarray:
    if layout == "C":
        return rng.standard_normal(shape).astype(dtype)
    return rng.standard_normal(shape[::-1]).astype(dtype).T


def _split_is_exact(A: np.ndarray, B: np.ndarray, out: np.ndarray, rows: tuple) -> bool:
    """Whether ``rows`` pieces of A @ B give the one-call bits, tried once on random operands."""
    layouts = (_layout(A), _layout(B))
    if None in layouts or not out.flags.c_contiguous:
        return False
    key = (A.shape, B.shape, layouts, A.dtype.str, B.dtype.str, rows)
    exact = _exact.get(key)
    if exact is None:
        rng = np.random.default_rng(len(_exact))
        a, b = _like(A.shape, A.dtype, layouts[0], rng), _like(B.shape, B.dtype, layouts[1], rng)
        whole, pieces = np.matmul(a, b), np.empty(out.shape, out.dtype)
        for r0, r1 in rows:
            np.matmul(a[r0:r1], b, out=pieces[r0:r1])
        exact = _exact[key] = whole.tobytes() == pieces.tobytes()
    return exact


def _pieces(A: np.ndarray, B: np.ndarray, out: np.ndarray, wanted: int) -> list:
    M, K = A.shape
    N = B.shape[1]
    wanted = min(wanted, 2 * M * N * K // MIN_PIECE_FLOPS)
    if wanted > 1:
        rows = tuple(bounds(M, wanted, ROW_QUANTUM))
        if len(rows) > 1 and _split_is_exact(A, B, out, rows):
            return [(lambda r0=r0, r1=r1: np.matmul(A[r0:r1], B, out=out[r0:r1])) for r0, r1 in rows]
    return [lambda: np.matmul(A, B, out=out)]


def matmuls(products: list) -> None:
    """``out = A @ B`` for each (A, B, out) of ``products`` (2-D, independent of one another).

    On :func:`~sltsim.engine.threads.current` threads; the products run side by side,
    each split by rows when threads are left over and the split is exact (module doc).
    Products of fewer than :data:`MIN_PIECE_FLOPS` in all run in turn on the calling
    thread: handing them out would cost more than it saves.
    """
    threads = current()
    if threads <= 1 or sum(2 * A.shape[0] * A.shape[1] * B.shape[1] for A, B, _ in products) < MIN_PIECE_FLOPS:
        for A, B, out in products:
            np.matmul(A, B, out=out)
        return
    per_product = -(-threads // len(products))
    run([task for A, B, out in products for task in _pieces(A, B, out, per_product)], threads)
