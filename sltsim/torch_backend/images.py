"""Readers for the image data sets in their published local formats; nothing is downloaded.

- CIFAR-10: the "python version" (Krizhevsky, 2009): ``data_batch_1`` ... ``data_batch_5``
  and ``test_batch``, pickled dicts with ``data`` (N, 3072) uint8 (1024 red, 1024 green,
  1024 blue values, rows of 32) and ``labels``, in ``DIR/cifar-10-batches-py`` or ``DIR``.
- CIFAR-100: ``train`` and ``test`` with ``data`` and ``fine_labels``, in
  ``DIR/cifar-100-python`` or ``DIR``.
- SVHN (Netzer et al., 2011), cropped digits: ``train_32x32.mat`` and ``test_32x32.mat``
  with ``X`` (32, 32, 3, N) uint8 and ``y`` (N, 1) in 1..10, 10 meaning the digit 0.
- ImageNet: the ImageFolder layout, ``DIR/train/<class>/*.JPEG`` and
  ``DIR/val/<class>/*.JPEG`` (JPEG or PNG; classes are the sorted folder names of train).

A missing or malformed directory raises one ValueError line that says what was
expected where. The pickles are read with an unpickler that only builds NumPy
arrays, so a data file cannot run code.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")


@dataclass(frozen=True)
class ArrayImages:
    """Decoded images in memory: images (N, C, H, W) uint8, labels (N,) int64."""

    images: np.ndarray
    labels: np.ndarray


@dataclass(frozen=True)
class FolderImages:
    """An ImageFolder split: file paths and their class labels (N,) int64."""

    paths: tuple
    labels: np.ndarray


@dataclass(frozen=True)
class ImageData:
    name: str
    train: object  # ArrayImages | FolderImages
    test: object
    n_outputs: int
    input_shape: tuple  # (C, H, W) of what the network sees


class _ArrayUnpickler(pickle.Unpickler):
    """Rebuilds dicts, lists, bytes and NumPy arrays; refuses every other global."""

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                ("numpy", "ndarray"), ("numpy", "dtype"),
                ("_codecs", "encode")}  # how Python 3 writes bytes at protocol 2

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a data batch")
        if module == "numpy.core.multiarray":
            module = "numpy._core.multiarray" if hasattr(np, "_core") else module
        return super().find_class(module, name)


def _load_batch(path: Path, what: str) -> dict:
    try:
        with open(path, "rb") as f:
            raw = _ArrayUnpickler(f, encoding="bytes").load()
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError, AttributeError) as e:
        raise ValueError(f"{what}: {path} is not a pickled CIFAR batch ({type(e).__name__}: {e})") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{what}: {path} holds a {type(raw).__name__}, expected a dict with data and labels")
    return {(k.decode() if isinstance(k, bytes) else k): v for k, v in raw.items()}


def _find_dir(data_dir: str, subdir: str, files: tuple, what: str, hint: str) -> Path:
    root = Path(data_dir)
    for candidate in (root / subdir, root):
        if all((candidate / f).is_file() for f in files):
            return candidate
    missing = [f for f in files if not (root / subdir / f).is_file()]
    raise ValueError(f"{what}: expected {', '.join(files)} ({hint}) in {root / subdir} or {root}; "
                     f"missing {', '.join(missing)}")


def _cifar_split(directory: Path, files, label_key: str, what: str) -> ArrayImages:
    images, labels = [], []
    for name in files:
        batch = _load_batch(directory / name, what)
        if "data" not in batch or label_key not in batch:
            raise ValueError(f"{what}: {directory / name} lacks the keys 'data' and {label_key!r}; "
                             f"has {', '.join(map(str, batch))}")
        data = np.asarray(batch["data"])
        y = np.asarray(batch[label_key], np.int64)
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 or y.shape != (data.shape[0],):
            raise ValueError(f"{what}: {directory / name} must hold data (N, 3072) uint8 and N labels, "
                             f"got data {data.shape} {data.dtype} and {y.shape[0]} labels")
        images.append(data.reshape(-1, 3, 32, 32))
        labels.append(y)
    return ArrayImages(np.concatenate(images), np.concatenate(labels))


def load_cifar10(data_dir: str) -> ImageData:
    train_files = tuple(f"data_batch_{i}" for i in range(1, 6))
    d = _find_dir(data_dir, "cifar-10-batches-py", train_files + ("test_batch",), "cifar10",
                  "the python version, cifar-10-python.tar.gz extracted")
    data = ImageData("cifar10", _cifar_split(d, train_files, "labels", "cifar10"),
                     _cifar_split(d, ("test_batch",), "labels", "cifar10"), 10, (3, 32, 32))
    return _check_labels(data)


def load_cifar100(data_dir: str) -> ImageData:
    d = _find_dir(data_dir, "cifar-100-python", ("train", "test"), "cifar100",
                  "the python version, cifar-100-python.tar.gz extracted")
    data = ImageData("cifar100", _cifar_split(d, ("train",), "fine_labels", "cifar100"),
                     _cifar_split(d, ("test",), "fine_labels", "cifar100"), 100, (3, 32, 32))
    return _check_labels(data)


def _svhn_split(path: Path) -> ArrayImages:
    from scipy.io import loadmat

    try:
        mat = loadmat(path)
    except Exception as e:  # scipy raises several kinds for a bad file
        raise ValueError(f"svhn: {path} is not a MATLAB file ({type(e).__name__}: {e})") from None
    X, y = mat.get("X"), mat.get("y")
    if X is None or y is None or X.ndim != 4 or X.shape[:3] != (32, 32, 3) or y.size != X.shape[3]:
        raise ValueError(f"svhn: {path} must hold X (32, 32, 3, N) and y (N, 1), "
                         f"got keys {', '.join(k for k in mat if not k.startswith('__'))}")
    images = np.ascontiguousarray(np.transpose(X, (3, 2, 0, 1)), dtype=np.uint8)  # (N, C, H, W)
    return ArrayImages(images, np.asarray(y, np.int64).reshape(-1) % 10)


def load_svhn(data_dir: str) -> ImageData:
    d = _find_dir(data_dir, "svhn", ("train_32x32.mat", "test_32x32.mat"), "svhn",
                  "the cropped-digits format 2 files")
    data = ImageData("svhn", _svhn_split(d / "train_32x32.mat"), _svhn_split(d / "test_32x32.mat"), 10, (3, 32, 32))
    return _check_labels(data)


def _check_labels(data: ImageData) -> ImageData:
    for split in (data.train, data.test):
        if split.labels.size == 0:
            raise ValueError(f"{data.name}: a split holds no images")
        if split.labels.min() < 0 or split.labels.max() >= data.n_outputs:
            raise ValueError(f"{data.name}: labels must be in [0, {data.n_outputs}), got "
                             f"[{split.labels.min()}, {split.labels.max()}]")
    return data


def _folder_split(root: Path, classes: list, what: str) -> FolderImages:
    index = {c: i for i, c in enumerate(classes)}
    paths, labels = [], []
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if not entry.is_dir():
            continue
        if entry.name not in index:
            raise ValueError(f"{what}: class folder {root / entry.name} is not among the train classes")
        files = sorted(f.name for f in os.scandir(entry.path) if f.name.lower().endswith(IMAGE_SUFFIXES))
        paths += [os.path.join(entry.path, f) for f in files]
        labels += [index[entry.name]] * len(files)
    if not paths:
        raise ValueError(f"{what}: expected class folders of JPEG or PNG images in {root}, found none")
    return FolderImages(tuple(paths), np.asarray(labels, np.int64))


def load_imagenet(data_dir: str, crop: int = 224) -> ImageData:
    root = Path(data_dir)
    train, val = root / "train", root / "val"
    if not train.is_dir() or not val.is_dir():
        raise ValueError(f"imagenet: expected the ImageFolder layout, {train}/<class>/*.JPEG and "
                         f"{val}/<class>/*.JPEG; missing {train if not train.is_dir() else val}")
    classes = sorted(e.name for e in os.scandir(train) if e.is_dir())
    if not classes:
        raise ValueError(f"imagenet: expected class folders in {train}, found none")
    return ImageData("imagenet", _folder_split(train, classes, "imagenet"), _folder_split(val, classes, "imagenet"),
                     len(classes), (3, crop, crop))


LOADERS = {"cifar10": load_cifar10, "cifar100": load_cifar100, "svhn": load_svhn, "imagenet": load_imagenet}


def load_image_data(name: str, data_dir: str, download: bool = False) -> ImageData:
    """Read ``name`` from ``data_dir``; with ``download`` first fetch it with torchvision."""
    if not Path(data_dir).is_dir() and not download:
        raise ValueError(f"data_dir {data_dir} is not a directory; it must hold the {name} files")
    if download:
        fetch_with_torchvision(name, data_dir)
    return LOADERS[name](data_dir)


def fetch_with_torchvision(name: str, data_dir: str) -> None:  # pragma: no cover - needs torchvision and network
    """Download ``name`` into ``data_dir`` with torchvision (only with ``--download``)."""
    try:
        import torchvision.datasets as tvd
    except ImportError as e:
        raise ValueError(f"download needs torchvision (pip install torchvision): {e}") from None
    os.makedirs(data_dir, exist_ok=True)
    if name == "cifar10":
        tvd.CIFAR10(data_dir, train=True, download=True)
    elif name == "cifar100":
        tvd.CIFAR100(data_dir, train=True, download=True)
    elif name == "svhn":
        for split in ("train", "test"):
            tvd.SVHN(os.path.join(data_dir, "svhn"), split=split, download=True)
    else:
        raise ValueError(f"download cannot fetch {name}")
