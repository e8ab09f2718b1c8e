"""Committed study records, recomputed at 1 and 2 engine threads, are the same bits (timing aside).

The ones here are cheap cells of three studies (planted and digits MLPs of several
widths), so this pins both "threads do not change a record" and "the threaded engine
still computes what the studies committed" (the runner's provenance and preset fields
aside).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sltsim.config import RunConfig
from sltsim.studies.runner import evaluate_cell, search_cell
from sltsim.studies.store import RecordStore, strip_timing

RECORDS = Path(__file__).resolve().parents[1] / "studies" / "records"

# (study, record key): cheap cells, chosen so that some products are large enough to split
CELLS = (
    ("dying_edges", "97336262d4a04177"),  # ep, mlp:32,256,10, planted (feasible ticket, regression), k = 0.832
    ("sanity_checks", "732b9b55997273dd"),  # ep, mlp:64,256,256,10, digits
    ("sanity_checks", "359ccd493a9dcb90"),  # ep, mlp:32,256,10, planted regression
    ("width_scaling", "9d8a8e22d34d8e25"),  # ep, mlp:64,512,512,10, digits
)
#: what a study's runner adds to a cell's record (where and with which code it was computed), not what the
#: cell computes
RUNNER_FIELDS = ("provenance", "preset")


def _computed(record: dict) -> str:
    return json.dumps({k: v for k, v in strip_timing(record).items() if k not in RUNNER_FIELDS}, sort_keys=True)


def _committed(study: str, key: str) -> dict:
    matches = [r for r in RecordStore(RECORDS / study / f"{study}.jsonl").records() if r["key"] == key]
    assert len(matches) == 1, f"{study}: no single committed record with key {key}"
    return matches[0]


@pytest.mark.parametrize("study, key", CELLS)
def test_committed_record_is_recomputed_bit_for_bit_at_one_and_two_threads(study, key):
    committed = _committed(study, key)
    config = RunConfig.from_dict(committed["config"])
    assert config.key() == key
    want = _computed(committed)
    for n in (1, 2):
        got = evaluate_cell(search_cell, config.replace(threads=n))
        assert _computed(got) == want, f"{study} {key} at {n} threads"
