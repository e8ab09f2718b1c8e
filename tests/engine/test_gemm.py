"""gemm.matmuls: on any number of threads, the bits of the one-call NumPy product."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from threadpoolctl import threadpool_limits

from sltsim.engine import gemm, threads


def _operand(rng, shape, transposed):
    if transposed:
        return rng.standard_normal(shape[::-1]).astype(np.float32).T
    return rng.standard_normal(shape).astype(np.float32)


@given(M=st.integers(1, 300), K=st.integers(1, 300), N=st.integers(1, 300), t_a=st.booleans(), t_b=st.booleans(),
       n=st.integers(2, 4), seed=st.integers(0, 2**16))
def test_matmuls_gives_the_one_call_bits_at_any_thread_count(M, K, N, t_a, t_b, n, seed):
    rng = np.random.default_rng(seed)
    A, B = _operand(rng, (M, K), t_a), _operand(rng, (K, N), t_b)
    C, D = _operand(rng, (M, N), False), _operand(rng, (M, K), False)  # as dY.T @ X
    with threadpool_limits(1, "blas"):
        want = [np.matmul(A, B), np.matmul(C.T, D)]
        out = [np.empty((M, N), np.float32), np.empty((N, K), np.float32)]
        floor, gemm.MIN_PIECE_FLOPS = gemm.MIN_PIECE_FLOPS, 1  # split whatever can be split
        try:
            with threads.using(n):
                gemm.matmuls([(A, B, out[0]), (C.T, D, out[1])])
        finally:
            gemm.MIN_PIECE_FLOPS = floor
    assert all(w.tobytes() == o.tobytes() for w, o in zip(want, out))


def test_a_split_that_changes_bits_is_refused(monkeypatch):
    # cuts at multiples of 16 rows change the last bits of OpenBLAS's Haswell kernels; the
    # check must notice and run the product whole
    monkeypatch.setattr(gemm, "ROW_QUANTUM", 16)
    monkeypatch.setattr(gemm, "_exact", {})
    rng = np.random.default_rng(0)
    X, W = rng.standard_normal((128, 256)).astype(np.float32), rng.standard_normal((256, 256)).astype(np.float32)
    with threadpool_limits(1, "blas"):
        want = X @ W.T
        out = np.empty_like(want)
        with threads.using(2):
            gemm.matmuls([(X, W.T, out)])
    if all(gemm._exact.values()):
        pytest.skip("this BLAS gives the same bits for cuts at 16 rows; nothing to refuse")
    assert out.tobytes() == want.tobytes()


def test_the_split_is_used_where_exact(monkeypatch):
    monkeypatch.setattr(gemm, "_exact", {})
    rng = np.random.default_rng(1)
    X, W = rng.standard_normal((128, 512)).astype(np.float32), rng.standard_normal((512, 512)).astype(np.float32)
    out = np.empty((128, 512), np.float32)
    with threadpool_limits(1, "blas"):
        want = np.matmul(X, W.T)
        with threads.using(3):
            gemm.matmuls([(X, W.T, out)])
    (key, exact), = gemm._exact.items()
    assert key[-1] == ((0, 48), (48, 96), (96, 128))
    assert out.tobytes() == want.tobytes()  # split or refused, the bits of the one-call product
    if not exact:
        pytest.skip("this BLAS changes the last bits for cuts at 48 rows: the split is rightly refused")
