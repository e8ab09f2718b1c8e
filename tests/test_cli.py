"""The single-run CLI: the record, bad input (one line, exit 2), divergence (exit 3)."""

import json

import pytest

from sltsim.cli import main


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv, field", [
    (["--prune-rate", "1.2"], "prune_rate"),
    (["--prune-rate", "-0.1"], "prune_rate"),
    (["--method", "magic"], "method"),
    (["--model", "transformer"], "model"),
    (["--model", "mlp:64,x,10"], "model"),
    (["--model", "mlp:64"], "model"),
    (["--data", "imagenet"], "data"),
    (["--epochs", "0"], "epochs"),
    (["--batch-size", "-3"], "batch_size"),
    (["--lr", "-0.1"], "lr"),
    (["--weight-init", "xavier"], "weight_init"),
    (["--epochs", "abc"], "epochs"),
    (["--model", "mlp:32,16,10"], "input width"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, argv, field):
    code, out, err = _run(capsys, *argv, "--no-progress")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert field.replace("_", "") in lines[0].replace("_", "").replace("-", "")
    assert "Traceback" not in err


def test_unknown_name_lists_the_known_ones(capsys):
    code, _, err = _run(capsys, "--method", "magic")
    assert code == 2 and "ep" in err and "'magic'" in err


def test_json_record_is_the_last_line(capsys):
    code, out, _ = _run(capsys, "--model", "mlp:64,32,10", "--epochs", "2", "--json", "--no-progress")
    assert code == 0
    record = json.loads(out.strip().splitlines()[-1])
    for key in ("config", "test_acc", "train_acc", "loss", "dying_ratio", "k_minus_d", "prune_rate", "per_layer"):
        assert key in record
    assert record["config"]["model"] == "mlp:64,32,10"
    assert record["status"] == "ok"
    assert 0.0 <= record["dying_ratio"] <= record["prune_rate"]


def test_divergence_is_recorded_and_exits_nonzero(capsys):
    code, out, err = _run(capsys, "--model", "mlp:64,32,10", "--epochs", "2", "--lr", "1e300", "--json",
                          "--no-progress")
    assert code == 3
    record = json.loads(out.strip().splitlines()[-1])
    assert record["status"] == "diverged" and "NaN or inf" in record["reason"]
    assert "diverged" in err


def test_help_explains_every_flag(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for flag in ("--prune-rate", "--method", "--model", "--data", "--ticket-remaining", "--json"):
        assert flag in out


def test_a_missing_data_extra_is_one_line_and_exit_2(capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "sklearn", None)  # import sklearn now raises ImportError
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    code, _, err = _run(capsys, "--data", "digits", "--epochs", "1", "--no-progress")
    assert code == 2
    assert err.count("\n") == 1 and "pip install -e '.[data]'" in err and "Traceback" not in err
