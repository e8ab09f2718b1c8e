"""Which cells of a grid the store already holds, and which must run: the plan of one grid run.

:func:`plan` reads the store once (after cutting a torn last line) and keeps, for every key,
the record :func:`chosen` picks: one that did not fail, made by the current code if one was.
A cell runs when the store lacks it, when it failed before (``retry_failed``), or when another
code computed it and ``recompute_stale`` asks for it again; reused records of other code are
named in a :class:`StaleRecordsWarning`. :meth:`Plan.keep` then stores a new record, except a
failure that repeats the stored one word for word under the same code.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Optional, Sequence

from sltsim import provenance
from sltsim.studies.store import RecordStore


class StaleRecordsWarning(UserWarning):
    """Stored records that the grid reuses were computed by other code."""


@dataclass
class Plan:
    """``done``: the record kept per stored key; ``todo``: ``{key: config}`` of the cells to run, in
    grid order; ``failed_before``: the stored failures among ``done``."""

    done: dict
    todo: dict
    failed_before: dict

    def keep(self, store: RecordStore, record: dict, tag: Optional[dict] = None) -> dict:
        """Store ``record`` (with the fields of ``tag``) unless it repeats a stored failure; it
        becomes the record of its key. Returns its stored form."""
        if tag:
            record = {**record, **tag}
        if not _same_failure(record, self.failed_before.get(record["key"])):
            record = store.append(record)
        self.done[record["key"]] = record
        return record


def plan(store: RecordStore, configs: Sequence, keys: Sequence[str], retry_failed: bool = True,
         recompute_stale: bool = False) -> Plan:
    """Read ``store`` (repairing a torn last line) and decide which of ``configs`` (whose keys are
    ``keys``) must run; warns about reused records of other code."""
    store.repair()
    current = provenance.code_fingerprint()
    done = chosen(store.records(), current)
    failed_before = {k: r for k, r in done.items() if r.get("status") == "failed"}
    reused = [done[k] for k in dict.fromkeys(keys) if k in done and not _redo(done[k], retry_failed, False, current)]
    _warn_stale(store, reused, current, recompute_stale)
    todo: dict[str, object] = {}
    for key, config in zip(keys, configs):
        if key not in todo and (key not in done or _redo(done[key], retry_failed, recompute_stale, current)):
            todo[key] = config
    return Plan(done, todo, failed_before)


def chosen(records: list[dict], current: str) -> dict[str, dict]:
    """The record kept for each key: the first that did not fail, made by the current code if
    one was; else the first that did not fail; else the last failure."""
    out: dict[str, dict] = {}
    for record in records:
        previous = out.get(record["key"])
        if previous is None or _rank(record, current) > _rank(previous, current) or (
                record.get("status") == "failed" and previous.get("status") == "failed"):
            out[record["key"]] = record
    return out


def _rank(record: dict, current: str) -> tuple[bool, bool]:
    return record.get("status") != "failed", provenance.fingerprint_of(record) == current


def _redo(record: dict, retry_failed: bool, recompute_stale: bool, current: str) -> bool:
    if record.get("status") == "failed":
        return retry_failed
    return recompute_stale and provenance.fingerprint_of(record) != current


def _same_failure(record: dict, before: Optional[dict]) -> bool:
    """The cell failed again as it failed before, under the same code: storing it adds nothing."""
    return (before is not None and record.get("status") == "failed"
            and record.get("reason") == before.get("reason")
            and provenance.fingerprint_of(record) == provenance.fingerprint_of(before))


def _warn_stale(store: RecordStore, reused: list[dict], current: str, recompute: bool) -> None:
    others = provenance.stale(reused, current)
    if not others:
        return
    n = sum(others.values())
    named = ", ".join(f"{count} by code {fp}" if fp else f"{count} without provenance"
                      for fp, count in sorted(others.items(), key=lambda item: (item[0] is None, item[0] or "")))
    action = ("they are computed again" if recompute else
              "they are reused; pass --recompute-stale to compute them again")
    warnings.warn(f"{store.path}: {n} of the {len(reused)} stored records this grid reuses were not made "
                  f"by this code (code {current}): {named}; {action}", StaleRecordsWarning, stacklevel=4)
