"""Every study prints the same tables from the committed records as the snapshot says.

Each study is run as ``python -m sltsim.studies.NAME --out DIR --no-progress --json`` and as
``python -m sltsim.studies NAME --out DIR --no-progress --json`` (in this process), with DIR holding a copy of ``studies/records/NAME/NAME.jsonl``, so that no
cell is computed and nothing is written in the checkout. Its stdout is compared with
``snapshots/NAME.txt``: the table lines verbatim (the figure lines with DIR written as
``<OUT>``), and the ``--json`` line by its length and SHA-256 (the rows are hundreds of
kilobytes). The snapshots were made by the code before the studies became data
(:mod:`sltsim.studies.study`), so a refactor that changes any printed number fails here.
Set ``SLTSIM_UPDATE_SNAPSHOTS=1`` to write them again (only for an intended change).
"""

from __future__ import annotations

import hashlib
import importlib
import os
import shutil
from pathlib import Path

import pytest

from sltsim.studies.cli import run_study, study_parser

REPO = Path(__file__).resolve().parents[2]
SNAPSHOTS = Path(__file__).parent / "snapshots"
STUDIES = ("dying_edges", "recovery", "iterative", "score_ranks", "sanity_checks", "width_scaling",
           "init_effects", "hyperparams")


def snapshot_text(stdout: str, out: Path) -> str:
    """The table lines of a study's stdout, and its last (JSON) line as its length and SHA-256."""
    *tables, rows = stdout.rstrip("\n").split("\n")
    digest = hashlib.sha256(rows.encode()).hexdigest()
    text = "\n".join(tables).replace(str(out), "<OUT>")
    return f"{text}\njson rows: {len(rows)} characters, sha256 {digest}\n"


#: the studies whose records are not kept in git (over 5 MB): computed as their pages' commands do
COMPUTED = ("recovery", "iterative")


def run_on_committed_records(name: str, tmp_path: Path, capsys, entry: str = "module", computed=None) -> str:
    out = tmp_path / name
    out.mkdir()
    committed = REPO / "studies" / "records" / name / f"{name}.jsonl"
    shutil.copy(computed(name) if name in COMPUTED else committed, out)
    module = importlib.import_module(f"sltsim.studies.{name}")
    argv = ["--out", str(out), "--no-progress", "--json"]
    capsys.readouterr()
    if entry == "module":  # what python -m sltsim.studies.NAME runs
        code = run_study(module.main, argv, parser=study_parser(name, module.__doc__))
    else:
        from sltsim.studies.__main__ import main

        code = main([name, *argv])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return snapshot_text(captured.out, out)


@pytest.mark.parametrize("entry", ["module", "entry_point"])
@pytest.mark.parametrize("name", STUDIES)
def test_study_prints_its_snapshot_from_the_committed_records(name, entry, tmp_path, capsys, computed_stores):
    text = run_on_committed_records(name, tmp_path, capsys, entry, computed_stores)
    path = SNAPSHOTS / f"{name}.txt"
    if os.environ.get("SLTSIM_UPDATE_SNAPSHOTS") == "1" and entry == "module":
        path.write_text(text)
    assert text == path.read_text()
