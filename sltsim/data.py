"""Data sets and batching.

Every data set is a :class:`Dataset` of float arrays (inputs) and int or float
arrays (targets), already split into train and test. Nothing is downloaded:
``digits`` ships with scikit-learn, ``mnist1d`` is generated offline by the
mnist1d package, and ``planted`` data is labelled by a teacher inside the student
(:mod:`sltsim.planted`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sltsim import registry


@dataclass(frozen=True)
class Dataset:
    """Train/test arrays. X: (N, *input_shape) float; y: (N,) int (classes) or (N, D) float."""

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_outputs: int
    task: str = "classification"  # or "regression"

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.X_train.shape[1:])


def _extra_missing(package: str, error: ImportError) -> ImportError:
    return ImportError(f"{package} is needed for this data set: pip install -e '.[data]' ({error})")


def load_digits_dataset(dtype=np.float32, image: bool = False) -> Dataset:
    """scikit-learn's UCI digits (8x8, 10 classes), standardised with train statistics,
    stratified 80/20 split with random_state 0. ``image`` keeps the (1, 8, 8) shape."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        raise _extra_missing("scikit-learn", e) from None
    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, stratify=y, random_state=0)
    mean, std = X_tr.mean(axis=0), X_tr.std(axis=0)
    std[std == 0] = 1.0
    X_tr, X_te = (X_tr - mean) / std, (X_te - mean) / std
    if image:
        X_tr, X_te = X_tr.reshape(-1, 1, 8, 8), X_te.reshape(-1, 1, 8, 8)
    return Dataset("digits", X_tr.astype(dtype), y_tr.astype(np.int64),
                   X_te.astype(dtype), y_te.astype(np.int64), 10)


def load_mnist1d_dataset(dtype=np.float32, image: bool = False) -> Dataset:
    """MNIST-1D (Greydanus 2020) generated offline with the package's default arguments
    (4000 train / 1000 test sequences of length 40, 10 classes), standardised."""
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as e:  # pragma: no cover
        raise _extra_missing("mnist1d", e) from None
    d = make_dataset(get_dataset_args())
    X_tr, X_te = d["x"].astype(np.float64), d["x_test"].astype(np.float64)
    mean, std = X_tr.mean(), X_tr.std()
    X_tr, X_te = (X_tr - mean) / std, (X_te - mean) / std
    if image:
        X_tr, X_te = X_tr.reshape(-1, 1, 1, 40), X_te.reshape(-1, 1, 1, 40)
    return Dataset("mnist1d", X_tr.astype(dtype), np.asarray(d["y"], np.int64),
                   X_te.astype(dtype), np.asarray(d["y_test"], np.int64), 10)


registry.register(registry.DATASETS, "digits", load_digits_dataset)
registry.register(registry.DATASETS, "mnist1d", load_mnist1d_dataset)
#: The real data sets' loaders: :data:`sltsim.registry.DATASETS` itself (one dict, filled above).
REAL_DATASETS = registry.DATASETS
#: The name of the other ``data`` value: labels from a planted teacher (:mod:`sltsim.planted`).
PLANTED = "planted"


def batches(n: int, batch_size: int, rng: np.random.Generator):
    """Yield index arrays of one shuffled epoch; the last batch may be smaller."""
    order = rng.permutation(n)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]


def steps_per_epoch(n: int, batch_size: int) -> int:
    return -(-n // batch_size)
