"""Training and evaluation batches on the device, for in-memory and image data sets.

Both kinds draw each epoch's order exactly as the engine does
(:func:`sltsim.data.batches` on the run's ``"batches"`` stream), so the global batches
of a torch run are the engine's. Under DistributedDataParallel every rank draws the
same order and takes every ``world``-th example of each global batch
(``idx[rank::world]``); a final batch smaller than the world is skipped on every rank.
Training yields ``(x, y, n)`` with ``n`` the size of the global batch, so that a
rank's loss can be weighted to make DDP's gradient average the global-batch mean.

Image data go through a ``torch.utils.data.DataLoader`` whose items are whole
batches (``batch_size=None``): workers decode and augment a batch from its indices
and a per-epoch seed (drawn from the ``"data"`` stream), so the result does not
depend on the number of workers. Images travel as uint8 and are normalised on the device.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from sltsim.data import batches
from sltsim.torch_backend import augment
from sltsim.torch_backend.images import ArrayImages, ImageData

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # torchvision's ImageNet statistics, in [0, 1]
IMAGENET_STD = (0.229, 0.224, 0.225)
EVAL_BATCH = 1024


@dataclass(frozen=True)
class Shard:
    """This process's place among the DDP ranks."""

    rank: int = 0
    world: int = 1

    def part(self, idx: np.ndarray) -> np.ndarray:
        return np.arange(self.rank, len(idx), self.world)


def _global_batches(n: int, batch_size: int, rng: np.random.Generator, shard: Shard):
    for idx in batches(n, batch_size, rng):
        if len(idx) >= shard.world:
            yield idx


class InMemoryData:
    """An engine :class:`~sltsim.data.Dataset` on the device, batched as the engine batches it."""

    def __init__(self, dataset, device, shard: Shard = Shard()):
        self.name, self.task, self.n_outputs = dataset.name, dataset.task, dataset.n_outputs
        self.input_shape = dataset.input_shape
        self.shard, self.device = shard, torch.device(device)
        self.splits = {"train": (dataset.X_train, dataset.y_train), "test": (dataset.X_test, dataset.y_test)}
        self._on_device = {k: (torch.from_numpy(X).to(self.device), torch.from_numpy(y).to(self.device))
                           for k, (X, y) in self.splits.items()}

    @property
    def n_train(self) -> int:
        return self.splits["train"][0].shape[0]

    def n_examples(self, split: str) -> int:
        return self.splits[split][0].shape[0]

    def train_epoch(self, batch_size: int, rngs: dict):
        X, y = self._on_device["train"]
        for idx in _global_batches(self.n_train, batch_size, rngs["batches"], self.shard):
            mine = torch.from_numpy(idx[self.shard.part(idx)]).to(self.device)
            yield X[mine], y[mine], len(idx)

    def eval_batches(self, split: str, batch_size: int = EVAL_BATCH):
        X, y = self._on_device[split]
        for start in range(self.shard.rank * batch_size, X.shape[0], batch_size * self.shard.world):
            yield X[start : start + batch_size], y[start : start + batch_size]

    def close(self) -> None:
        pass


class _BatchFetch(torch.utils.data.Dataset):
    """Items are (seed, batch number, global indices, positions of this rank, train)."""

    def __init__(self, source, crop: int):
        self.source, self.crop = source, crop

    def __len__(self) -> int:  # never used to index: the sampler yields whole batches
        return len(self.source.labels)

    def __getitem__(self, item):
        seed, batch_no, idx, mine, train = item
        src, chosen = self.source, idx[mine]
        if isinstance(src, ArrayImages):
            images = src.images[chosen]
            if train:
                params = augment.crop_flip_params(np.random.default_rng([seed, batch_no]), len(idx))[mine]
                images = augment.crop_flip(images, params)
        elif train:
            images = np.stack([augment.imagenet_train(src.paths[idx[j]], np.random.default_rng([seed, batch_no, j]),
                                                      self.crop) for j in mine])
        else:
            images = np.stack([augment.imagenet_eval(src.paths[i], self.crop) for i in chosen])
        return torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(src.labels[chosen])


class _Plan(torch.utils.data.Sampler):
    """The current epoch's items; reset before each pass so persistent workers are reused."""

    def __init__(self):
        self.items: list = []

    def __iter__(self):
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


class ImageLoaderData:
    """An :class:`~sltsim.torch_backend.images.ImageData` behind one DataLoader per split."""

    def __init__(self, data: ImageData, device, dtype, workers: int = 0, shard: Shard = Shard()):
        self.name, self.task, self.n_outputs = data.name, "classification", data.n_outputs
        self.input_shape = data.input_shape
        self.shard, self.device, self.dtype = shard, torch.device(device), dtype
        self.sources = {"train": data.train, "test": data.test}
        mean, std = _statistics(data)
        self.mean = torch.tensor(mean, dtype=dtype, device=self.device).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=dtype, device=self.device).view(1, -1, 1, 1)
        self.plans, self.loaders = {}, {}
        for split, source in self.sources.items():
            self.plans[split] = _Plan()
            self.loaders[split] = torch.utils.data.DataLoader(
                _BatchFetch(source, data.input_shape[1]), batch_size=None, sampler=self.plans[split],
                num_workers=workers, pin_memory=self.device.type == "cuda", persistent_workers=workers > 0)

    @property
    def n_train(self) -> int:
        return len(self.sources["train"].labels)

    def n_examples(self, split: str) -> int:
        return len(self.sources[split].labels)

    def _to_device(self, images: torch.Tensor) -> torch.Tensor:
        x = images.to(self.device, non_blocking=True).to(self.dtype)
        return (x - self.mean) / self.std

    def train_epoch(self, batch_size: int, rngs: dict):
        seed = int(rngs["data"].integers(2**63))
        plan = [(seed, b, idx, self.shard.part(idx), True) for b, idx in
                enumerate(_global_batches(self.n_train, batch_size, rngs["batches"], self.shard))]
        self.plans["train"].items = plan
        for (images, labels), item in zip(self.loaders["train"], plan):
            yield self._to_device(images), labels.to(self.device, non_blocking=True), len(item[2])

    def eval_batches(self, split: str, batch_size: int = EVAL_BATCH):
        n = self.n_examples(split)
        plan = []
        for b, start in enumerate(range(0, n, batch_size)):
            idx = np.arange(start, min(start + batch_size, n))
            mine = self.shard.part(idx)
            if len(mine):
                plan.append((0, b, idx, mine, False))
        self.plans[split].items = plan
        for images, labels in self.loaders[split]:
            yield self._to_device(images), labels.to(self.device, non_blocking=True)

    def close(self) -> None:
        self.loaders.clear()


def _statistics(data: ImageData) -> tuple:
    """Per-channel mean and std in [0, 255]: from the training images when in memory."""
    train = data.train
    if isinstance(train, ArrayImages):
        total = np.zeros(train.images.shape[1])
        squares = np.zeros(train.images.shape[1])
        for start in range(0, len(train.images), 4096):  # chunks: no float copy of the whole set
            x = train.images[start : start + 4096].astype(np.float64)
            total += x.sum(axis=(0, 2, 3))
            squares += (x * x).sum(axis=(0, 2, 3))
        count = train.images.size / train.images.shape[1]
        mean = total / count
        std = np.sqrt(np.maximum(squares / count - mean * mean, 0.0))
        return tuple(mean), tuple(np.where(std > 0, std, 1.0))
    return tuple(255 * m for m in IMAGENET_MEAN), tuple(255 * s for s in IMAGENET_STD)
