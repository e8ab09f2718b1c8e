"""python -m sltsim.figures: redraws registered figures from stored records only."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sltsim import figures
from sltsim.studies.store import RecordStore

REPO = Path(__file__).resolve().parents[2]
#: every study has its page studies/<name>.md; each must be found without being listed
STUDIES_WITH_PAGES = [p.stem for p in (REPO / "studies").glob("*.md") if p.stem != "README"]


def _draw_demo(records_dir: Path, out_dir: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    records = figures.load_records(records_dir, "demo_study")
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([r["prune_rate"] for r in records], [r["dying_ratio"] for r in records], "o-")
    ax.set_xlabel("prune rate k")
    ax.set_ylabel("dying ratio d_T")
    return figures.save_figure(fig, out_dir / "demo_study.png", formats=("png", "svg"))


@pytest.fixture
def demo(monkeypatch, tmp_path):
    monkeypatch.setitem(figures.FIGURES, "demo_study", _draw_demo)
    store = RecordStore(figures.records_path(tmp_path / "results", "demo_study"))
    for k in (0.2, 0.5, 0.8):
        store.append({"key": f"k{k}", "prune_rate": k, "dying_ratio": k * 0.9})
    return tmp_path


def test_figures_are_redrawn_from_records_and_reproducible(demo, capsys):
    out = demo / "figures"
    assert figures.main(["--records", str(demo / "results"), "--out", str(out), "--study", "demo_study"]) == 0
    written = capsys.readouterr().out.split()
    assert written == [str(out / "demo_study.png"), str(out / "demo_study.svg")]
    first = [Path(p).read_bytes() for p in written]
    assert first[0][:8] == b"\x89PNG\r\n\x1a\n" and b"<svg" in first[1]
    assert figures.main(["--records", str(demo / "results"), "--out", str(out), "--study", "demo_study"]) == 0
    assert [Path(p).read_bytes() for p in capsys.readouterr().out.split()] == first


def test_missing_records_and_unknown_studies_exit_2_with_one_line(demo, capsys):
    empty = demo / "nothing"
    assert figures.main(["--records", str(empty), "--study", "demo_study"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "no records for demo_study at " in err
    assert figures.main(["--study", "no_such_study"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m sltsim.figures: error: no figures registered for study 'no_such_study'; known: ")
    assert "demo_study" in err and len(err.splitlines()) == 1


def test_import_studies_finds_every_study_and_skips_no_broken_module(tmp_path, monkeypatch):
    """The studies are found (every module of the package that defines STUDY), not listed;
    a module that fails to import stops the command instead of being left out."""
    assert figures.import_studies() == sorted(STUDIES_WITH_PAGES)
    assert all(figures.FIGURES[name].__self__.name == name for name in STUDIES_WITH_PAGES)
    monkeypatch.syspath_prepend(str(tmp_path))
    package = tmp_path / "sltsim_demo_broken_studies"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "helper.py").write_text("X = 1\n")  # no STUDY: not a study, but imported
    (package / "broken.py").write_text("import sltsim_no_such_dependency\n")
    with pytest.raises(ModuleNotFoundError, match="sltsim_no_such_dependency"):
        figures.import_studies(["sltsim_demo_broken_studies"])


def test_the_command_runs_as_a_module_and_flags_are_checked():
    out = subprocess.run([sys.executable, "-m", "sltsim.figures", "--help"], capture_output=True, text=True,
                         cwd=REPO, timeout=120)
    assert out.returncode == 0 and "--records" in out.stdout and out.stderr == ""
    out = subprocess.run([sys.executable, "-m", "sltsim.figures", "--bogus"], capture_output=True, text=True,
                         cwd=REPO, timeout=120)
    assert out.returncode == 2 and out.stderr == "python -m sltsim.figures: error: unrecognized arguments: --bogus\n"


def test_by_default_figures_go_beside_their_store_and_the_records_are_where_studies_write(demo, capsys,
                                                                                        monkeypatch):
    from sltsim.studies.cli import study_parser

    records = demo / "results"
    assert figures.main(["--records", str(records), "--study", "demo_study"]) == 0
    assert capsys.readouterr().out.split() == [str(records / "demo_study" / "demo_study.png"),
                                               str(records / "demo_study" / "demo_study.svg")]
    # the default --records is the folder the studies' default preset writes to
    default = figures.build_parser().parse_args([]).records
    for study in ("dying_edges", "iterative"):
        assert figures.records_path(default, study).parent == study_parser(study, None).parse_args([]).out
    assert figures.build_parser().parse_args([]).out is None  # the committed figures/ only when named


def test_a_corrupt_middle_line_exits_2_naming_the_file_and_the_line(demo, capsys):
    path = figures.records_path(demo / "results", "demo_study")
    lines = path.read_bytes().split(b"\n")
    path.write_bytes(b"\n".join([lines[0], b"{not json", *lines[1:]]))
    assert figures.main(["--records", str(demo / "results"), "--out", str(demo / "f"), "--study", "demo_study"]) == 2
    err = capsys.readouterr().err
    assert err == f"python -m sltsim.figures: error: {path}: line 2 is not a JSON record; fix or remove that " \
                  "line (only a last line is repaired)\n"
    assert not (demo / "f").exists()


def test_a_garbage_last_line_is_one_warning_line_and_the_figure_is_drawn(demo, capsys):
    path = figures.records_path(demo / "results", "demo_study")
    with open(path, "ab") as f:
        f.write(b"garbage\n")
    assert figures.main(["--records", str(demo / "results"), "--study", "demo_study"]) == 0
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("python -m sltsim.figures: warning: ")
    assert "line 4" in err and "not a JSON record" in err and "recomputed" not in err
    assert path.read_bytes().endswith(b"garbage\n")  # reading never rewrites a store


def test_a_store_mixing_presets_is_refused(demo, capsys):
    store = RecordStore(figures.records_path(demo / "results", "demo_study"))
    store.append({"key": "q", "prune_rate": 0.3, "dying_ratio": 0.2, "preset": "quick"})
    store.append({"key": "d", "prune_rate": 0.4, "dying_ratio": 0.3, "preset": "default"})
    assert figures.main(["--records", str(demo / "results"), "--study", "demo_study"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "mixes the records of presets default, quick" in err


def test_abbreviated_flags_are_refused():
    out = subprocess.run([sys.executable, "-m", "sltsim.figures", "--rec", "x"], capture_output=True, text=True,
                         cwd=REPO, timeout=120)
    assert out.returncode == 2 and "unrecognized arguments: --rec" in out.stderr


def test_no_records_anywhere_is_one_line(tmp_path, capsys):
    assert figures.main(["--records", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no figure drawn: no study has records under" in err and "skipped" not in err
