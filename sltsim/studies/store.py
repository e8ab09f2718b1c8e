"""The record store: one JSON line per finished cell, appended atomically.

A study writes each record the moment its cell finishes, so a run killed by
SIGKILL loses at most the cells in flight. The file is plain JSON lines (no pickle
anywhere): each line is one record, a JSON object with a ``key`` field (the
config's content hash, :meth:`sltsim.config.RunConfig.key`).

Writing a record is one write of the whole line (retried when short) on a file opened with
``O_APPEND``, then ``fsync``, under an exclusive ``flock``: two processes appending
to the same store never interleave their lines. Reading ignores a truncated or
unparsable *last* line with a warning that names the file and the line;
:meth:`RecordStore.repair` (which every grid run calls first) and the next append cut
the file back to the end of its last good line. An unparsable line anywhere else is
an error naming the file and the line.

:func:`flat` is the one-level view of a record for pandas (see ``docs/records.md``);
:func:`sltsim.studies.lock.grid_lock` the lock a whole grid run holds on the store's folder.

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
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

TIMING_SUFFIX = "_seconds"
PROVENANCE = "provenance"  # sltsim.provenance.FIELD (not imported: the store stays dependency-free)


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
    """A copy of ``record`` without its wall-clock fields and its provenance, for comparing runs.

    Removes, at every depth, the keys named ``seconds`` or ending in ``_seconds``, and the
    top-level ``provenance`` (when and where it ran): the only fields of a record allowed
    to differ between two runs of one config.
    """
    if isinstance(record, dict):
        return {k: _strip(v) for k, v in record.items() if k != PROVENANCE and not _is_timing(k)}
    return _strip(record)


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if not _is_timing(k)}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _is_timing(key: str) -> bool:
    return key == "seconds" or key.endswith(TIMING_SUFFIX)


class RecordStore:
    """A JSON-lines file of records, one per finished cell.

    Parameters
    ----------
    path : the ``.jsonl`` file; it and its folder are created on the first append.

    Writers hold an exclusive ``flock`` while they repair and append, readers a shared
    one while they read (on POSIX), so a reader never mistakes another process's
    append in progress for a truncated line, and only the tail left by a dead writer
    is ever cut.
    """

    def __init__(self, path):
        self.path = Path(path)
        self._cut: tuple[int, int] | None = None  # (good size, file size) of a bad last line seen by records()

    def __repr__(self) -> str:
        return f"RecordStore({str(self.path)!r})"

    def records(self) -> list[dict]:
        """Every stored record, in file order (duplicates of a key included).

        A truncated or unparsable last line is dropped with a ``UserWarning`` naming
        the file (the next :meth:`append` cuts it off); an unparsable line before the
        last raises ``ValueError`` naming the file and the line number.
        """
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            self._cut = None
            return []
        try:
            with _locked(fd, exclusive=False):
                data = _read_all(fd)
        finally:
            os.close(fd)
        out, bad = _parse_lines(data, self.path)
        self._cut = None if bad is None else (bad[0], len(data))
        if bad is not None:
            warnings.warn(f"{self.path}: ignoring line {bad[1]} ({bad[2]} bytes), the last, which is not a "
                          "JSON record (a write cut short, or text appended by hand); the next study run on "
                          "this store cuts it off", stacklevel=2)
        return out

    def repair(self) -> bool:
        """Cut an unparsable last line off the file (with a warning naming the line); True when
        one was cut. An unparsable line before the last raises ``ValueError``, as
        :meth:`records` does. Nothing happens to a missing file."""
        try:
            fd = os.open(self.path, os.O_RDWR)
        except FileNotFoundError:
            return False
        try:
            with _locked(fd, exclusive=True):
                data = _read_all(fd)
                _, bad = _parse_lines(data, self.path)
                if bad is None:
                    return False
                os.ftruncate(fd, bad[0])
                os.fsync(fd)
        finally:
            os.close(fd)
        warnings.warn(f"{self.path}: cut line {bad[1]} ({bad[2]} bytes), the last, which was not a JSON "
                      "record (a write cut short, or text appended by hand); the records before it are kept",
                      stacklevel=2)
        return True

    def keys(self) -> set[str]:
        """The keys of the stored records."""
        return {r["key"] for r in self.records()}

    def append(self, record: dict) -> dict:
        """Append ``record`` as one line on an ``O_APPEND`` fd under the writer's lock, then fsync.
        A write that fails (a full disk) is cut back off before the ``OSError`` is raised, so the
        file keeps whole lines only.

        Returns the stored form of the record (see :func:`normalise`). Raises
        ``ValueError`` when the record has no string ``key``.
        """
        line = encode(record)
        stored = json.loads(line)
        if not isinstance(stored.get("key"), str):
            raise ValueError(f"a record needs a string 'key' to be stored in {self.path}")
        payload = (line + "\n").encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            with _locked(fd, exclusive=True):
                self._repair(fd)
                size = os.fstat(fd).st_size
                try:
                    _write_all(fd, payload)
                    os.fsync(fd)
                except OSError as e:  # a full disk: take the partial line back, then say why
                    try:
                        os.ftruncate(fd, size)
                    except OSError:  # the next append or repair() cuts it
                        pass
                    raise OSError(e.errno, f"{self.path}: cannot append a record of {len(payload)} bytes: "
                                           f"{e.strerror or e}") from None
        finally:
            os.close(fd)
        return stored

    def _repair(self, fd: int) -> None:
        """Under the writer's lock: cut the bad last line that :meth:`records` saw (if the file
        has not grown since), and cut or end a line that a dead writer left unfinished."""
        size = os.fstat(fd).st_size
        cut, self._cut = self._cut, None
        if cut is not None and cut[1] == size and cut[0] < size:
            os.ftruncate(fd, cut[0])
            size = cut[0]
        if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
            return
        data = _read_all(fd)
        good = data.rfind(b"\n") + 1
        if _parse(data[good:]) is not None:  # a whole record that lost its newline
            os.write(fd, b"\n")
            return
        warnings.warn(f"{self.path}: cutting a truncated last line ({len(data) - good} bytes) "
                      "left by an interrupted write", stacklevel=3)
        os.ftruncate(fd, good)


def _parse_lines(data: bytes, path: Path) -> tuple[list[dict], tuple[int, int, int] | None]:
    """The records in ``data``, and (offset, line number, length) of a bad last line."""
    lines = data.split(b"\n")  # lines[-1] follows the last newline: b"" when the file is whole
    last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    out: list[dict] = []
    offset = 0
    for index, line in enumerate(lines):
        start, offset = offset, offset + len(line) + 1
        if not line.strip():
            continue
        record = _parse(line)
        if record is None:
            if index != last:
                raise ValueError(f"{path}: line {index + 1} is not a JSON record; "
                                 "fix or remove that line (only a last line is repaired)")
            return out, (start, index + 1, len(line))
        out.append(record)
    return out, None


def flat(record: dict, sep: str = ".") -> dict:
    """A record as one level of columns, for ``pandas.DataFrame([flat(r) for r in records])``.

    Nested objects become dotted names (``config.lr``, ``provenance.code``,
    ``per_layer.fc1.dying_ratio``); the list ``cycles`` becomes ``cycles.1.test_acc``,
    ``cycles.2.test_acc`` (numbered from 1, as cycles are); other lists of plain values
    (``config.coats``) stay lists, and lists of objects are numbered like ``cycles``
    (from 0). Nothing is dropped or renamed otherwise, so ``flat`` loses no field.
    """
    out: dict = {}
    _flatten(record, "", sep, out)
    return out


def _flatten(value: Any, prefix: str, sep: str, out: dict) -> None:
    if isinstance(value, dict):
        if not value and prefix:
            out[prefix] = {}
        for k, v in value.items():
            _flatten(v, f"{prefix}{sep}{k}" if prefix else str(k), sep, out)
    elif isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        first = 1 if prefix == "cycles" else 0
        for i, v in enumerate(value, first):
            _flatten(v, f"{prefix}{sep}{i}", sep, out)
    else:
        out[prefix] = value


@contextmanager
def _locked(fd: int, exclusive: bool) -> Iterator[None]:
    if fcntl is None:  # no advisory locks (Windows): single writer only
        yield
        return
    fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _write_all(fd: int, payload: bytes) -> None:
    """Write all of ``payload``; a short write is retried, so a full disk raises ENOSPC."""
    view = memoryview(payload)
    while view:
        written = os.write(fd, view)
        if written <= 0:  # pragma: no cover - os.write raises rather than returning 0
            raise OSError(f"wrote nothing of the last {len(view)} bytes")
        view = view[written:]


def _read_all(fd: int) -> bytes:
    size = os.fstat(fd).st_size
    chunks, offset = [], 0
    while offset < size:
        chunk = os.pread(fd, size - offset, offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def _parse(line: bytes) -> dict | None:
    try:
        record = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("key"), str):
        return None
    return record
