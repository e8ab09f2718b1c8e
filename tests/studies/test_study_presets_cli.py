"""Presets (TOML, checked key by key) and the shared study flags: bad input exits 2 with one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import sltsim
from sltsim.studies import cli, presets
from sltsim.studies.cli import preset_from_args, run_study, store_path, study_parser
from sltsim.studies.presets import load_preset

REPO = Path(__file__).resolve().parents[2]
ALLOWED = {"prune_rates": list[float], "seeds": int, "methods": list[str], "scale": (int, float)}

GOOD = """
[study]
prune_rates = [0.2, 0.5]
seeds = 3

[config]
model = "mlp:64,16,10"
epochs = 2
lr = 0.05
"""


def _write(tmp_path, text, name="p.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_good_preset_loads_checked(tmp_path):
    path = _write(tmp_path, GOOD)
    preset = load_preset("demo", str(path), ALLOWED)
    assert preset == {"study": {"prune_rates": [0.2, 0.5], "seeds": 3},
                      "config": {"model": "mlp:64,16,10", "epochs": 2, "lr": 0.05}, "path": path}


def test_a_name_resolves_to_the_shipped_presets_folder(tmp_path, monkeypatch):
    assert presets.presets_dir() == Path(sltsim.__file__).resolve().parent / "presets"
    monkeypatch.setattr(presets, "presets_dir", lambda: tmp_path)
    _write(tmp_path, GOOD, "demo.quick.toml")
    _write(tmp_path, "", "demo.paper.toml")
    assert load_preset("demo", "quick", ALLOWED)["study"]["seeds"] == 3
    assert load_preset("demo", "paper", ALLOWED) == {"study": {}, "config": {}, "path": tmp_path / "demo.paper.toml"}
    with pytest.raises(ValueError, match=r"no preset 'huge' for study demo: .*demo.huge.toml does not exist; "
                                         r"known presets: paper, quick$"):
        load_preset("demo", "huge", ALLOWED)


@pytest.mark.parametrize("text, message", [
    ("[study]\nseedz = 3\n", r"unknown key 'seedz' in \[study\] of {path}; known keys: methods, prune_rates, scale, seeds"),
    ("[study]\nseeds = 2.5\n", r"key 'seeds' in \[study\] of {path} must be an integer, got 2.5"),
    ("[study]\nseeds = true\n", r"key 'seeds' in \[study\] of {path} must be an integer, got True"),
    ("[study]\nprune_rates = [0.2, \"x\"]\n", r"key 'prune_rates' in \[study\] of {path} must be a list of numbers"),
    ("[study]\nscale = \"big\"\n", r"key 'scale' in \[study\] of {path} must be an integer or a number"),
    ("[config]\nepoch = 3\n", r"unknown key 'epoch' in \[config\] of {path}; known keys: "),
    ("[config]\nepochs = \"3\"\n", r"key 'epochs' in \[config\] of {path} must be a int, got '3'"),
    ("[config]\nprune_rate = 1.5\n", r"\[config\] of {path}: prune_rate must be in \[0, 1\), got 1.5"),
    ("[grid]\nx = 1\n", r"unknown key 'grid' in {path}; a preset has only the tables \[study\], \[config\]"),
    ("study = 3\n", r"key 'study' in {path} must be a table \[study\], got 3"),
    ("[study\nseeds = 3\n", r"{path}: invalid TOML: "),
])
def test_bad_presets_are_refused_naming_the_key_and_the_file(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(ValueError, match=message.format(path=path)) as e:
        load_preset("demo", str(path), ALLOWED)
    assert "\n" not in str(e.value)


def test_a_missing_preset_file_is_refused(tmp_path):
    with pytest.raises(ValueError, match=f"preset file {tmp_path}/nope.toml does not exist"):
        load_preset("demo", str(tmp_path / "nope.toml"))


def _main(args):
    preset = preset_from_args(args, ALLOWED)
    print(preset["study"]["seeds"], store_path(args))
    return 0


def test_flags_select_the_preset_and_the_store(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(presets, "presets_dir", lambda: tmp_path)
    _write(tmp_path, GOOD, "demo.quick.toml")
    parser = study_parser("demo", "A demo study.\n\nMore text.")
    assert run_study(_main, ["--quick", "--out", str(tmp_path / "r")], parser=parser) == 0
    assert capsys.readouterr().out == f"3 {tmp_path / 'r' / 'demo.jsonl'}\n"
    assert run_study(_main, ["--preset", "quick", "--seeds", "7"], parser=parser) == 0
    # each preset has its own store by default, and the figures go beside it
    assert capsys.readouterr().out == f"7 {Path('results/quick/demo/demo.jsonl')}\n"
    args = parser.parse_args([])
    assert (args.preset, args.workers, args.scheduler, args.json, args.no_progress, args.out, args.figures) == (
        "default", 1, None, False, False, Path("results/default/demo"), Path("results/default/demo"))
    assert parser.parse_args(["--preset", str(tmp_path / "demo.mine.toml")]).out == Path("results/mine/demo")
    assert parser.parse_args(["--out", "o"]).figures == Path("o")
    for action in parser._actions:
        assert action.help, f"{action.option_strings} has no help text"


@pytest.mark.parametrize("argv, message", [
    (["--workers", "0"], "argument --workers: must be a positive integer, got '0'"),
    (["--seeds", "x"], "argument --seeds: must be a positive integer, got 'x'"),
    (["--scheduler", "localhost"], "argument --scheduler: must be an address like tcp://HOST:PORT, got 'localhost'"),
    (["--workers", "2", "--scheduler", "tcp://127.0.0.1:8786"], "argument --scheduler: not allowed with argument --workers"),
    (["--quick", "--preset", "paper"], "argument --preset: not allowed with argument --quick"),
    (["--bogus"], "unrecognized arguments: --bogus"),
])
def test_bad_flags_exit_2_with_one_line(capsys, argv, message):
    with pytest.raises(SystemExit) as e:
        run_study(_main, argv, parser=study_parser("demo", None))
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err == f"python -m sltsim.studies.demo: error: {message}\n"


def test_a_bad_preset_exits_2_with_one_line(tmp_path, capsys):
    path = _write(tmp_path, "[study]\nseedz = 3\n")
    code = run_study(_main, ["--preset", str(path)], parser=study_parser("demo", None))
    assert code == 2
    assert capsys.readouterr().err == (f"python -m sltsim.studies.demo: error: unknown key 'seedz' in [study] of {path}; "
                                       "known keys: methods, prune_rates, scale, seeds\n")


SCRIPT = """
import sys
from sltsim.studies.cli import preset_from_args, run_study, study_parser
def main(args):
    preset_from_args(args, {"seeds": int})
sys.exit(run_study(main, sys.argv[1:], parser=study_parser("demo", "Demo.")))
"""


@pytest.mark.parametrize("make_argv", [
    lambda tmp: ["--preset", str(_write(tmp, "[config]\nepochs = 1.5\n"))],
    lambda tmp: ["--workers", "-1"],
])
def test_a_study_process_exits_2_with_one_stderr_line(tmp_path, make_argv):
    out = subprocess.run([sys.executable, "-c", SCRIPT, *make_argv(tmp_path)], capture_output=True, text=True,
                         cwd=REPO, timeout=120)
    assert out.returncode == 2, out.stderr
    assert len(out.stderr.splitlines()) == 1 and out.stderr.startswith("python -m sltsim.studies.demo: error: ")
    assert "Traceback" not in out.stderr and out.stdout == ""


def test_run_study_without_a_parser_passes_argv_and_maps_errors(capsys):
    def main(argv):
        if argv == ["bad"]:
            raise ValueError("a bad\nvalue")
        return 3

    assert run_study(main, ["ok"]) == 3
    assert run_study(main, ["bad"]) == 2
    assert capsys.readouterr().err.endswith("error: a bad value\n")
    assert cli.EXIT_BAD_INPUT == 2
