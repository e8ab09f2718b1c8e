"""Provenance: which code, libraries and machine computed a record, and when.

Every record a study stores carries a ``provenance`` object::

    {"sltsim": "0.1.0", "code": "3f2a...", "git_commit": "c831c5f..." or null,
     "libraries": {"numpy": "2.1.3", "numba": "0.60.0", "scipy": ..., "torch": ... or null},
     "python": "3.11.7", "machine": {"platform": ..., "processor": ..., "cpus": 16},
     "utc": "2026-12-01T09:00:00Z"}

``code`` is the *code fingerprint*: a SHA-256 (first 16 hex digits) over the path and
bytes of every ``.py`` file of the installed ``sltsim`` package, so it changes with any
edit to the code, committed or not, and is the same for a wheel and a checkout of the
same sources. Provenance never enters a record's key: a rerun after a code change finds
the old records, and :func:`stale` tells which of them another version of the code made.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Iterable, Optional

FIELD = "provenance"
LIBRARIES = ("numpy", "numba", "scipy", "threadpoolctl", "torch")


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """The fingerprint of the ``sltsim`` sources this process runs (16 hex digits)."""
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def _static() -> dict:
    libraries = {}
    for name in LIBRARIES:
        try:
            libraries[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            libraries[name] = None
    from sltsim import __version__

    return {"sltsim": __version__, "code": code_fingerprint(), "git_commit": _git_commit(),
            "libraries": libraries, "python": platform.python_version(),
            "machine": {"platform": platform.platform(), "processor": platform.machine(),
                        "cpus": os.cpu_count()}}


def _git_commit() -> Optional[str]:
    """The commit of the checkout the package lives in, or None (a wheel, no git)."""
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and len(commit) == 40 else None


def provenance() -> dict:
    """This process's provenance, with the current UTC time (to the second)."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    return {**_static(), "utc": now.isoformat().replace("+00:00", "Z")}


def stamp(record: dict) -> dict:
    """``record`` with this process's ``provenance`` (a new dict; an existing one is kept)."""
    if FIELD in record:
        return record
    return {**record, FIELD: provenance()}


def fingerprint_of(record: dict) -> Optional[str]:
    """The code fingerprint a record was computed with; None for a record without provenance."""
    value = record.get(FIELD)
    return value.get("code") if isinstance(value, dict) else None


def stale(records: Iterable[dict], current: Optional[str] = None) -> dict[Optional[str], int]:
    """``{fingerprint: count}`` of the records another code made (None: no provenance)."""
    current = code_fingerprint() if current is None else current
    out: dict[Optional[str], int] = {}
    for record in records:
        fp = fingerprint_of(record)
        if fp != current:
            out[fp] = out.get(fp, 0) + 1
    return out


if __name__ == "__main__":  # pragma: no cover - a quick look: python -m sltsim.provenance
    import json

    json.dump(provenance(), sys.stdout, indent=1)
    print()
