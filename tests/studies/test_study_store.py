"""The record store: atomic JSON lines, repair of a truncated last line, no pickle."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from sltsim.studies.store import RecordStore, normalise, strip_timing


def test_append_then_read_round_trips_plain_json(tmp_path):
    store = RecordStore(tmp_path / "sub" / "s.jsonl")
    assert store.records() == [] and store.keys() == set()
    stored = store.append({"key": "a", "x": np.float32(0.5), "n": np.int64(3), "bad": float("inf"),
                           "v": np.arange(3), "t": (1, 2), "nan": float("nan")})
    assert stored == {"key": "a", "x": 0.5, "n": 3, "bad": None, "v": [0, 1, 2], "t": [1, 2], "nan": None}
    store.append({"key": "b", "y": 1.0 / 3.0})
    assert store.records() == [stored, {"key": "b", "y": 1.0 / 3.0}]
    assert store.keys() == {"a", "b"}
    lines = store.path.read_text().splitlines()
    assert [json.loads(line)["key"] for line in lines] == ["a", "b"]  # one line each, plain JSON
    assert "NaN" not in store.path.read_text() and "Infinity" not in store.path.read_text()


def test_append_refuses_what_json_cannot_hold(tmp_path):
    store = RecordStore(tmp_path / "s.jsonl")
    with pytest.raises(ValueError, match="key"):
        store.append({"x": 1})
    with pytest.raises(TypeError, match=r"record\['s'\] is a set"):
        store.append({"key": "a", "s": {1, 2}})
    with pytest.raises(TypeError, match="non-string key"):
        normalise({1: 2})
    assert not store.path.exists()


def test_strip_timing_removes_seconds_at_every_depth():
    record = {"key": "a", "seconds": 1.0, "total_seconds": 2.0, "cycles": [{"epochs": [{"seconds": 3.0, "loss": 1.5}]}],
              "secondsish": 4}
    assert strip_timing(record) == {"key": "a", "cycles": [{"epochs": [{"loss": 1.5}]}], "secondsish": 4}


def test_truncated_last_line_is_dropped_with_a_warning_and_cut_before_the_next_append(tmp_path):
    store = RecordStore(tmp_path / "s.jsonl")
    for key in "abc":
        store.append({"key": key, "payload": "x" * 50})
    text = store.path.read_bytes()
    store.path.write_bytes(text[:-20])  # a write cut short by a crash
    with pytest.warns(UserWarning, match=str(store.path)):
        assert [r["key"] for r in store.records()] == ["a", "b"]
    store.append({"key": "c2"})
    assert store.path.read_text().splitlines()[-1] == '{"key":"c2"}'
    assert [r["key"] for r in store.records()] == ["a", "b", "c2"]


def test_unterminated_but_complete_last_line_is_kept(tmp_path):
    store = RecordStore(tmp_path / "s.jsonl")
    store.append({"key": "a"})
    store.path.write_bytes(store.path.read_bytes().rstrip(b"\n"))
    store.append({"key": "b"})  # append finds the missing newline by itself
    assert [r["key"] for r in store.records()] == ["a", "b"]


def test_append_alone_cuts_a_line_a_dead_writer_left_unfinished(tmp_path):
    store = RecordStore(tmp_path / "s.jsonl")
    store.path.write_bytes(b'{"key":"a"}\n{"key":"b","x":[1,2')
    with pytest.warns(UserWarning, match=f"{store.path}: cutting a truncated last line"):
        RecordStore(store.path).append({"key": "c"})
    assert store.path.read_bytes() == b'{"key":"a"}\n{"key":"c"}\n'


def test_garbage_last_line_is_dropped_and_a_bad_middle_line_is_an_error(tmp_path):
    store = RecordStore(tmp_path / "s.jsonl")
    store.path.write_bytes(b'{"key":"a"}\n\x00\x00\x00\n')
    with pytest.warns(UserWarning, match="line 2"):
        assert store.keys() == {"a"}
    store.append({"key": "b"})
    assert store.path.read_bytes() == b'{"key":"a"}\n{"key":"b"}\n'
    store.path.write_bytes(b'{"key":"a"}\n{"key":\n{"key":"b"}\n')
    with pytest.raises(ValueError, match=rf"{store.path}: line 2 "):
        store.records()


def test_concurrent_appends_never_interleave(tmp_path):
    store = RecordStore(tmp_path / "s.jsonl")

    def write(tag):
        for i in range(60):
            RecordStore(store.path).append({"key": f"{tag}{i}", "pad": tag * (1000 + 37 * i)})

    threads = [threading.Thread(target=write, args=(tag,)) for tag in "wxyz"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    records = store.records()
    assert len(records) == 240 and len(store.keys()) == 240
    assert all(r["pad"] == r["key"][0] * len(r["pad"]) for r in records)
