"""Slow, obvious reference implementations that the fast kernels are tested against."""

from __future__ import annotations

import math

import numpy as np


def naive_topk_mask(scores: np.ndarray, prune_rate: float) -> np.ndarray:
    """Keep the n - floor(k*n + 0.5) largest |s| by a full stable sort; ties go to the lower index."""
    flat = np.abs(scores.reshape(-1).astype(np.float64))
    n_keep = flat.size - int(math.floor(prune_rate * flat.size + 0.5))
    order = sorted(range(flat.size), key=lambda i: (-flat[i], i))
    mask = np.zeros(flat.size, np.uint8)
    mask[order[:n_keep]] = 1
    return mask.reshape(scores.shape)
