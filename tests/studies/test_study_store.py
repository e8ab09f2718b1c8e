"""The record store: atomic JSON lines, repair of a truncated last line, no pickle."""

from __future__ import annotations

import json
import threading
import warnings

import numpy as np
import pytest

from sltsim.studies.store import RecordStore, flat, normalise, strip_timing


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


def test_strip_timing_also_drops_the_provenance_but_only_at_the_top():
    record = {"key": "a", "provenance": {"utc": "t"}, "cycles": [{"provenance": 1, "x_seconds": 2.0}]}
    assert strip_timing(record) == {"key": "a", "cycles": [{"provenance": 1}]}


def test_repair_cuts_an_appended_garbage_line_once_and_says_what_it_was(tmp_path):
    store = RecordStore(tmp_path / "s.jsonl")
    store.append({"key": "a"})
    store.append({"key": "b"})
    good = store.path.read_bytes()
    with open(store.path, "ab") as f:
        f.write(b"some garbage\n")
    with pytest.warns(UserWarning) as caught:
        assert [r["key"] for r in store.records()] == ["a", "b"]
    (message,) = [str(w.message) for w in caught]
    assert "line 3" in message and "not a JSON record" in message and "recomputed" not in message
    assert store.path.read_bytes() == good + b"some garbage\n"  # reading alone never rewrites
    with pytest.warns(UserWarning, match=r"cut line 3 \(12 bytes\)"):
        assert store.repair() is True
    assert store.path.read_bytes() == good
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning any more: the file is whole
        assert store.repair() is False and len(store.records()) == 2
    assert RecordStore(tmp_path / "missing.jsonl").repair() is False


def test_repair_refuses_a_bad_middle_line(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text('{"key": "a"}\nnot json\n{"key": "b"}\n')
    with pytest.raises(ValueError, match=f"{path}: line 2 is not a JSON record"):
        RecordStore(path).repair()
    assert path.read_text() == '{"key": "a"}\nnot json\n{"key": "b"}\n'


def test_flat_gives_one_level_of_columns_and_loses_nothing():
    record = {"key": "k", "status": "ok", "test_acc": 0.5,
              "config": {"lr": 0.1, "coats": [0.75, 0.875], "shrinkage": None},
              "cycles": [{"test_acc": 0.4, "epochs": [{"epoch": 1, "loss": 2.0}]}, {"test_acc": 0.5, "epochs": []}],
              "per_layer": {"fc1": {"size": 10, "dying_ratio": 0.1}},
              "provenance": {"code": "abc", "libraries": {"numpy": "2"}}}
    assert flat(record) == {
        "key": "k", "status": "ok", "test_acc": 0.5,
        "config.lr": 0.1, "config.coats": [0.75, 0.875], "config.shrinkage": None,
        "cycles.1.test_acc": 0.4, "cycles.1.epochs.0.epoch": 1, "cycles.1.epochs.0.loss": 2.0,
        "cycles.2.test_acc": 0.5, "cycles.2.epochs": [],
        "per_layer.fc1.size": 10, "per_layer.fc1.dying_ratio": 0.1,
        "provenance.code": "abc", "provenance.libraries.numpy": "2"}
    assert flat({"key": "k", "config": {"lr": 1.0}}, sep="/") == {"key": "k", "config/lr": 1.0}


def test_flat_of_a_real_record_has_every_config_field_as_a_column(tmp_path):
    from sltsim.config import RunConfig
    from sltsim.studies.runner import run_grid, search_cell

    config = RunConfig(model="mlp:64,16,10", epochs=1, batch_size=256, method="hard-ft", cycles=2, shrinkage=0.5)
    (record,) = run_grid([config], search_cell, tmp_path / "s.jsonl", progress=False)
    row = flat(record)
    for name, value in record["config"].items():
        assert row[f"config.{name}"] == value
    assert row["config.final_prune_rate"] == 0.75 and row["prune_rate"] == 0.75
    assert row["cycles.2.prune_rate"] == 0.75 and row["cycles.1.prune_rate"] == 0.5
    assert row["provenance.code"] == record["provenance"]["code"]
    assert all(not isinstance(v, dict) and not (isinstance(v, list) and v and isinstance(v[0], (dict, list)))
               for v in row.values())
