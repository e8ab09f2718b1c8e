"""The record store: one JSON line per finished cell, appended atomically.

A study writes each record the moment its cell finishes, so a run killed by
SIGKILL loses at most the cells in flight. The file is plain JSON lines (no pickle
anywhere): each line is one record, a JSON object with a ``key`` field (the
config's content hash, :meth:`sltsim.config.RunConfig.key`).

Writing a record is a single ``os.write`` of the whole line on a file opened with
``O_APPEND``, then ``fsync``. Two processes appending to the same store therefore
never interleave their lines. Reading drops a truncated or unparsable *last* line
with a warning that names the file; the next append first truncates the file back
to the end of its last good line. An unparsable line anywhere else is an error.

JSON has no NaN or infinity: non-finite floats are stored as ``null`` (and NumPy
scalars and arrays as plain numbers and lists), so a record read back may differ
from the dict a cell returned in exactly those places. :func:`normalise` gives
that stored form, and the runner returns stored forms only.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path
from typing import Any

TIMING_SUFFIX = "_seconds"


def normalise(record: Any, _where: str = "record") -> Any:
    """The JSON-ready form of ``record``: what :meth:`RecordStore.append` stores.

    Dicts (string keys only), lists and tuples are copied; non-finite floats
    become ``None``; NumPy scalars and arrays become Python numbers and lists.
    Anything else (a set, an object) raises ``TypeError`` naming where it is.
    """
    if record is None or isinstance(record, (bool, str)):
        return record
    if isinstance(record, int):
        return int(record)
    if isinstance(record, float):
        return float(record) if math.isfinite(record) else None
    if isinstance(record, dict):
        out = {}
        for k, v in record.items():
            if not isinstance(k, str):
                raise TypeError(f"{_where} has a non-string key {k!r}; records are JSON objects")
            out[k] = normalise(v, f"{_where}[{k!r}]")
        return out
    if isinstance(record, (list, tuple)):
        return [normalise(v, f"{_where}[{i}]") for i, v in enumerate(record)]
    tolist = getattr(record, "tolist", None)  # NumPy scalars and arrays
    if tolist is not None and type(record).__module__ == "numpy":
        return normalise(tolist(), _where)
    raise TypeError(f"{_where} is a {type(record).__name__}, which a JSON record cannot hold")


def encode(record: dict) -> str:
    """One record as one line of JSON (sorted keys, no trailing newline)."""
    if not isinstance(record, dict):
        raise TypeError(f"a record must be a dict, got {type(record).__name__}")
    return json.dumps(normalise(record), sort_keys=True, separators=(",", ":"), allow_nan=False)


def strip_timing(record: Any) -> Any:
    """A copy of ``record`` without its wall-clock fields, for comparing runs.

    Removes, at every depth, the keys named ``seconds`` or ending in ``_seconds``:
    the only fields of a record allowed to differ between two runs of one config.
    """
    if isinstance(record, dict):
        return {k: strip_timing(v) for k, v in record.items()
                if not (k == "seconds" or k.endswith(TIMING_SUFFIX))}
    if isinstance(record, list):
        return [strip_timing(v) for v in record]
    return record


class RecordStore:
    """A JSON-lines file of records, one per finished cell.

    Parameters
    ----------
    path : the ``.jsonl`` file; it and its folder are created on the first append.
    """

    def __init__(self, path):
        self.path = Path(path)
        self._good_size: int | None = None  # where the file must be cut before the next append

    def __repr__(self) -> str:
        return f"RecordStore({str(self.path)!r})"

    def records(self) -> list[dict]:
        """Every stored record, in file order (duplicates of a key included).

        A truncated or unparsable last line is dropped with a ``UserWarning`` naming
        the file (the next :meth:`append` cuts it off); an unparsable line before the
        last raises ``ValueError`` naming the file and the line number.
        """
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            self._good_size = None
            return []
        lines = data.split(b"\n")
        # lines[-1] is what follows the last newline: b"" for a complete file.
        last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
        out: list[dict] = []
        offset = 0
        self._good_size = None
        for number, line in enumerate(lines, start=1):
            start, offset = offset, offset + len(line) + 1
            if not line.strip():
                continue
            record = _parse(line)
            if record is None:
                if number - 1 != last:
                    raise ValueError(f"{self.path}: line {number} is not a JSON record; "
                                     "fix or remove that line (only a last line is repaired)")
                warnings.warn(f"{self.path}: dropping a truncated or unparsable last line "
                              f"(line {number}, {len(line)} bytes); its cell will be recomputed",
                              stacklevel=2)
                self._good_size = start
                break
            out.append(record)
        else:
            if lines[-1].strip():  # a whole record whose newline never made it to disk
                self._good_size = len(data)
        return out

    def keys(self) -> set[str]:
        """The keys of the stored records."""
        return {r["key"] for r in self.records()}

    def append(self, record: dict) -> dict:
        """Append ``record`` as one line: one ``os.write`` on an ``O_APPEND`` fd, then fsync.

        Returns the stored form of the record (see :func:`normalise`). Raises
        ``ValueError`` when the record has no string ``key``.
        """
        line = encode(record)
        stored = json.loads(line)
        if not isinstance(stored.get("key"), str):
            raise ValueError(f"a record needs a string 'key' to be stored in {self.path}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._repair()
        payload = (line + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            written = os.write(fd, payload)
            if written != len(payload):  # a full disk; the partial line is repaired on reading
                raise OSError(f"{self.path}: wrote {written} of {len(payload)} bytes")
            os.fsync(fd)
        finally:
            os.close(fd)
        return stored

    def _repair(self) -> None:
        """Cut a bad last line found by :meth:`records`, or end a line left without newline."""
        if self._good_size is None:
            try:
                with open(self.path, "rb") as f:
                    f.seek(0, os.SEEK_END)
                    if f.tell() == 0:
                        return
                    f.seek(-1, os.SEEK_END)
                    if f.read(1) == b"\n":
                        return
            except FileNotFoundError:
                return
            self.records()  # the file ends mid-line: find out where the good part ends
            if self._good_size is None:
                return
        size, self._good_size = self._good_size, None
        if self.path.stat().st_size > size:
            os.truncate(self.path, size)
        if size > 0:
            with open(self.path, "rb") as f:
                f.seek(size - 1)
                ended = f.read(1) == b"\n"
            if not ended:
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
                try:
                    os.write(fd, b"\n")
                    os.fsync(fd)
                finally:
                    os.close(fd)


def _parse(line: bytes) -> dict | None:
    try:
        record = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("key"), str):
        return None
    return record
