"""End to end: the README's EP command on digits, its accuracy claims, and bitwise determinism."""

import pytest

from sltsim.config import RunConfig
from sltsim.search import run_search

README_RUN = dict(method="ep", model="mlp:64,256,256,10", data="digits", epochs=50, batch_size=128, lr=0.1,
                  momentum=0.9, weight_decay=5e-4, schedule="cosine")


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("prune_rate, floor", [(0.5, 0.96), (0.8, 0.93)])
def test_ep_on_digits_reaches_the_readme_accuracy(seed, prune_rate, floor):
    record = run_search(RunConfig(**README_RUN, prune_rate=prune_rate, seed=seed))
    assert record["test_acc"] >= floor
    assert 0.0 < record["dying_ratio"] < prune_rate


def _strip(record):
    return {k: v for k, v in record.items() if k != "cycles"}, [
        [{k: v for k, v in e.items() if k != "seconds"} for e in c["epochs"]] for c in record["cycles"]]


def test_same_seed_is_bitwise_identical_and_another_seed_is_not():
    config = RunConfig(model="mlp:64,32,10", epochs=3, seed=7)
    a, b = run_search(config), run_search(config)
    assert _strip(a) == _strip(b)
    c = run_search(config.replace(seed=8))
    assert c["test_loss"] != a["test_loss"]
