"""Checkpoints load with weights_only=True, and a run resumed in the middle of a cycle
selects the same masks, step by step, as the uninterrupted run."""

from __future__ import annotations

import hashlib

import pytest
import torch

from sltsim.config import RunConfig
from sltsim.registry import METHODS
from sltsim.search.driver import Stop, run_method
from sltsim.torch_backend import checkpoint
from sltsim.torch_backend.build import build_run
from sltsim.torch_backend.history import DeviceHistory


@pytest.fixture
def mask_log(monkeypatch):
    """Every step's masks, as one digest per step, in order."""
    log: list = []
    update = DeviceHistory.update

    def logged(self, masks):
        log.append(hashlib.sha1(b"".join(m.numpy().tobytes() for m in masks)).hexdigest())
        return update(self, masks)

    monkeypatch.setattr(DeviceHistory, "update", logged)
    return log


def _final(run):
    return [t.scores.detach().clone() for t in run.searched] + [t.theta0.detach().clone() for t in run.tensors]


def _without_seconds(cycles):
    return [{**c.summary, "epochs": [{k: v for k, v in row.items() if k != "seconds"} for row in c.summary["epochs"]]}
            for c in cycles]


def _resume_matches(config: RunConfig, stop_after: int, mask_log) -> None:
    method = METHODS[config.method]
    full_run = build_run(config)
    full = run_method(full_run, method)
    full_steps, full_scores = list(mask_log), _final(full_run)
    mask_log.clear()

    first = build_run(config)
    with pytest.raises(Stop):  # interrupted after ``stop_after`` epochs
        run_method(first, method, stop_after_epochs=stop_after)
    steps_before = len(mask_log)
    assert 0 < steps_before < len(full_steps)

    payload = torch.load(config.checkpoint, weights_only=True)  # plain containers and tensors only
    assert payload["key"] == config.key() and payload["cycle_state"]["epoch"] >= 1

    resumed_run = build_run(config.replace(resume=True))  # a fresh process
    resumed = run_method(resumed_run, method)
    assert mask_log == full_steps, "the resumed run selected other masks"
    for a, b in zip(full_scores, _final(resumed_run)):
        assert torch.equal(a, b)
    assert _without_seconds(resumed) == _without_seconds(full)


def test_ep_resumes_mid_cycle_with_momentum_and_history(tmp_path, mask_log):
    config = RunConfig(backend="torch", model="mlp:64,32,10", epochs=4, batch_size=256, prune_rate=0.7,
                       checkpoint=str(tmp_path / "run.pt"))
    _resume_matches(config, stop_after=2, mask_log=mask_log)


def test_iterative_resumes_inside_a_later_cycle(tmp_path, mask_log):
    config = RunConfig(backend="torch", method="hard-sri", model="mlp:64,32,10", epochs=2, cycles=3,
                       shrinkage=0.3, batch_size=256, checkpoint=str(tmp_path / "iter.pt"))
    _resume_matches(config, stop_after=3, mask_log=mask_log)  # stops after epoch 1 of cycle 2


def test_image_data_run_resumes_with_the_same_augmentation(tmp_path, tmp_cifar10, mask_log):
    config = RunConfig(backend="torch", model="mlp:3072,16,10", data="cifar10", data_dir=str(tmp_cifar10),
                       epochs=3, batch_size=3, checkpoint=str(tmp_path / "img.pt"))
    _resume_matches(config, stop_after=1, mask_log=mask_log)


def test_a_checkpoint_of_another_run_is_refused(tmp_path):
    path = str(tmp_path / "a.pt")
    config = RunConfig(backend="torch", model="mlp:64,32,10", epochs=1, checkpoint=path)
    run_method(build_run(config), METHODS["ep"])
    other = build_run(config.replace(seed=1, resume=True))
    with pytest.raises(ValueError, match="belongs to run"):
        checkpoint.load(path, other)
    (tmp_path / "b.pt").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="cannot be read"):
        checkpoint.load(str(tmp_path / "b.pt"), other)


@pytest.mark.parametrize("method, options", [
    ("iterand", dict(iterand_period=4, iterand_rate=0.5)),  # redraws of theta0 from the "method" stream
    ("multicoat", dict(prune_rate=0.4, coats=(0.7,))),  # coats set up again on resume
    ("dense", dict()),  # theta0 trained; resumed inside the fine-tuning phase
])
def test_baselines_resume_mid_run(tmp_path, mask_log, method, options):
    config = RunConfig(backend="torch", method=method, model="mlp:64,32,10", epochs=2, batch_size=256,
                       checkpoint=str(tmp_path / f"{method}.pt"), **options)
    _resume_matches(config, stop_after=3 if method == "dense" else 1, mask_log=mask_log)
