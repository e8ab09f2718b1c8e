"""The single run as a researcher scripts it: --config with flag overrides, --out store,
--save-ticket, --version, grouped --help, Ctrl-C, and the Python API ``sltsim.run``."""

import dataclasses
import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import sltsim
from sltsim import RunConfig, run
from sltsim.cli import FALLBACK_GROUP, FIELD_GROUPS, GROUPS, HELP, main
from sltsim.studies.store import RecordStore, strip_timing
from tests.naive import naive_keep_count

REPO = Path(__file__).resolve().parents[1]
SMALL = ["--model", "mlp:64,32,10", "--epochs", "2", "--no-progress"]


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _record(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def test_config_file_is_read_and_flags_override_it(capsys, tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('model = "mlp:64,32,10"\nepochs = 2\nprune_rate = 0.7\nlr = 0.2\n')
    code, out, _ = _run(capsys, "--config", str(path), "--prune-rate", "0.6", "--json", "--no-progress")
    assert code == 0
    from_file = _record(out)
    assert from_file["config"]["prune_rate"] == 0.6  # the flag wins
    assert from_file["config"]["lr"] == 0.2 and from_file["config"]["epochs"] == 2  # the file's values
    code, out, _ = _run(capsys, *SMALL, "--prune-rate", "0.6", "--lr", "0.2", "--json")
    assert code == 0
    assert strip_timing(_record(out)) == strip_timing(from_file)  # the same run, bit for bit
    # a flag that names the default value still overrides the file
    code, out, _ = _run(capsys, "--config", str(path), "--lr", "0.1", "--epochs", "1", "--json", "--no-progress")
    assert code == 0 and _record(out)["config"]["lr"] == 0.1 and _record(out)["config"]["prune_rate"] == 0.7


@pytest.mark.parametrize("text, words", [
    ('prune_rat = 0.5\n', ["prune_rat", "run.toml", "known keys"]),
    ('epochs = "ten"\n', ["epochs", "int", "'ten'"]),
    ('prune_rate = 1.5\n', ["prune_rate", "1.5", "[0, 1)"]),
    ('prune_rate = \n', ["run.toml", "not valid TOML"]),
    ('[run]\nprune_rate = 0.5\n', ["run.toml", "tables are not allowed", "[run]"]),
])
def test_a_bad_config_file_is_one_line_and_exit_2(capsys, tmp_path, text, words):
    path = tmp_path / "run.toml"
    path.write_text(text)
    code, out, err = _run(capsys, "--config", str(path), "--no-progress")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1, err
    for word in words:
        assert word in err, (word, err)


def test_a_missing_config_file_is_one_line_and_exit_2(capsys, tmp_path):
    code, _, err = _run(capsys, "--config", str(tmp_path / "none.toml"))
    assert code == 2 and err.count("\n") == 1 and "does not exist" in err


def test_out_appends_records_like_a_study_store(capsys, tmp_path):
    store = tmp_path / "runs" / "single.jsonl"
    for k in ("0.5", "0.7"):
        code, out, err = _run(capsys, *SMALL, "--prune-rate", k, "--out", str(store), "--json")
        assert code == 0 and str(store) in err
    records = RecordStore(store).records()
    assert [r["config"]["prune_rate"] for r in records] == [0.5, 0.7]
    assert records[1] == json.loads(json.dumps(_record(out)))  # what was printed is what was stored
    assert records[0]["key"] == RunConfig(model="mlp:64,32,10", epochs=2, prune_rate=0.5).key()
    from sltsim.provenance import code_fingerprint

    assert all(r["provenance"]["code"] == code_fingerprint() for r in records)  # as a study's records


@pytest.mark.parametrize("flag, make, words", [
    ("--out", lambda p: p.mkdir() or p, ["out", "is a directory"]),
    ("--out", lambda p: (p.write_text("x"), p / "store.jsonl")[1], ["out", "is not a folder"]),
    ("--save-ticket", lambda p: p.with_suffix(".txt"), ["save_ticket", ".npz"]),
    ("--save-ticket", lambda p: p / "missing" / "t.npz", ["save_ticket", "does not exist"]),
])
def test_an_unusable_output_path_is_refused_before_the_run(capsys, monkeypatch, tmp_path, flag, make, words):
    import sltsim.search

    def no_search(*args, **kwargs):
        raise AssertionError("the search ran before the output path was refused")

    monkeypatch.setattr(sltsim.search, "_run_search", no_search)  # refused up front, not after the run
    target = make(tmp_path / "target")
    code, out, err = _run(capsys, "--model", "mlp:64,32,10", "--epochs", "50", "--no-progress", flag, str(target))
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    for word in words:
        assert word in err


def test_save_ticket_holds_the_masks_scores_and_weights_that_give_the_recorded_accuracy(capsys, tmp_path):
    from sltsim.search.numpy_backend import build_search

    path = tmp_path / "ticket.npz"
    code, out, _ = _run(capsys, *SMALL, "--prune-rate", "0.7", "--save-ticket", str(path), "--json")
    assert code == 0
    record = _record(out)
    ticket = np.load(path, allow_pickle=False)
    config = RunConfig.from_dict(json.loads(str(ticket["config"])))
    assert config == RunConfig(model="mlp:64,32,10", epochs=2, prune_rate=0.7)
    assert json.loads(str(ticket["record"]))["key"] == record["key"]
    names = json.loads(str(ticket["searched"]))
    assert names == ["fc1.weight", "fc2.weight"]
    weights = []
    for name in names:
        mask, score = ticket[f"mask/{name}"], ticket[f"score/{name}"]
        weight, effective = ticket[f"weight/{name}"], ticket[f"effective/{name}"]
        assert mask.dtype == np.uint8 and mask.shape == score.shape == weight.shape
        assert int(mask.sum()) == naive_keep_count(mask.size, 0.7)
        magnitude = np.abs(score)
        assert magnitude[mask == 1].min() >= magnitude[mask == 0].max()  # the top-(1-k) of |s|
        np.testing.assert_array_equal(effective, mask * weight)
        weights.append(effective)
    # an independent forward pass (x -> relu(x W1^T) -> W2^T) with the saved weights
    data = build_search(config).data
    hidden = np.maximum(data.X_test @ weights[0].T, 0)
    accuracy = float(np.mean(np.argmax(hidden @ weights[1].T, axis=1) == data.y_test))
    assert abs(accuracy - record["test_acc"]) <= 1.0 / len(data.y_test)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_a_multicoat_ticket_saves_the_coat_counts_in_its_effective_weights(capsys, tmp_path, backend):
    if backend == "torch":
        pytest.importorskip("torch", reason="the torch extra is not installed")

    path = tmp_path / "ticket.npz"
    code, _, _ = _run(capsys, *SMALL, "--backend", backend, "--method", "multicoat", "--prune-rate", "0.5",
                      "--coats", "0.75", "--save-ticket", str(path))
    assert code == 0
    ticket = np.load(path, allow_pickle=False)
    for name in json.loads(str(ticket["searched"])):
        mask, weight, effective = ticket[f"mask/{name}"], ticket[f"weight/{name}"], ticket[f"effective/{name}"]
        coats = np.rint(np.divide(effective, weight, out=np.zeros_like(effective), where=weight != 0))
        np.testing.assert_array_equal(effective, coats * weight)
        assert set(np.unique(coats)) <= {0.0, 1.0, 2.0}
        np.testing.assert_array_equal(coats > 0, mask == 1)  # the outer coat is the mask
        assert int((coats == 2).sum()) == naive_keep_count(mask.size, 0.75)  # the inner coat


def test_save_ticket_on_the_torch_backend(capsys, tmp_path):
    pytest.importorskip("torch", reason="the torch extra is not installed")
    from sltsim.search.numpy_backend import build_search

    path = tmp_path / "ticket.npz"
    code, out, _ = _run(capsys, *SMALL, "--backend", "torch", "--prune-rate", "0.7", "--save-ticket", str(path),
                        "--json")
    assert code == 0
    record = _record(out)
    ticket = np.load(path, allow_pickle=False)
    assert json.loads(str(ticket["config"]))["backend"] == "torch"
    names = json.loads(str(ticket["searched"]))
    assert names == ["fc1.weight", "fc2.weight"]
    weights = []
    for name in names:
        mask, score, weight = ticket[f"mask/{name}"], ticket[f"score/{name}"], ticket[f"weight/{name}"]
        assert mask.dtype == np.uint8 and int(mask.sum()) == naive_keep_count(mask.size, 0.7)
        assert np.abs(score)[mask == 1].min() >= np.abs(score)[mask == 0].max()
        np.testing.assert_array_equal(ticket[f"effective/{name}"], mask * weight)
        weights.append(ticket[f"effective/{name}"])
    data = build_search(RunConfig(model="mlp:64,32,10", epochs=2, prune_rate=0.7)).data  # the same digits split
    hidden = np.maximum(data.X_test @ weights[0].T, 0)
    accuracy = float(np.mean(np.argmax(hidden @ weights[1].T, axis=1) == data.y_test))
    assert abs(accuracy - record["test_acc"]) <= 1.0 / len(data.y_test)


def test_no_ticket_is_written_for_a_diverged_run(capsys, tmp_path):
    path = tmp_path / "ticket.npz"
    code, _, _ = _run(capsys, *SMALL, "--lr", "1e300", "--save-ticket", str(path))
    assert code == 3 and not path.exists() and list(tmp_path.iterdir()) == []


def test_version_names_the_package_version(capsys):
    code, out, _ = _run(capsys, "--version")
    assert code == 0 and out == f"sltsim {sltsim.__version__}\n"


def test_every_config_field_has_a_help_text_and_a_group():
    """New RunConfig fields must carry a help text and a group in their metadata (sltsim.config.base.opt)."""
    names = [f.name for f in dataclasses.fields(RunConfig)]
    assert [n for n in names if n not in HELP] == []
    assert [n for n in names if FIELD_GROUPS.get(n) not in GROUPS] == []


def test_help_groups_the_flags_and_shows_the_choices(capsys):
    from sltsim.search import METHODS

    code, out, _ = _run(capsys, "--help")
    assert code == 0
    headings = [line.rstrip(":") for line in out.splitlines() if line.endswith(":") and not line.startswith(" ")]
    assert [h for h in headings if h in GROUPS] == list(GROUPS)
    assert FALLBACK_GROUP not in headings
    sections = {}
    for line in out.splitlines():
        if line.rstrip(":") in GROUPS:
            current = line.rstrip(":")
        elif line.startswith("  --"):
            sections[line.split()[0].split(",")[0]] = current
    for f in dataclasses.fields(RunConfig):
        assert sections.get("--" + f.name.replace("_", "-")) == FIELD_GROUPS[f.name], f.name
    assert "{" + ",".join(METHODS) + "}" in out
    assert "{subnetwork,neuron}" in out
    words = " ".join(out.split())
    assert "MASKED" in words and "fraction KEPT" in words  # the warning about hidden-networks' prune-rate


def test_a_flag_abbreviation_is_refused(capsys):
    code, _, err = _run(capsys, "--prune", "0.5", "--no-progress")
    assert code == 2 and "unrecognized arguments: --prune" in err


def test_python_api_run_is_the_cli_run(capsys, tmp_path):
    code, out, _ = _run(capsys, *SMALL, "--method", "soft-lr", "--cycles", "2", "--shrinkage", "0.5", "--json")
    assert code == 0
    config = RunConfig(method="soft-lr", model="mlp:64,32,10", epochs=2, cycles=2, shrinkage=0.5)
    assert strip_timing(json.loads(json.dumps(run(config)))) == strip_timing(_record(out))
    as_dict = run({"model": "mlp:64,32,10", "epochs": 2, "prune_rate": 0.7}, save_ticket=tmp_path / "t.npz")
    assert as_dict["status"] == "ok" and (tmp_path / "t.npz").exists()


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_ctrl_c_is_one_line_and_exit_130(tmp_path, backend):
    extra, said = [], ""
    if backend == "torch":
        pytest.importorskip("torch", reason="the torch extra is not installed")
        extra = ["--backend", "torch", "--checkpoint", str(tmp_path / "run.ckpt")]
        said = f"; the checkpoint {tmp_path / 'run.ckpt'} holds the last finished epoch (--resume continues from it)"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    out_store = tmp_path / "runs.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "sltsim", "--model", "mlp:64,32,10", "--epochs", "100000",
                             "--out", str(out_store), *extra], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # wait for the progress bar: the run is in its epoch loop. select bounds each wait by
        # the deadline, so a child that hangs without a word fails the test instead of blocking it
        seen = b""
        deadline = time.monotonic() + 120
        while b"dying=" not in seen:
            left = deadline - time.monotonic()
            assert left > 0, f"no progress bar within 120 s: {seen[-500:]!r}"
            ready, _, _ = select.select([proc.stderr], [], [], left)
            if ready:
                chunk = os.read(proc.stderr.fileno(), 4096)
                assert chunk, f"the run ended before its progress bar (exit {proc.wait()}): {seen[-500:]!r}"
                seen += chunk
        while backend == "torch" and not (tmp_path / "run.ckpt").exists() and time.monotonic() < deadline:
            time.sleep(0.05)  # the first epoch's checkpoint is on disk
        proc.send_signal(signal.SIGINT)
        rest_out, rest_err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = (seen + rest_err).decode(errors="replace")
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    last = [line for line in err.replace("\r", "\n").splitlines() if line.strip()][-1]
    assert last == "python -m sltsim: interrupted (Ctrl-C); no record or ticket was written" + said
    assert rest_out == b"" and not out_store.exists()
    if backend == "torch":  # the checkpoint the message names survives
        assert (tmp_path / "run.ckpt").is_file()


def test_the_summary_leaves_out_what_the_run_does_not_define(capsys):
    """On a regression target accuracy is NaN in the record: the summary omits it, and prints the rest."""
    code, out, _ = _run(capsys, "--data", "planted", "--task", "regression", "--model", "mlp:32,64,10",
                        "--epochs", "1", "--no-progress")
    assert code == 0
    names = [line.split()[0] for line in out.splitlines()[1:]]
    assert "test_acc" not in names and "nan" not in out
    assert {"loss", "dying_ratio", "false_negative_dying", "true_negative_dying", "recall"} <= set(names)


def test_an_init_flag_the_method_would_replace_is_refused(capsys):
    # EP's default score init reads as "unset", so iterand would swap in its own without a word
    code, out, err = _run(capsys, "--method", "iterand", "--score-init", "kaiming_uniform", *SMALL)
    assert code == 2 and "no-method-inits" in err and len(err.strip().splitlines()) == 1
    code, out, err = _run(capsys, "--method", "iterand", "--score-init", "kaiming_uniform", "--no-method-inits",
                          *SMALL, "--json")
    assert code == 0 and _record(out)["config"]["score_init"] == "kaiming_uniform"
    code, out, err = _run(capsys, "--method", "iterand", *SMALL, "--json")  # not given: the method's own
    assert code == 0 and _record(out)["config"]["score_init"] == "kaiming_uniform_relu"
