"""Standard augmentation, drawn from explicit NumPy generators so that it is reproducible.

- CIFAR/SVHN (He et al., 2016, Sec. 4.2): pad 4 pixels with zeros on each side, take a
  random 32x32 crop, flip horizontally with probability 1/2. Vectorised over a batch.
- ImageNet (Szegedy et al., 2015; torchvision's RandomResizedCrop): a crop of random
  area in [0.08, 1] of the image and aspect ratio in [3/4, 4/3] (log-uniform), resized
  to 224x224 (bilinear), flipped with probability 1/2; evaluation resizes the short
  side to 256 and takes the central 224x224.

Every random draw for a batch comes from a generator seeded by (epoch seed, batch
number), so the augmentation does not depend on the number of DataLoader workers
or ranks, and a resumed run draws what the uninterrupted run drew.
"""

from __future__ import annotations

import math

import numpy as np

PAD = 4


def crop_flip_params(rng: np.random.Generator, n: int, pad: int = PAD) -> np.ndarray:
    """(n, 3) int: per image the crop offsets (dy, dx) in [0, 2 * pad] and a flip bit."""
    offsets = rng.integers(0, 2 * pad + 1, size=(n, 2))
    flips = rng.integers(0, 2, size=(n, 1))
    return np.concatenate([offsets, flips], axis=1)


def crop_flip(images: np.ndarray, params: np.ndarray, pad: int = PAD) -> np.ndarray:
    """Padded random crops and flips of a batch.

    Parameters
    ----------
    images : (B, C, H, W) uint8.
    params : (B, 3) from :func:`crop_flip_params`.

    Returns
    -------
    (B, C, H, W) uint8, a new array.
    """
    B, C, H, W = images.shape
    padded = np.pad(images, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (H, W), axis=(2, 3))  # (B, C, 2p+1, 2p+1, H, W)
    out = windows[np.arange(B), :, params[:, 0], params[:, 1]]  # (B, C, H, W)
    flip = params[:, 2].astype(bool)
    out[flip] = out[flip, :, :, ::-1]
    return np.ascontiguousarray(out)


def resized_crop_box(rng: np.random.Generator, width: int, height: int, scale=(0.08, 1.0),
                     ratio=(3 / 4, 4 / 3)) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of a random-resized crop: ten tries, then the central crop."""
    area = width * height
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(*log_ratio))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = int(rng.integers(0, height - h + 1))
            left = int(rng.integers(0, width - w + 1))
            return left, top, left + w, top + h
    aspect = width / height  # fall back to the central crop within the ratio bounds
    if aspect < ratio[0]:
        w, h = width, int(round(width / ratio[0]))
    elif aspect > ratio[1]:
        h, w = height, int(round(height * ratio[1]))
    else:
        w, h = width, height
    top, left = (height - h) // 2, (width - w) // 2
    return left, top, left + w, top + h


def imagenet_train(path: str, rng: np.random.Generator, size: int = 224) -> np.ndarray:
    """Decode, random-resized-crop and flip one image: (3, size, size) uint8."""
    from PIL import Image

    with Image.open(path) as img:
        img = img.convert("RGB")
        box = resized_crop_box(rng, img.width, img.height)
        img = img.resize((size, size), Image.BILINEAR, box=box)
        if rng.integers(0, 2):
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        return np.asarray(img, np.uint8).transpose(2, 0, 1)


def imagenet_eval(path: str, size: int = 224, resize: int = 256) -> np.ndarray:
    """Decode, resize the short side to ``resize`` and take the central crop: (3, size, size) uint8."""
    from PIL import Image

    with Image.open(path) as img:
        img = img.convert("RGB")
        scale = resize / min(img.width, img.height)
        w, h = max(size, round(img.width * scale)), max(size, round(img.height * scale))
        img = img.resize((w, h), Image.BILINEAR)
        left, top = (w - size) // 2, (h - size) // 2
        img = img.crop((left, top, left + size, top + size))
        return np.asarray(img, np.uint8).transpose(2, 0, 1)
