"""Small data directories in the published formats, written by the tests."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np


def write_cifar10(root: Path, n_train: int = 8, n_test: int = 4, seed: int = 0) -> Path:
    """``root/cifar-10-batches-py/`` with data_batch_1..5 and test_batch, pickled as the
    originals are (bytes keys, ``data`` (N, 3072) uint8 rows of R, G, B planes, ``labels`` a list)."""
    rng = np.random.default_rng(seed)
    d = Path(root) / "cifar-10-batches-py"
    d.mkdir(parents=True, exist_ok=True)
    sizes = [n_train // 5 + (1 if i < n_train % 5 else 0) for i in range(5)]
    for name, n in [(f"data_batch_{i + 1}", s) for i, s in enumerate(sizes)] + [("test_batch", n_test)]:
        batch = {b"batch_label": name.encode(), b"labels": [int(v) for v in rng.integers(0, 10, n)],
                 b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 b"filenames": [f"img_{i}.png".encode() for i in range(n)]}
        with open(d / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)
    return Path(root)


def write_cifar100(root: Path, n_train: int = 6, n_test: int = 3, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    d = Path(root) / "cifar-100-python"
    d.mkdir(parents=True, exist_ok=True)
    for name, n in (("train", n_train), ("test", n_test)):
        batch = {b"fine_labels": [int(v) for v in rng.integers(0, 100, n)],
                 b"coarse_labels": [int(v) for v in rng.integers(0, 20, n)],
                 b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8)}
        with open(d / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)
    return Path(root)


def write_svhn(root: Path, n_train: int = 6, n_test: int = 3, seed: int = 0) -> Path:
    from scipy.io import savemat

    rng = np.random.default_rng(seed)
    Path(root).mkdir(parents=True, exist_ok=True)
    for name, n in (("train_32x32.mat", n_train), ("test_32x32.mat", n_test)):
        savemat(Path(root) / name, {"X": rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8),
                                    "y": rng.integers(1, 11, (n, 1)).astype(np.uint8)})
    return Path(root)


def write_image_folder(root: Path, classes=("cat", "dog"), per_class: int = 2, size=(40, 30), seed: int = 0) -> Path:
    from PIL import Image

    rng = np.random.default_rng(seed)
    for split in ("train", "val"):
        for c in classes:
            d = Path(root) / split / c
            d.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
                Image.fromarray(pixels).save(d / f"{i}.{'png' if i % 2 else 'JPEG'}", format="PNG" if i % 2 else "JPEG")
    return Path(root)
