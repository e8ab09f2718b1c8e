"""Bad input, across the single-run CLI and the study CLI: one table of more than 100 cases.

Every case must exit 2 with exactly one stderr line that names what is wrong (the
expected words), print no traceback, and leave no file behind: each runs in an empty
working directory (the default ``results/`` lives there) and the test compares the
files before and after. Cases that need a file (a preset, a store, a checkpoint) write
it first; it is part of the "before".
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sltsim import cli as single_run
from sltsim.config import RunConfig
from sltsim.studies import dying_edges, hyperparams, iterative
from sltsim.studies.cli import run_study, study_parser

#: The planted task that is not the default (a real data set must refuse it).
OTHER_TASK = next(t for t in ("classification", "regression") if t != RunConfig().task)
PLANTED = '[config]\ndata = "planted"\nmodel = "mlp:32,64,10"\nepochs = 1\n'
GOOD_STUDY = '[study]\nprune_rates = [0.5]\nseeds = 1\n\n' + PLANTED


def _file(name: str, text, mode: str = "w"):
    """An argv element: write ``text`` to ``name`` in the working directory, give its path."""
    def make(tmp: Path) -> str:
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text) if isinstance(text, bytes) else path.write_text(text)
        return str(path)
    return make


def _dir(name: str):
    def make(tmp: Path) -> str:
        (tmp / name).mkdir(parents=True, exist_ok=True)
        return str(tmp / name) + ("/" if name.endswith("/") else "")
    return make


def _path(name: str):
    return lambda tmp: str(tmp / name)


def _preset(text: str):
    return ["--preset", _file("p.toml", text)]


SINGLE_RUN = [
    # (argv, words the error line must contain)
    (["--prune-rate", "1.2"], "prune_rate must be in [0, 1), got 1.2"),
    (["--prune-rate", "-0.1"], "prune_rate must be in [0, 1)"),
    (["--prune-rate", "nan"], "prune_rate must be in [0, 1), got nan"),
    (["--prune-rate", "abc"], "argument --prune-rate"),
    (["--prune-rate"], "argument --prune-rate: expected one argument"),
    (["--method", "magic"], "method must be one of"),
    (["--method", ""], "method must be one of"),
    (["--model", "transformer"], "model must be one of"),
    (["--model", ""], "model must be one of"),
    (["--model", "mlp:64,x,10"], "model must look like 'mlp:IN,H1,...,OUT'"),
    (["--model", "mlp:64"], "model must look like"),
    (["--model", "mlp:64,0,10"], "model must look like"),
    (["--model", "mlp:64,-5,10"], "model must look like"),
    (["--model", "mlp:32,16,10"], "input width"),
    (["--model", "mlp:64,16,7"], "output width"),
    (["--data", "imagenet"], "data must be one of"),
    (["--epochs", "0"], "epochs must be a positive integer, got 0"),
    (["--epochs", "-1"], "epochs must be a positive integer"),
    (["--epochs", "abc"], "argument --epochs: invalid int value"),
    (["--epochs", "1.5"], "argument --epochs: invalid int value"),
    (["--batch-size", "-3"], "batch_size must be a positive integer"),
    (["--batch-size", "0"], "batch_size must be a positive integer"),
    (["--lr", "-0.1"], "lr must be a finite number >= 0"),
    (["--lr", "inf"], "lr must be a finite number >= 0, got inf"),
    (["--lr", "nan"], "lr must be a finite number >= 0, got nan"),
    (["--momentum", "1.5"], "momentum must be in [0, 1)"),
    (["--momentum", "-0.1"], "momentum must be in [0, 1)"),
    (["--weight-decay", "-1"], "weight_decay must be a finite number >= 0"),
    (["--weight-decay", "inf"], "weight_decay must be a finite number >= 0"),
    (["--nesterov", "--momentum", "0"], "nesterov must be false when momentum is 0"),
    (["--schedule", "linear"], "schedule must be one of"),
    (["--warmup-epochs", "99"], "warmup_epochs must be an integer in [0, epochs=50]"),
    (["--warmup-epochs", "-1"], "warmup_epochs must be an integer in [0, epochs=50]"),
    (["--seed", "-1"], "seed must be an integer >= 0"),
    (["--weight-init", "xavier"], "weight_init must be one of"),
    (["--score-init", "xavier"], "score_init must be one of"),
    (["--dtype", "float16"], "dtype must be one of float32, float64"),
    (["--backend", "jax"], "backend must be one of numpy, torch"),
    (["--score-bias"], "score_bias needs bias=True"),
    (["--method", "hard-ft", "--cycles", "3", "--shrinkage", "1.5"], "shrinkage must be in (0, 1)"),
    (["--method", "hard-ft", "--cycles", "3", "--shrinkage", "0"], "shrinkage must be in (0, 1)"),
    (["--cycles", "0"], "cycles must be a positive integer"),
    (["--method", "iterand", "--iterand-period", "0"], "iterand_period must be a positive integer"),
    (["--method", "iterand", "--iterand-rate", "2"], "iterand_rate must be in [0, 1]"),
    (["--iterand-period", "5"], "iterand_period applies to method iterand only"),
    (["--iterand-rate", "0.5"], "iterand_rate applies to method iterand only"),
    (["--coats", "0.9"], "coats applies to method multicoat only"),
    (["--method", "multicoat", "--coats", "0.9,0.8"], "coats must be strictly increasing"),
    (["--method", "multicoat", "--coats", "0.3"], "coats must each exceed prune_rate 0.5"),
    (["--method", "multicoat", "--coats", "x,y"], "argument --coats: expected comma-separated numbers"),
    (["--data", "planted", "--model", "mlp:32,64,10", "--plant", "x"], "plant must be one of"),
    (["--data", "planted", "--model", "mlp:32,64,10", "--inputs", "images"], "inputs must be one of"),
    (["--data", "planted", "--model", "mlp:32,64,10", "--task", "ranking"], "task must be one of"),
    (["--data", "planted", "--model", "mlp:32,64,10", "--label-noise", "1.5"], "label_noise must be in [0, 1]"),
    (["--data", "planted", "--model", "mlp:32,64,10", "--ticket-width", "0"], "ticket_width must be in (0, 1]"),
    (["--data", "planted", "--model", "mlp:32,64,10", "--ticket-remaining", "1.5"], "ticket_remaining must be in (0, 1]"),
    (["--data", "planted", "--model", "mlp:32,64,10", "--ticket-remaining", "0.9"],
     "ticket_remaining 0.9"),
    (["--data", "planted", "--model", "mlp:32,64,10", "--n-train", "0"], "n_train must be a positive integer"),
    # planted-target fields on a real data set would be ignored: refused
    (["--label-noise", "0.9"], "label_noise applies to data planted only, got label_noise=0.9 with data digits"),
    (["--plant", "neuron"], "plant applies to data planted only"),
    (["--task", OTHER_TASK], "task applies to data planted only"),
    (["--ticket-remaining", "0.1"], "ticket_remaining applies to data planted only"),
    (["--ticket-width", "0.5"], "ticket_width applies to data planted only"),
    (["--inputs", "digits"], "inputs applies to data planted only"),
    (["--n-train", "100"], "n_train applies to data planted only, got n_train=100 with data digits"),
    (["--n-test", "100"], "n_test applies to data planted only"),
    (["--data", "mnist1d", "--model", "mlp:40,16,10", "--label-noise", "0.2"], "label_noise applies to data planted only"),
    (["--backend", "torch", "--n-train", "10"], "n_train applies to data planted only"),
    # too big for memory: refused before anything is allocated
    (["--data", "planted", "--model", "mlp:100000,100000,10"], "model mlp:100000,100000,10 needs at least"),
    (["--model", "mlp:64,100000,100000,10"], "more than this machine's"),
    # the torch backend and its operational fields
    (["--random-labels", "--backend", "torch"], "random_labels needs backend numpy"),
    (["--device", "cuda"], "device cuda needs backend torch"),
    (["--device", "tpu"], "device must be cpu, cuda or cuda:N"),
    (["--loader-workers", "2"], "loader_workers needs backend torch"),
    (["--checkpoint", "x.pt"], "checkpoint needs backend torch"),
    (["--data-dir", "data"], "data_dir needs backend torch"),
    (["--backend", "torch", "--resume"], "resume needs --checkpoint"),
    (["--backend", "torch", "--checkpoint", _dir("ck")], "is a directory; give the path of a file"),
    (["--backend", "torch", "--checkpoint", lambda tmp: _file("f", "x")(tmp) + "/run.pt"], "is not a directory"),
    (["--backend", "torch", "--checkpoint", _file("junk.pt", b"\x00garbage" * 100), "--resume"],
     "cannot be read"),
    (["--backend", "torch", "--data", "cifar10"], "data_dir must name the local directory"),
    (["--backend", "torch", "--model", "transformer"], "with backend torch"),
    (["--backend", "torch", "--download"], "download only fetches"),
    (["--bogus"], "unrecognized arguments: --bogus"),
    (["--nesterov=3"], "ignored explicit argument"),
]

STUDY = [
    # (study module, argv, words)
    (dying_edges, ["--workers", "0"], "argument --workers: must be a positive integer, got '0'"),
    (dying_edges, ["--workers", "-1"], "argument --workers: must be a positive integer"),
    (dying_edges, ["--workers", "x"], "argument --workers: must be a positive integer, got 'x'"),
    (dying_edges, ["--seeds", "0"], "argument --seeds: must be a positive integer, got '0'"),
    (dying_edges, ["--seeds", "x"], "argument --seeds: must be a positive integer"),
    (dying_edges, ["--seeds", "1000000000"], "argument --seeds: must be at most 1000"),
    (dying_edges, ["--seed", "3"], "unrecognized arguments: --seed 3"),
    (dying_edges, ["--work", "2"], "unrecognized arguments: --work 2"),
    (dying_edges, ["--scheduler", "localhost"], "must be an address like tcp://HOST:PORT"),
    (dying_edges, ["--workers", "2", "--scheduler", "tcp://127.0.0.1:8786"], "not allowed with argument --workers"),
    (dying_edges, ["--quick", "--preset", "paper"], "argument --preset: not allowed with argument --quick"),
    (dying_edges, ["--bogus"], "unrecognized arguments: --bogus"),
    (dying_edges, ["--preset", "huge"], "no preset 'huge' for study dying_edges"),
    (dying_edges, ["--preset", _path("nope.toml")], "does not exist"),
    (dying_edges, ["--preset", _dir("presets/")], "is a folder; give a TOML file"),
    (dying_edges, ["--preset", _file("u.toml", b"[study]\nseeds = 2\n# \xff\xfe\n")], "not UTF-8 text"),
    (dying_edges, _preset("[study\nseeds = 3\n"), "invalid TOML"),
    (dying_edges, _preset("[study]\nprune_rates = [0.5]\n" + PLANTED), "must set seeds = N"),
    (dying_edges, _preset("[study]\nprune_rates = [0.5]\nseeds = 0\n" + PLANTED), "must be an integer from 1 to 1000, got 0"),
    (dying_edges, _preset("[study]\nprune_rates = [0.5]\nseeds = -3\n" + PLANTED), "from 1 to 1000, got -3"),
    (dying_edges, _preset("[study]\nprune_rates = [0.5]\nseeds = 1000000\n" + PLANTED), "got 1000000"),
    (dying_edges, _preset("[study]\nprune_rates = [0.5]\nseeds = 2.5\n"), "key 'seeds' in [study]"),
    (dying_edges, _preset("[study]\nprune_rates = [0.5]\nseeds = true\n"), "must be an integer, got True"),
    (dying_edges, _preset('[study]\nprune_rates = [0.5]\nseeds = "4"\n'), "must be an integer, got '4'"),
    (dying_edges, _preset("[study]\nprune_rates = []\nseeds = 2\n" + PLANTED), "key 'prune_rates' in [study]"),
    (dying_edges, _preset("[study]\nprune_rates = [0.5]\nmodels = []\nseeds = 2\n" + PLANTED), "must hold at least one value"),
    (dying_edges, _preset('[study]\nprune_rates = [0.2, "x"]\nseeds = 2\n'), "must be a list of numbers"),
    (dying_edges, _preset("[study]\nprune_rates = [1.5]\nseeds = 2\n" + PLANTED), "prune_rate must be in [0, 1), got 1.5"),
    (dying_edges, _preset("[study]\nseedz = 3\n"), "unknown key 'seedz' in [study]"),
    (dying_edges, _preset("[grid]\nx = 1\n"), "unknown key 'grid'"),
    (dying_edges, _preset("study = 3\n"), "must be a table [study]"),
    (dying_edges, _preset("[study]\nseeds = 1\nprune_rates = [0.5]\n[config]\nepoch = 3\n"), "unknown key 'epoch' in [config]"),
    (dying_edges, _preset('[study]\nseeds = 1\nprune_rates = [0.5]\n[config]\nepochs = "3"\n'), "key 'epochs' in [config]"),
    (dying_edges, _preset("[study]\nseeds = 1\nprune_rates = [0.5]\n[config]\nepochs = 1.5\n"), "key 'epochs' in [config]"),
    (dying_edges, _preset("[study]\nseeds = 1\nprune_rates = [0.5]\n[config]\nprune_rate = 1.5\n"), "prune_rate must be in [0, 1)"),
    (dying_edges, _preset("[study]\nseeds = 1\nprune_rates = [0.5]\n[config]\nlr = -1\n"), "lr must be a finite number >= 0"),
    (dying_edges, _preset('[study]\nseeds = 1\nprune_rates = [0.5]\n[config]\nbackend = "jax"\n'), "backend must be one of"),
    (dying_edges, _preset('[study]\nseeds = 1\nprune_rates = [0.5]\n[config]\nmodel = "mlp:64,x"\n'), "model must look like"),
    (dying_edges, _preset("[study]\nseeds = 1\nprune_rates = [0.5]\n[config]\ncoats = [0.9]\n"), "coats applies to method multicoat only"),
    (dying_edges, _preset('[study]\nseeds = 1\nprune_rates = [0.5]\n[config]\ndata = "digits"\nlabel_noise = 0.5\n'),
     "label_noise applies to data planted only"),
    (dying_edges, _preset('[study]\nseeds = 1\nprune_rates = [0.5]\n[config]\nn_train = 500\n'), "n_train applies to data planted only"),
    (dying_edges, _preset('[study]\nseeds = 1\nprune_rates = [0.5]\n[config]\ndata = "planted"\nmodel = "mlp:100000,100000,10"\n'),
     "needs at least"),
    (dying_edges, _preset('[study]\nseeds = 1\nprune_rates = [0.5]\n[config]\ndata = "planted"\nmodel = "mlp:32,64,10"\n'
                          "ticket_remaining = 0.9\n"), "ticket_remaining 0.9"),
    (dying_edges, _preset("[study]\nseeds = 1\nprune_rates = [0.5]\n[config]\nmomentum = [0.9]\n"), "key 'momentum' in [config]"),
    # unusable outputs, found before the first cell
    (dying_edges, _preset(GOOD_STUDY) + ["--out", _file("afile", "x")], "--out"),
    (dying_edges, _preset(GOOD_STUDY) + ["--out", lambda tmp: _file("afile", "x")(tmp) + "/sub"], "cannot be created"),
    (dying_edges, _preset(GOOD_STUDY) + ["--out", _dir("o"), "--figures", _file("figs", "x")], "--figures"),
    (dying_edges, _preset(GOOD_STUDY) + ["--out", lambda tmp: _dir("o2/dying_edges.jsonl")(tmp)[:-len("/dying_edges.jsonl")]],
     "is a folder, not a file"),
    (dying_edges, _preset(GOOD_STUDY) + ["--out", lambda tmp: str(Path(_file("o3/dying_edges.jsonl", '{"key": "a"}\nnot json\n{"key": "b"}\n')(tmp)).parent)],
     "line 2 is not a JSON record"),
    (dying_edges, _preset(GOOD_STUDY) + ["--out", lambda tmp: str(Path(_file("o4/dying_edges.jsonl", '{"key": "a", "preset": "quick"}\n')(tmp)).parent)],
     "holds records of preset quick, not of p"),
    # other studies' own [study] tables
    (hyperparams, _preset("[study]\nlrs = [0.1]\nseeds = 1\n[study.datasets.imagenet]\nmodel = \"mlp:64,16,10\"\n"),
     "unknown data set 'imagenet'"),
    (hyperparams, _preset("[study]\nlrs = [0.1]\nseeds = 1\ndatasets = {}\n"), "must hold at least one value"),
    (hyperparams, _preset("[study]\nlrs = [-0.1]\nseeds = 1\n[study.datasets.digits]\nmodel = \"mlp:64,16,10\"\n"),
     "lr must be a finite number >= 0"),
    (hyperparams, _preset("[study]\nlrs = [0.1]\n[study.datasets.digits]\nmodel = \"mlp:64,16,10\"\n"), "must set seeds = N"),
    (iterative, _preset("[study]\nmethods = []\nseeds = 1\n"), "key 'methods' in [study]"),
    (iterative, _preset("[study]\nmethods = [\"ep\"]\nseeds = 0\n"), "from 1 to 1000, got 0"),
]


def _argv(items, tmp: Path) -> list[str]:
    return [item(tmp) if callable(item) else item for item in items]


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _check(capsys, tmp, before, code, words):
    out, err = capsys.readouterr()
    assert code == 2, err
    lines = err.strip("\n").splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and "Traceback" not in out
    assert words in lines[0], lines[0]
    assert _files(tmp) == before, "files left behind"


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


@pytest.mark.parametrize("argv, words", SINGLE_RUN, ids=[" ".join(a if isinstance(a, str) else "<path>" for a in c[0])
                                                          for c in SINGLE_RUN])
def test_single_run_bad_input(workdir, capsys, argv, words):
    argv = _argv(argv, workdir)
    before = _files(workdir)
    code = single_run.main([*argv, "--no-progress"])
    _check(capsys, workdir, before, code, words)


@pytest.mark.parametrize("module, argv, words", STUDY,
                         ids=[f"{c[0].NAME} " + " ".join(a if isinstance(a, str) else "<path>" for a in c[1])
                              for c in STUDY])
def test_study_bad_input(workdir, capsys, module, argv, words):
    argv = _argv(argv, workdir)
    before = _files(workdir)
    try:
        code = run_study(module.main, [*argv, "--no-progress"], parser=study_parser(module.NAME, module.__doc__))
    except SystemExit as e:  # argparse: one line already printed
        code = e.code
    _check(capsys, workdir, before, code, words)


def test_the_table_is_large():
    assert len(SINGLE_RUN) + len(STUDY) >= 100


def test_a_study_process_with_a_bad_flag_is_one_line(workdir):
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-m", "sltsim.studies.dying_edges", "--seed", "3"], capture_output=True,
                          text=True, cwd=workdir, env=dict(os.environ, PYTHONPATH=str(repo)), timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == "python -m sltsim.studies.dying_edges: error: unrecognized arguments: --seed 3\n"
    assert _files(workdir) == set()
