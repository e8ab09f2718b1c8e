"""Where a study's records are stored, and reading them back for its figures.

``<records_dir>/<study>/<study>.jsonl`` is the layout of the studies' default
``--out results/<preset>/<study>``; :func:`load_records` refuses a store that mixes the
records of more than one preset. Used by ``python -m sltsim.figures`` and by
:meth:`sltsim.studies.study.Study.draw`; it sits apart from both so that neither imports
the other.
"""

from __future__ import annotations

from pathlib import Path


def records_path(records_dir, study: str) -> Path:
    """Where a study's store lives under ``records_dir``: ``<records_dir>/<study>/<study>.jsonl``
    (the layout of the studies' default ``--out results/<study>``)."""
    return Path(records_dir) / study / f"{study}.jsonl"


def load_records(records_dir, study: str) -> list[dict]:
    """The stored records of ``study``; ``FileNotFoundError`` (naming the file and the command
    that makes it) when there are none."""
    from sltsim.studies.store import RecordStore

    path = records_path(records_dir, study)
    if not path.is_file():
        raise FileNotFoundError(f"no records for {study} at {path}; run python -m sltsim.studies.{study} "
                                f"--out {path.parent}")
    records = RecordStore(path).records()
    presets = sorted({r["preset"] for r in records if isinstance(r.get("preset"), str)})
    if len(presets) > 1:
        raise ValueError(f"{path} mixes the records of presets {', '.join(presets)}; a figure shows one "
                         "preset: give each preset its own --out (the default, results/<preset>/<study>)")
    return records


__all__ = ["records_path", "load_records"]
