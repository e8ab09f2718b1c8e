"""torch's CPU threads in a run: the enclosing study cell's, else torch's default."""

from __future__ import annotations

import torch

from sltsim.config import RunConfig
from sltsim.engine import threads
from sltsim.torch_backend import run_search

CONFIG = RunConfig(backend="torch", model="mlp:64,16,10", epochs=1, batch_size=256)


def _threads_during(config) -> int:
    seen = []
    record = run_search(config, on_finish=lambda run: seen.append(torch.get_num_threads()))
    assert record["status"] == "ok"
    return seen[0]


def test_a_study_cell_runs_torch_on_one_thread_and_restores_the_setting():
    before = torch.get_num_threads()
    with threads.using(1):  # what the study runner wraps every cell in
        assert _threads_during(CONFIG) == 1
    assert torch.get_num_threads() == before


def test_a_single_run_keeps_torchs_default_and_a_wider_setting_is_followed():
    before = torch.get_num_threads()
    assert _threads_during(CONFIG) == before
    with threads.using(2):
        assert _threads_during(CONFIG) == 2
