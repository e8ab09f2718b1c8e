"""The init_effects, hyperparams and width_scaling studies: end to end on tiny presets, and
their tables on synthetic records."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from sltsim import figures
from sltsim.config import RunConfig
from sltsim.studies import hyperparams, init_effects, width_scaling
from sltsim.studies.aggregate import dataset_configs, mean_std, pm, slope
from sltsim.studies.cli import run_study, study_parser
from sltsim.studies.columns import derived
from sltsim.studies.store import RecordStore

DATASETS = """
[study.datasets.digits]
model = "mlp:64,16,16,10"

[study.datasets.planted]
model = "mlp:32,32,32,10"
n_train = 200
n_test = 100
task = "classification"

[config]
prune_rate = 0.7
epochs = 1
batch_size = 64
"""

PRESETS = {
    init_effects: """[study]
weight_inits = ["signed_kaiming_constant", "scaled_signed_constant"]
score_inits = ["kaiming_uniform", "signed_constant"]
seeds = 1
""",
    hyperparams: """[study]
lrs = [0.05, 0.1]
batch_sizes = [32, 64]
weight_decays = [0.0, 5e-4]
seeds = 1
""",
    width_scaling: """[study]
widths = [24, 32]
cycles = 2
seeds = 1
""",
}
FIGURES = {init_effects: ["init_effects", "init_effects_planted"], hyperparams: ["hyperparams"],
           width_scaling: ["width_scaling"]}
TABLE_HEADS = {init_effects: "weight init theta0", hyperparams: "factor", width_scaling: "gain vs EP"}


def _run(module, argv):
    return run_study(module.main, argv, parser=study_parser(module.NAME, module.__doc__))


@pytest.mark.parametrize("module", [init_effects, hyperparams, width_scaling], ids=lambda m: m.NAME)
def test_study_runs_end_to_end_and_a_rerun_computes_nothing(module, tmp_path, capsys, monkeypatch):
    preset = tmp_path / "tiny.toml"
    preset.write_text(PRESETS[module] + DATASETS)
    out, figs = tmp_path / "records" / module.NAME, tmp_path / "figures"
    argv = ["--preset", str(preset), "--out", str(out), "--figures", str(figs), "--no-progress", "--json"]
    calls = []
    real = module.STUDY.cell
    counted = dataclasses.replace(module.STUDY, cell=lambda config: calls.append(config.key()) or real(config))
    monkeypatch.setattr(module, "main", counted.main)

    assert _run(module, argv) == 0
    printed = capsys.readouterr().out
    assert TABLE_HEADS[module] in printed and "verdict digits" in printed and "verdict planted" in printed
    rows = json.loads(printed.splitlines()[-1])
    assert {r["data"] for r in rows} == {"digits", "planted"}
    store = out / f"{module.NAME}.jsonl"
    records = RecordStore(store).records()
    assert len(calls) == len(records) == len(set(calls)) > 0
    assert all(r["status"] == "ok" for r in records)
    drawn = {p: p.read_bytes() for name in FIGURES[module] for p in (figs / f"{name}.png", figs / f"{name}.svg")}
    assert all(data for data in drawn.values())

    calls.clear()
    assert _run(module, argv) == 0
    assert calls == [] and RecordStore(store).records() == records
    assert capsys.readouterr().out == printed

    redrawn = tmp_path / "redrawn"
    assert figures.main(["--records", str(tmp_path / "records"), "--out", str(redrawn), "--study", module.NAME]) == 0
    assert {p.name: b for p, b in drawn.items()} == {p.name: p.read_bytes() for p in redrawn.iterdir()}


def test_a_preset_with_an_unknown_data_set_exits_2_naming_the_table(tmp_path, capsys):
    preset = tmp_path / "bad.toml"
    preset.write_text(PRESETS[init_effects] + "[study.datasets.cifar]\nmodel = \"mlp:64,16,10\"\n")
    assert _run(init_effects, ["--preset", str(preset), "--out", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and f"[study.datasets.cifar] of {preset}: unknown data set 'cifar'" in err


def test_dataset_configs_apply_overrides_and_refuse_a_data_key(tmp_path):
    preset = {"study": {"datasets": {"digits": {"model": "mlp:64,8,10"}, "planted": {"n_train": 300}}},
              "config": {"epochs": 3}, "path": tmp_path / "p.toml"}
    configs = dataset_configs(preset)
    assert configs["digits"] == RunConfig(data="digits", model="mlp:64,8,10", epochs=3)
    assert configs["planted"] == RunConfig(data="planted", n_train=300, epochs=3)
    preset["study"]["datasets"]["digits"]["data"] = "planted"
    with pytest.raises(ValueError, match=r"\[study.datasets.digits\] of .*p.toml: the table's name is its data set"):
        dataset_configs(preset)


def test_mean_std_slope_and_pm():
    assert mean_std([1.0, None, 3.0, float("nan")]) == (2.0, pytest.approx(math.sqrt(2)))
    assert mean_std([5.0]) == (5.0, 0.0) and all(math.isnan(v) for v in mean_std([]))
    x = np.log2([16, 16, 32, 32, 64, 64])
    b, se = slope(x, 0.5 * x + np.array([0.01, -0.01, 0.02, -0.02, 0.01, -0.01]))
    assert b == pytest.approx(0.5) and 0 < se < 0.02
    assert pm({"a": -0.25, "a_std": 0.125}, "a", "+.3f") == "-0.250±0.125" and pm({"a": None}, "a") == "-"


def _record(seed=0, **fields):
    metrics = {k: fields.pop(k) for k in list(fields) if k not in RunConfig.__dataclass_fields__}
    config = RunConfig(seed=seed, **fields)
    return {"key": config.key(), "config": config.to_dict(), "status": "ok", "prune_rate": config.prune_rate,
            **metrics}


def test_init_effects_table_means_default_paper_rows_and_verdict():
    recs = []
    for seed, (acc_default, acc_scaled) in enumerate([(0.80, 0.90), (0.84, 0.94)]):
        common = dict(data="planted", task="classification", prune_rate=0.7, seed=seed, sub_budget_ticket=True)
        recs.append(_record(**common, test_acc=acc_default, dying_ratio=0.60, false_negative_dying=0.06,
                            true_negative_dying=0.54))
        recs.append(_record(**common, weight_init="scaled_signed_constant", test_acc=acc_scaled,
                            dying_ratio=0.50 + 0.01 * seed, false_negative_dying=0.05,
                            true_negative_dying=0.45 + 0.01 * seed))
    for r in recs:
        r["ticket_remaining"] = 0.1  # the record's measured |P| / n
    recs.append({**recs[0], "status": "diverged", "test_acc": 0.0})  # a diverged cell is left out
    rows = init_effects.table(recs)
    assert [(r["weight_init"], r["score_init"], r["seeds"]) for r in rows] == [
        ("signed_kaiming_constant", "kaiming_uniform", 2), ("scaled_signed_constant", "kaiming_uniform", 2)]
    default, scaled = rows
    assert default["default"] and not scaled["default"]
    assert default["test_acc"] == pytest.approx(0.82) and default["test_acc_std"] == pytest.approx(0.04 / math.sqrt(2))
    assert scaled["dying_ratio"] == pytest.approx(0.505)
    assert default["false_negative_share"] == pytest.approx(0.1)
    assert default["paper"][0] == [88.02, 42.01] and scaled["paper"][0] == [89.61, 41.77]
    v = init_effects.verdict(rows)["planted"]
    assert v["quality"]["rank"] == 2 and v["quality"]["status"] == "worse"  # gap 0.10 over SE 0.028
    assert v["dying_ratio"]["best"] == ("scaled_signed_constant", "kaiming_uniform")
    text = init_effects.format_table(rows)
    assert "88.02/42.01 95.92/35.70 93.22/52.85 96.78/51.37" in text and "* signed_kaiming_constant" in text


def test_hyperparams_table_finds_the_base_and_each_sweep():
    recs = []
    for seed in (0, 1):
        for lr in (0.01, 0.1, 1.0):
            recs.append(_record(seed, lr=lr, test_acc=0.5 + lr / 4, dying_ratio=0.7 - lr / 5 - 0.001 * seed))
        for bs in (32, 512):
            recs.append(_record(seed, batch_size=bs, test_acc=0.6, dying_ratio=0.66 + bs / 1e4 + 0.001 * seed))
        for wd in (0.0, 5e-3):
            recs.append(_record(seed, weight_decay=wd, test_acc=0.6 + 0.001 * seed, dying_ratio=0.68))
    recs.append(recs[1])  # the base point appears in every sweep's grid and is stored once; a repeat is ignored
    rows = hyperparams.table(recs)
    sweeps = {f: [(r["value"], r["base"], r["seeds"]) for r in rows if r["factor"] == f]
              for f in ("lr", "batch_size", "weight_decay")}
    assert sweeps == {"lr": [(0.01, False, 2), (0.1, True, 2), (1.0, False, 2)],
                      "batch_size": [(32, False, 2), (128, True, 2), (512, False, 2)],
                      "weight_decay": [(0.0, False, 2), (0.0005, True, 2), (0.005, False, 2)]}
    base = next(r for r in rows if r["factor"] == "batch_size" and r["base"])
    assert base["dying_ratio"] == pytest.approx(0.68 - 0.0005)
    verdicts = {v["factor"]: v for v in hyperparams.verdict(rows)}
    assert verdicts["lr"]["dying_ratio_direction"] == "falls" and verdicts["lr"]["quality_direction"] == "rises"
    assert verdicts["batch_size"]["dying_ratio_direction"] == "rises"
    assert verdicts["lr"]["best_quality_value"] == 1.0 and verdicts["batch_size"]["lowest_dying_ratio_value"] == 32
    # weight decay moves d_T by 0.0005 against a seed spread of 0.0007: no trend is claimed
    assert verdicts["weight_decay"]["dying_ratio_direction"] == "no clear trend"


def test_width_scaling_labels_methods_and_pairs_gains_by_seed():
    recs = []
    for width, gain in ((16, 0.02), (32, 0.04), (64, 0.06)):
        for seed in (0, 1, 2):
            common = dict(data="planted", task="classification", model=f"mlp:32,{width},{width},10", prune_rate=0.7,
                          epochs=2)
            layers = {"fc1": {"size": 32 * width}, "fc2": {"size": width * width}, "fc3": {"size": 10 * width}}
            ep = 0.3 + 0.05 * seed  # a per-seed offset shared by the three methods: pairing removes it
            recs.append(_record(seed, **common, test_acc=ep, dying_ratio=0.6, false_negative_dying=0.06,
                                true_negative_dying=0.54, per_layer=layers))
            recs.append(_record(seed, **{**common, "epochs": 6}, test_acc=ep + gain / 2, dying_ratio=0.55,
                                false_negative_dying=0.055, true_negative_dying=0.495, per_layer=layers))
            recs.append(_record(seed, **common, method="soft-lr", cycles=3, test_acc=ep + gain, dying_ratio=0.58,
                                false_negative_dying=0.05, true_negative_dying=0.53, per_layer=layers))
    # controls of the E-epoch EP cell: they change no method's numbers
    controls = [dict(_record(seed, data="planted", task="classification", model="mlp:32,16,16,10",
                             prune_rate=0.7, epochs=2), test_acc=1.0, per_layer={}) for seed in (0, 1, 2)]
    for c in controls:
        c["config"]["start_overlap"] = 1.0  # started from P
    controls += [dict(_record(seed, data="planted", task="classification", model="mlp:32,16,16,10", method="dense",
                              prune_rate=0.0, epochs=2), test_acc=0.9) for seed in (0, 1, 2)]
    with_controls = width_scaling.table(recs + controls)
    assert with_controls[0]["ticket_start_test_acc"] == 1.0 and with_controls[0]["dense_seeds"] == 3
    assert with_controls[0]["prune_rate"] == 0.7 and with_controls[1]["dense_seeds"] == 0
    rows = width_scaling.table(recs)
    assert all(with_controls[i][k] == rows[i][k] for i in range(3) for k in rows[i] if not k.startswith(
        ("ticket_start", "dense", "random_mask")) and not (isinstance(rows[i][k], float) and math.isnan(rows[i][k])))
    assert [(r["width"], r["edges"], r["cycles"], r["epochs"]) for r in rows] == [
        (16, 42 * 16 + 256, 3, 2), (32, 42 * 32 + 1024, 3, 2), (64, 42 * 64 + 4096, 3, 2)]
    assert [r["ep_seeds"] for r in rows] == [3, 3, 3] and rows[0]["ep_test_acc_std"] > 0.04
    assert [r["gain_quality"] for r in rows] == pytest.approx([0.02, 0.04, 0.06])
    assert all(r["gain_quality_std"] < 1e-9 for r in rows)
    assert rows[0]["gain_budget_quality"] == pytest.approx(0.01)
    assert rows[0]["gain_false_negative_dying"] == pytest.approx(-0.01)
    assert rows[0]["gain_budget_true_negative_dying"] == pytest.approx(0.035)
    v = width_scaling.verdict(rows)
    assert [e["baseline"] for e in v] == ["EP", "EP (C·E epochs)"]
    assert v[0]["quality"]["trend"] == "grows" and v[0]["quality"]["slope_per_doubling"] == pytest.approx(0.02)
    assert v[0]["false_negative_dying"]["trend"] == "no trend"
    # the slope's interval: t(0.975, n - 2) standard errors, n = 9 (width, seed) pairs
    assert width_scaling.slope_half_width(0.01, 9) == pytest.approx(0.01 * 2.364624, rel=1e-6)
    assert math.isnan(width_scaling.slope_half_width(0.01, 2))


def test_width_scaling_derives_enrichment_and_recall_above_chance():
    # k = 0.7, |P| / n = 0.3: P dying 0.35, the rest dying 0.7 (tn = 0.49 of all edges): enrichment 0.5;
    # recall 0.65 against chance 0.3: (0.65 - 0.3) / 0.7 = 0.5
    record = _record(0, data="planted", model="mlp:32,16,16,10", prune_rate=0.7, epochs=2, recall=0.65,
                     recall_chance=0.3, ticket_dying_ratio=0.35, true_negative_dying=0.49)
    record["ticket_remaining"] = 0.3  # the record's measured |P| / n
    out = derived(record)
    assert out["enrichment"] == pytest.approx(0.5) and out["recall_above_chance"] == pytest.approx(0.5)
    assert math.isnan(derived(_record(0, data="digits", prune_rate=0.7))["enrichment"])
    # the chance level is the record's (per-layer counts), never 1 - k: without it, NaN
    del record["recall_chance"]
    assert math.isnan(derived(record)["recall_above_chance"])
    record["recall_chance"] = 0.5  # e.g. a random-smart mask keeping more of P's layers
    assert derived(record)["recall_above_chance"] == pytest.approx(0.3)


def test_width_scaling_widens_every_hidden_layer_and_refuses_other_models():
    assert width_scaling.widen("mlp:64,256,128,10", 32) == "mlp:64,32,32,10"
    with pytest.raises(ValueError, match="needs an mlp with at least one hidden layer"):
        width_scaling.widen("mlp:64,10", 32)


def test_mean_ci_is_students_t_interval_of_the_finite_values():
    from scipy import stats

    from sltsim.studies.aggregate import excludes_zero, format_ci, mean_ci

    values = [0.1, 0.4, None, 0.2, float("nan"), 0.5]
    mean, half, n = mean_ci(values)
    lo, hi = stats.t.interval(0.95, 3, loc=0.3, scale=stats.sem([0.1, 0.4, 0.2, 0.5]))
    assert n == 4 and mean == pytest.approx(0.3) and half == pytest.approx((hi - lo) / 2)
    assert mean_ci([0.2])[1] == math.inf and not excludes_zero(0.2, math.inf)  # one seed: never called
    assert math.isnan(mean_ci([None])[0]) and mean_ci([])[2] == 0
    assert mean_ci([0.25, 0.25, 0.25])[1] == 0.0 and excludes_zero(0.1, 0.0) and not excludes_zero(0.1, 0.2)
    assert format_ci(0.0312, 0.0121) == "+0.031±0.012" and format_ci(0.2, math.inf) == "+0.200±inf"
    assert format_ci(math.nan, 0.1) == "-"


def test_on_planted_regression_the_lowest_unexplained_variance_is_best():
    recs = []
    for seed in (0, 1):
        common = dict(data="planted", task="regression", prune_rate=0.7, seed=seed)
        recs.append(_record(**common, test_unexplained=0.40 + 0.01 * seed, dying_ratio=0.6))
        recs.append(_record(**common, weight_init="scaled_signed_constant", test_unexplained=0.20 + 0.01 * seed,
                            dying_ratio=0.6 + 0.01 * seed))
    rows = init_effects.table(recs)
    assert [r["quality_name"] for r in rows] == ["1-R2 test"] * 2
    v = init_effects.verdict(rows)["planted"]
    # the default's 1 - R^2 is twice the other's: it ranks second, and the best is the scaled constant
    assert v["quality"]["rank"] == 2 and v["quality"]["best"] == ("scaled_signed_constant", "kaiming_uniform")
    lrs = [_record(seed, data="planted", task="regression", prune_rate=0.7, lr=lr, test_unexplained=1.0 - lr / 2,
                   dying_ratio=0.6) for seed in (0, 1) for lr in (0.1, 0.5, 1.0)]
    verdicts = {v["factor"]: v for v in hyperparams.verdict(hyperparams.table(lrs))}
    assert verdicts["lr"]["best_quality_value"] == 1.0 and verdicts["lr"]["quality_direction"] == "falls"


def test_one_seed_has_no_interval_in_either_table_format():
    from sltsim.studies.aggregate import ci, format_ci, interval_row, mean_ci

    one = interval_row([{"x": 0.25}], ["x"])
    assert ci(one, "x") == "0.25±inf" and format_ci(*mean_ci([0.25])[:2]) == "+0.250±inf"
    two = interval_row([{"x": 0.25}, {"x": 0.35}], ["x"])
    assert ci(two, "x").startswith("0.30±") and not ci(two, "x").endswith("inf")
    assert ci(interval_row([{"x": None}], ["x"]), "x") == "-"
