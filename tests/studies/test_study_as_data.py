"""A study is data: a module that defines STUDY is found by the one entry point and by the
figures command, with nothing else to edit (no list, no registry, no parser of its own)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sltsim import figures
from sltsim.studies import __main__ as entry
from sltsim.studies.store import RecordStore
from sltsim.studies.study import Study, discover

REPO = Path(__file__).resolve().parents[2]
PACKAGE = "sltsim_tiny_studies"

# the whole of a new study: its module (here in a package of its own) ...
TINY_MODULE = '''
"""Study ``tiny``: test accuracy of EP at two prune rates (a test's study)."""

from pathlib import Path

from sltsim.config import RunConfig
from sltsim.figures import save_figure
from sltsim.studies.aggregate import group_by, mean_std_row, ok_records, pm
from sltsim.studies.study import Study


def grid(preset):
    base = RunConfig.from_dict(preset["config"], source=str(preset["path"]))
    return [base.replace(prune_rate=k, seed=s) for k in preset["study"]["prune_rates"]
            for s in range(preset["study"]["seeds"])]


def table(records):
    groups = group_by(ok_records(records), lambda r: r["config"]["prune_rate"])
    return [{"prune_rate": k, **mean_std_row(g, ("test_acc", "dying_ratio"))} for k, g in sorted(groups.items())]


def format_table(rows, records, preset):
    return "\\n".join(f"k={r['prune_rate']:.2f} seeds={r['seeds']} acc={pm(r, 'test_acc')} d={pm(r, 'dying_ratio')}"
                     for r in rows)


def figures(records, out_dir):
    import matplotlib.pyplot as plt

    rows = table(records)
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([r["prune_rate"] for r in rows], [r["test_acc"] for r in rows], "o-")
    ax.set(xlabel="prune rate k", ylabel="test accuracy")
    return save_figure(fig, Path(out_dir) / "tiny.png")


STUDY = Study(name="tiny", keys={"prune_rates": list[float], "seeds": int}, grid=grid, table=table,
              format=format_table, figures=figures, doc=__doc__)

if __name__ == "__main__":
    import sys

    sys.exit(STUDY.cli(sys.argv[1:]))
'''
# ... and its preset
TINY_PRESET = """
[config]
data = "digits"
model = "mlp:64,16,10"
epochs = 1
batch_size = 256

[study]
prune_rates = [0.3, 0.6]
seeds = 2
"""


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    package = tmp_path / "lib" / PACKAGE
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "tiny.py").write_text(TINY_MODULE)
    (package / "helpers.py").write_text("X = 1\n")  # a module without STUDY is no study
    monkeypatch.syspath_prepend(str(tmp_path / "lib"))
    monkeypatch.setattr(figures, "FIGURES", dict(figures.FIGURES))  # leave the registry as it was
    preset = tmp_path / "tiny.quick.toml"
    preset.write_text(TINY_PRESET)
    yield tmp_path, preset
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
        del sys.modules[name]


def test_a_new_study_runs_through_the_one_entry_point_and_its_figures_are_found(tiny, capsys):
    tmp_path, preset = tiny
    packages = ("sltsim.studies", PACKAGE)
    found = discover(packages)
    assert "tiny" in found and isinstance(found["tiny"], Study) and "helpers" not in found
    assert set(discover()) == set(found) - {"tiny"}  # nothing in sltsim lists it

    out = tmp_path / "records" / "tiny"
    argv = ["tiny", "--preset", str(preset), "--out", str(out), "--no-progress", "--json"]
    assert entry.main(argv, packages=packages) == 0
    printed = capsys.readouterr().out.splitlines()
    records = RecordStore(out / "tiny.jsonl").records()
    assert len(records) == 4 and all(r["status"] == "ok" and r["preset"] == "quick" for r in records)
    rows = json.loads(printed[-1])
    assert [(r["prune_rate"], r["seeds"]) for r in rows] == [(0.3, 2), (0.6, 2)]
    accs = [r["test_acc"] for r in records if r["config"]["prune_rate"] == 0.3]
    assert rows[0]["test_acc"] == pytest.approx(sum(accs) / 2, abs=1e-12)  # the table is the records' mean
    assert printed[0].startswith("k=0.30 seeds=2 acc=") and printed[1].startswith("k=0.60 seeds=2 acc=")
    assert printed[2] == f"figure: {out / 'tiny.png'}" and (out / "tiny.png").is_file()

    # the figures command finds it the same way, and redraws it from the records alone
    assert "tiny" in figures.import_studies(packages)
    redrawn = tmp_path / "redrawn"
    assert figures.main(["--records", str(tmp_path / "records"), "--out", str(redrawn), "--study", "tiny"]) == 0
    assert capsys.readouterr().out.split() == [str(redrawn / "tiny.png")]
    assert (redrawn / "tiny.png").read_bytes() == (out / "tiny.png").read_bytes()

    # its preset keys are checked: one line, exit 2, nothing computed
    bad = tmp_path / "bad.toml"
    bad.write_text(TINY_PRESET.replace("seeds = 2", "seeds = 2\nwidths = [1]"))
    assert entry.main(["tiny", "--preset", str(bad), "--out", str(tmp_path / "b"), "--no-progress"],
                      packages=packages) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("python -m sltsim.studies tiny: error: ") and "'widths'" in err and "\n" not in err
    assert not (tmp_path / "b" / "tiny.jsonl").exists()

    # and its module runs on its own as before, printing the same (the records are reused)
    done = subprocess.run([sys.executable, "-m", f"{PACKAGE}.tiny", *argv[1:]], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300,
                          env=dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path / "lib"), str(REPO)])))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == printed


def test_the_entry_point_names_the_studies_and_refuses_an_unknown_one(capsys):
    assert entry.main([]) == 2
    listing = capsys.readouterr().err
    pages = sorted(p.stem for p in (REPO / "studies").glob("*.md") if p.stem != "README")
    assert [line.split()[0] for line in listing.splitlines() if line.startswith("  ")] == pages
    assert entry.main(["--help"]) == 0
    assert capsys.readouterr().out == listing
    assert entry.main(["no_such_study", "--quick"]) == 2
    err = capsys.readouterr().err
    assert err == f"python -m sltsim.studies: error: unknown study 'no_such_study'; known: {', '.join(pages)}\n"


@pytest.mark.parametrize("name", ["score_ranks", "dying_edges"])
def test_both_entry_points_take_the_same_flags(name):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    old = subprocess.run([sys.executable, "-m", f"sltsim.studies.{name}", "--help"], capture_output=True,
                         text=True, cwd=REPO, env=env, timeout=120)
    new = subprocess.run([sys.executable, "-m", "sltsim.studies", name, "--help"], capture_output=True,
                         text=True, cwd=REPO, env=env, timeout=120)
    assert old.returncode == new.returncode == 0 and old.stderr == new.stderr == ""
    assert "--recompute-stale" in old.stdout
    assert new.stdout.replace(f"python -m sltsim.studies {name}", f"python -m sltsim.studies.{name}") == old.stdout


def test_a_study_must_be_well_formed():
    def f(*args):
        return []

    with pytest.raises(ValueError, match="Study name must be a Python identifier"):
        Study(name="my-study", keys={}, grid=f, table=f, format=f, figures=f)
    with pytest.raises(ValueError, match="Study tiny: table must be callable"):
        Study(name="tiny", keys={}, grid=f, table=None, format=f, figures=f)
