"""Image data from local directories: the published formats load, bad directories are refused,
ResNet-18 trains one epoch on a CIFAR-format directory, and augmentation is reproducible."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from sltsim.config import RunConfig
from sltsim.torch_backend import augment, run_search
from sltsim.torch_backend.images import load_cifar10, load_cifar100, load_image_data, load_imagenet, load_svhn
from sltsim.torch_backend.loaders import ImageLoaderData
from tests.torch_backend.fake_data import write_cifar10, write_cifar100, write_image_folder, write_svhn


def test_cifar10_pickle_batches_load_in_order(tmp_cifar10):
    data = load_cifar10(str(tmp_cifar10))
    assert data.train.images.shape == (8, 3, 32, 32) and data.test.images.shape == (4, 3, 32, 32)
    with open(tmp_cifar10 / "cifar-10-batches-py" / "data_batch_1", "rb") as f:
        raw = pickle.load(f, encoding="bytes")
    first = raw[b"data"][0]
    # row layout: 1024 red, 1024 green, 1024 blue values, each 32 rows of 32
    np.testing.assert_array_equal(data.train.images[0, 1, 2, 5], first[1024 + 2 * 32 + 5])
    assert data.train.labels[: len(raw[b"labels"])].tolist() == raw[b"labels"]
    # the directory itself may be the batches folder
    assert load_cifar10(str(tmp_cifar10 / "cifar-10-batches-py")).train.images.shape[0] == 8


def test_cifar100_svhn_and_image_folder_load(tmp_path):
    c100 = load_cifar100(str(write_cifar100(tmp_path / "c100")))
    assert c100.n_outputs == 100 and c100.train.images.shape == (6, 3, 32, 32)
    svhn = load_svhn(str(write_svhn(tmp_path / "svhn")))
    assert svhn.train.images.shape == (6, 3, 32, 32) and set(svhn.train.labels) <= set(range(10))
    folder = load_imagenet(str(write_image_folder(tmp_path / "inet")))
    assert folder.n_outputs == 2 and len(folder.train.paths) == 4 and folder.train.labels.tolist() == [0, 0, 1, 1]
    image = augment.imagenet_train(folder.train.paths[0], np.random.default_rng(0))
    assert image.shape == (3, 224, 224) and image.dtype == np.uint8
    assert augment.imagenet_eval(folder.test.paths[1]).shape == (3, 224, 224)


def _corrupt(tmp_path):
    root = write_cifar10(tmp_path / "corrupt")
    (root / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"not a pickle")
    return root


def _malicious(tmp_path):
    root = write_cifar10(tmp_path / "evil")

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with open(root / "cifar-10-batches-py" / "test_batch", "wb") as f:
        pickle.dump({b"data": Evil(), b"labels": []}, f, protocol=2)
    return root


def _wrong_shape(tmp_path):
    root = write_cifar10(tmp_path / "shape")
    with open(root / "cifar-10-batches-py" / "test_batch", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, f, protocol=2)
    return root


@pytest.mark.parametrize("make, data, expected", [
    (lambda p: p / "nowhere", "cifar10", "is not a directory"),
    (lambda p: p, "cifar10", "expected data_batch_1"),
    (_corrupt, "cifar10", "is not a pickled CIFAR batch"),
    (_malicious, "cifar10", "print is not allowed"),
    (_wrong_shape, "cifar10", "must hold data (N, 3072) uint8"),
    (lambda p: write_cifar10(p / "c10"), "cifar100", "expected train, test"),
    (lambda p: p, "svhn", "train_32x32.mat"),
    (lambda p: p, "imagenet", "ImageFolder layout"),
])
def test_bad_data_directories_are_refused_with_one_line(tmp_path, make, data, expected):
    directory = make(tmp_path)
    with pytest.raises(ValueError) as info:
        load_image_data(data, str(directory))
    message = str(info.value)
    assert expected in message and "\n" not in message and str(tmp_path) in message


def test_cli_refuses_a_bad_data_dir_with_exit_2(tmp_path, capsys):
    from sltsim.cli import main

    code = main(["--backend", "torch", "--model", "conv2", "--data", "cifar10", "--data-dir", str(tmp_path),
                 "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "expected data_batch_1" in err and len(err.splitlines()) == 1


def test_resnet18_trains_one_epoch_on_a_cifar_directory(tmp_cifar10):
    config = RunConfig(backend="torch", model="resnet18", data="cifar10", data_dir=str(tmp_cifar10), epochs=1,
                       batch_size=4, prune_rate=0.5, lr=0.1)
    record = run_search(config)
    assert record["status"] == "ok" and len(record["cycles"][0]["epochs"]) == 1
    assert len(record["per_layer"]) == 21  # 17 convs of 3x3, 3 projections, fc
    # one epoch = two steps: the masks moved, but most masked edges have not been selected yet
    assert 0.45 < record["dying_ratio"] < 0.5 and record["k_minus_d"] > 0
    assert 0 <= record["test_acc"] <= 1 and np.isfinite(record["loss"])


def test_crop_flip_is_a_padded_shift_and_a_mirror():
    images = np.arange(2 * 3 * 32 * 32, dtype=np.int64).reshape(2, 3, 32, 32).astype(np.uint8)
    params = np.array([[4, 4, 0], [0, 8, 1]])  # centre, no flip; top-right corner, flipped
    out = augment.crop_flip(images, params)
    np.testing.assert_array_equal(out[0], images[0])
    expected = np.zeros((3, 32, 32), np.uint8)
    expected[:, 4:, :28] = images[1, :, :28, 4:]
    np.testing.assert_array_equal(out[1], expected[:, :, ::-1])


def test_batches_do_not_depend_on_the_number_of_workers(tmp_path):
    from sltsim.streams import make_rngs

    root = write_cifar10(tmp_path / "w", n_train=10, n_test=2)
    seen = []
    for workers in (0, 2):
        loader = ImageLoaderData(load_cifar10(str(root)), "cpu", torch.float32, workers)
        rngs = make_rngs(5)
        seen.append([(x.numpy().copy(), y.numpy().copy()) for _ in range(2)
                     for x, y, _ in loader.train_epoch(4, rngs)])
        loader.close()
    assert len(seen[0]) == 6
    for (xa, ya), (xb, yb) in zip(*seen):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(seen[0][0][0], seen[0][3][0])  # epochs differ
