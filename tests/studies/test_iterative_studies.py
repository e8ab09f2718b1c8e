"""The studies iterative, score_ranks and sanity_checks: tiny presets end to end, and their tables
on synthetic records."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from sltsim.config import RunConfig
from sltsim.search.numpy_backend import build_search
from sltsim.studies import iterative, iterative_tables, sanity_checks, score_ranks
from sltsim.studies.cli import run_study, study_parser
from sltsim.studies.columns import enrichment
from sltsim.studies.store import RecordStore

COMMON = """
epochs = 2
batch_size = 64
lr = 0.1
momentum = 0.9
weight_decay = 5e-4
schedule = "cosine"
"""

TINY = {
    "iterative": f"""
[study]
methods = ["ep", "ep-budget", "hard-ft", "hard-lr", "hard-srw", "hard-sri", "soft-lr", "soft-lr-zero", "soft-srw-zero"]
seeds = 2
[config]
method = "soft-lr"
cycles = 2
shrinkage = 0.5
{COMMON}
[study.settings.planted]
data = "planted"
model = "mlp:16,32,32,10"
n_train = 200
n_test = 200
task = "classification"
ticket_remaining = 0.25
sub_budget_ticket = true
[study.settings.digits]
data = "digits"
model = "mlp:64,32,10"
epochs = 1
""",
    "score_ranks": f"""
[study]
methods = ["hard-lr", "soft-lr"]
seeds = 2
[config]
method = "soft-lr"
data = "digits"
model = "mlp:64,32,10"
cycles = 3
shrinkage = 0.4
{COMMON}
""",
    "sanity_checks": f"""
[study]
prune_rates = [0.5, 0.8]
seeds = 2
[config]
method = "ep"
{COMMON}
[study.settings.planted]
data = "planted"
model = "mlp:16,32,32,10"
n_train = 200
n_test = 200
task = "classification"
""",
}
MODULES = {"iterative": iterative, "score_ranks": score_ranks, "sanity_checks": sanity_checks}
FIGURES = {"iterative": ["iterative_accuracy", "iterative_dying", "iterative_enrichment"],
           "score_ranks": ["score_ranks"], "sanity_checks": ["sanity_checks"]}


def _run(study, tmp_path, capsys):
    preset = tmp_path / f"{study}.tiny.toml"
    preset.write_text(TINY[study])
    argv = ["--preset", str(preset), "--out", str(tmp_path / "records"), "--figures", str(tmp_path / "figs"),
            "--no-progress", "--json"]
    module = MODULES[study]
    code = run_study(module.main, argv, parser=study_parser(study, module.__doc__))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


@pytest.mark.parametrize("study", list(TINY))
def test_tiny_preset_runs_end_to_end_and_a_rerun_recomputes_nothing(study, tmp_path, capsys, monkeypatch):
    out = _run(study, tmp_path, capsys)
    store = RecordStore(tmp_path / "records" / f"{study}.jsonl")
    records = store.records()
    assert records and all(r["status"] == "ok" for r in records)
    assert "±" in out  # a mean ± std table
    if study == "iterative":
        assert "exactly equal at 4 of 4 (setting, seed, cycle >= 2) points" in out
    for stem in FIGURES[study]:
        for ext in ("png", "svg"):
            path = tmp_path / "figs" / f"{stem}.{ext}"
            assert path.is_file() and path.stat().st_size > 1000, path
            assert f"figure: {path}" in out
    json.loads(out.strip().splitlines()[-1])  # --json: the rows on the last line

    def refuse(config, progress=False):
        raise AssertionError(f"recomputed {config.key()}")

    # the study's cell replaced by one that refuses: every cell must come from the store
    monkeypatch.setattr(MODULES[study], "main", dataclasses.replace(MODULES[study].STUDY, cell=refuse).main)
    again = _run(study, tmp_path, capsys)
    assert len(store.records()) == len(records)
    table_of = lambda text: text.split("figure:")[0]  # noqa: E731
    assert table_of(again) == table_of(out)


def test_iterative_records_give_per_cycle_points_that_agree_with_ep(tmp_path, capsys):
    _run("iterative", tmp_path, capsys)
    records = RecordStore(tmp_path / "records" / "iterative.jsonl").records()
    per_cycle = {"planted": 2, "digits": 1}  # E of each setting
    ep = {(r["config"]["data"], r["config"]["seed"], round(r["config"]["prune_rate"], 6)): r
          for r in records if r["config"]["method"] == "ep" and r["config"]["epochs"] == per_cycle[r["config"]["data"]]}
    budget = [r for r in records if r["config"]["method"] == "ep" and r["config"]["epochs"] != per_cycle[r["config"]["data"]]]
    iterated = [r for r in records if r["config"]["method"] != "ep"]
    assert len(ep) == 2 * 2 * 2 and len(iterated) == 2 * 7 * 2
    # EP with the same total epochs: cycle 2's k at 2 E epochs (cycle 1's is the E-epoch EP run, stored once)
    assert sorted((r["config"]["data"], r["config"]["prune_rate"], r["config"]["epochs"]) for r in budget) == \
        [("digits", 0.75, 2)] * 2 + [("planted", 0.75, 4)] * 2
    assert len({r["key"] for r in records}) == len(records)
    for r in iterated:
        cycles = r["cycles"]
        assert len(cycles) == 2
        # the last cycle's per-cycle loss is the record's own
        assert cycles[-1]["test_loss"] == r["test_loss"]
        # cycle 1 of every variant is EP at k_1 from the same s0, batches and target
        first = ep[(r["config"]["data"], r["config"]["seed"], 0.5)]
        assert cycles[0]["test_loss"] == first["test_loss"]
        assert cycles[0]["dying_ratio"] == first["dying_ratio"]
        if r["config"]["data"] == "planted":
            assert cycles[0]["false_negative_dying"] == first["false_negative_dying"]
    rows = iterative.table(records)
    assert {r["remaining"] for r in rows} == {0.5, 0.25}
    assert len(rows) == 2 * 2 * 9 and all(r["seeds"] == 2 for r in rows)
    by = {(r["setting"].split()[0], r["method"], r["remaining"]): r for r in rows}
    # cycle 1: both EP arms are the same E-epoch run; cycle 2: EP= spent 2 E epochs, as iEP did
    assert by[("planted", "ep-budget", 0.5)]["quality"] == by[("planted", "ep", 0.5)]["quality"]
    assert all(math.isfinite(r["quality"]) for r in rows)  # accuracy on digits, 1 - R^2 or accuracy on planted
    # cycle 1 of every iterative method is EP at k_1: the same quality (1 - R^2 derived from the cycle's loss)
    assert by[("planted", "soft-lr", 0.5)]["quality"] == pytest.approx(by[("planted", "ep", 0.5)]["quality"],
                                                                      rel=1e-6)
    assert [by[("planted", m, 0.25)]["epochs_total"] for m in ("ep", "ep-budget", "soft-lr")] == [2, 4, 4]


def _cfg(method, seed, **kw):
    cfg = {"method": method, "seed": seed, "data": "planted", "task": "classification", "model": "mlp:8,8,2",
           "inputs": "gaussian",
           "prune_rate": 0.5, "cycles": 1, "shrinkage": None, "epochs": 3}
    cfg.update(kw)
    return cfg


def test_iterative_table_and_comparisons_on_synthetic_records():
    records = []
    for seed, (acc_ep, acc_soft) in enumerate([(0.5, 0.6), (0.7, 0.9)]):
        for i, k in enumerate((0.5, 0.75)):
            records.append({"key": f"ep{seed}{i}", "status": "ok", "config": _cfg("ep", seed, prune_rate=k),
                            "test_acc": acc_ep - 0.1 * i, "dying_ratio": k - 0.1, "false_negative_dying": 0.01,
                            "true_negative_dying": k - 0.11, "ticket_dying_ratio": 0.2})
        cycles = [{"test_acc": acc_soft - 0.1 * i, "dying_ratio": 0.05 * (i + 1), "false_negative_dying": 0.0,
                   "true_negative_dying": 0.05 * (i + 1), "ticket_dying_ratio": 0.0} for i in range(2)]
        records.append({"key": f"s{seed}", "status": "ok", "cycles": cycles,
                        "config": _cfg("soft-lr", seed, cycles=2, shrinkage=0.5)})
    records.append({"key": "bad", "status": "diverged", "config": _cfg("ep", 9), "cycles": []})
    rows = iterative.table(records)
    # the E-epoch EP run at k_1 is also EP with the same total epochs (one cycle of E)
    assert [(r["remaining"], r["method"]) for r in rows] == [(0.5, "ep"), (0.5, "ep-budget"), (0.5, "soft-lr"),
                                                              (0.25, "ep"), (0.25, "soft-lr")]
    rows.pop(1)
    ep_half = rows[0]
    assert ep_half["seeds"] == 2 and ep_half["test_acc"] == pytest.approx(0.6)
    assert ep_half["test_acc_std"] == pytest.approx(np.std([0.5, 0.7], ddof=1))
    assert ep_half["dying_ratio_apparent"] == ep_half["dying_ratio"] == pytest.approx(0.4)
    soft_quarter = rows[3]
    assert soft_quarter["cycle"] == 2 and soft_quarter["test_acc"] == pytest.approx(0.65)
    assert soft_quarter["dying_ratio"] == pytest.approx(0.1) and soft_quarter["dying_ratio_std"] == 0.0
    assert math.isnan(soft_quarter["revived_ratio"])
    pairs = iterative.comparisons(records)
    assert [p["remaining"] for p in pairs] == [0.5, 0.25]
    assert pairs[0]["q S-EP"] == pytest.approx(0.15) and pairs[0]["q S-EP_n"] == 2
    assert pairs[0]["q S-EP_std"] == pytest.approx(np.std([0.1, 0.2], ddof=1))
    assert math.isnan(pairs[0]["q S-H"]) and pairs[0]["q S-H_n"] == 0
    text = iterative.format_table(rows)
    assert "soft iEP (LR)" in text and "0.650±0.212" in text
    # a hard-lr twin equal to soft-lr except at seed 1's second cycle; cycle 1 is not compared
    twins = [dict(r, key="h" + r["key"], config=dict(r["config"], method="hard-lr"),
                  cycles=[dict(c) for c in r["cycles"]]) for r in records if r["config"]["method"] == "soft-lr"]
    twins[1]["cycles"][1]["test_acc"] += 0.01
    assert iterative.identical_points(records + twins, "soft-lr", "hard-lr") == (1, 2)


def test_score_rank_counts_on_a_constructed_trajectory():
    # 4 sampled edges over 3 cycles, thresholds 0.5, 0.3, 0.2 (selected: rank < threshold)
    ranks = [[0.1, 0.6, 0.4, 0.9], [0.1, 0.2, 0.5, 0.9], [0.1, 0.15, 0.1, 0.95]]
    thresholds = [[0.5] * 4, [0.3] * 4, [0.2] * 4]
    record = {"status": "ok", "config": _cfg("soft-lr", 0, cycles=3, shrinkage=0.3),
              "cycles": [{"score_ranks": {"rank": r, "threshold": t}, "revived_ratio": v}
                         for r, t, v in zip(ranks, thresholds, (None, 0.1, 0.3))]}
    counts = score_ranks.edge_counts(record)
    # edge 1 revives at cycle 2, edge 2 at cycle 3 (it was below at cycle 2); edges 0-2 end selected
    assert counts == {"sampled": 4, "selected_final": 3, "revived": 2, "late_selected": 2,
                      "revived_ratio_all": pytest.approx(0.2)}
    rows = score_ranks.table([record, dict(record, config=_cfg("soft-lr", 1, cycles=3, shrinkage=0.3))])
    assert len(rows) == 1 and rows[0]["seeds"] == 2 and rows[0]["revived"] == 2 and rows[0]["revived_std"] == 0
    assert rows[0]["final_remaining"] == pytest.approx(0.7**3)


def test_sanity_table_separates_random_labels_and_pairs_by_seed():
    records = []
    for seed in (0, 1):
        for method, labels, acc in (("ep", False, 0.8 + 0.1 * seed), ("ep", True, 0.1),
                                    ("random-smart", False, 0.12)):
            records.append({"key": f"{method}{labels}{seed}", "status": "ok", "test_acc": acc, "recall": 0.5,
                            "config": _cfg(method, seed, random_labels=labels, prune_rate=0.8)})
    rows = sanity_checks.table(records)
    assert [r["check"] for r in rows] == ["ep", "random-smart", "ep-random-labels"]
    assert rows[0]["test_acc"] == pytest.approx(0.85) and rows[2]["test_acc"] == pytest.approx(0.1)
    pairs = sanity_checks.paired(records)
    assert len(pairs) == 1
    assert pairs[0]["ep-random-labels"] == pytest.approx(0.75) and pairs[0]["ep-random-labels_n"] == 2
    assert pairs[0]["random-smart"] == pytest.approx(0.73)
    assert math.isnan(pairs[0]["rearranged-ep"])


def test_random_labels_permute_the_train_labels_only():
    base = RunConfig(method="ep", data="planted", task="classification", model="mlp:16,32,32,10", n_train=300,
                     n_test=100, epochs=1)
    clean, shuffled = build_search(base), build_search(base.replace(random_labels=True))
    assert np.array_equal(clean.data.X_train, shuffled.data.X_train)
    assert np.array_equal(clean.data.y_test, shuffled.data.y_test)
    assert np.array_equal(np.sort(clean.data.y_train), np.sort(shuffled.data.y_train))
    assert np.mean(clean.data.y_train == shuffled.data.y_train) < 0.5
    for p, q in zip(clean.params, shuffled.params):  # the same network and ticket
        assert np.array_equal(p.theta0, q.theta0) and np.array_equal(p.scores, q.scores)
    assert base.key() != base.replace(random_labels=True).key()
    with pytest.raises(ValueError, match="^random_labels must be true or false, got 1$"):
        RunConfig(random_labels=1)


def test_bad_settings_are_refused_with_one_line(tmp_path, capsys):
    preset = tmp_path / "bad.toml"
    preset.write_text(TINY["iterative"].replace('model = "mlp:64,32,10"', 'model = "mlp:64,32,10"\nepochs_x = 1'))
    code = run_study(iterative.main, ["--preset", str(preset), "--out", str(tmp_path)],
                     parser=study_parser("iterative", iterative.__doc__))
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1
    assert "unknown key 'epochs_x' in [study.settings.digits]" in err


def test_ep_budget_grid_spends_the_epochs_of_each_cycle_and_lists_each_cell_once():
    base = RunConfig(method="soft-lr", cycles=3, shrinkage=0.5, epochs=5)
    configs = iterative.grid({"methods": ["ep", "ep-budget"], "seeds": 1}, {"s": base})
    ep = sorted((c.prune_rate, c.epochs) for c in configs)
    # EP at 5 epochs at every k_i; EP= at 10 and 15 epochs at k_2, k_3 (k_1's is the 5-epoch run)
    assert ep == [(0.5, 5), (0.75, 5), (0.75, 10), (0.875, 5), (0.875, 15)]
    alone = iterative.grid({"methods": ["ep-budget"], "seeds": 1}, {"s": base})
    assert sorted((c.prune_rate, c.epochs) for c in alone) == [(0.5, 5), (0.75, 10), (0.875, 15)]
    assert all(c.method == "ep" and c.cycles == 1 and c.shrinkage is None for c in configs + alone)


def test_ep_cycles_keeps_the_ep_arms_to_those_cycles_targets():
    base = RunConfig(method="soft-lr", cycles=3, shrinkage=0.5, epochs=5)
    configs = iterative.grid({"methods": ["ep", "ep-budget", "soft-lr"], "seeds": 1, "ep_cycles": [3]}, {"s": base})
    assert sorted((c.method, c.prune_rate, c.epochs) for c in configs) == [
        ("ep", 0.875, 5), ("ep", 0.875, 15), ("soft-lr", 0.5, 5)]
    both = iterative.grid({"methods": ["ep", "ep-budget"], "seeds": 1, "ep_cycles": [2, 1]}, {"s": base})
    assert sorted((c.prune_rate, c.epochs) for c in both) == [(0.5, 5), (0.75, 5), (0.75, 10)]
    for bad, message in (([4], "setting s has cycles 1 to 3, got 4"), ([0], "got 0"), ([2, 2], "each cycle once")):
        with pytest.raises(ValueError, match=message):
            iterative.grid({"methods": ["ep"], "seeds": 1, "ep_cycles": bad}, {"s": base})


def test_ep_at_the_last_target_only_is_not_taken_for_the_budget_arm():
    # with ep_cycles = [3] the only E-epoch EP run is at k_3: it is the ep arm there, not also
    # ep-budget (which would have run 3E epochs); the first ratio comes from the iterative schedule
    base = RunConfig(method="soft-lr", cycles=3, shrinkage=0.5, epochs=5)
    ep = {"status": "ok", "test_acc": 0.5, "dying_ratio": 0.8,
          "config": base.replace(method="ep", cycles=1, shrinkage=None, prune_rate=0.875).to_dict()}
    soft = {"status": "ok", "test_acc": 0.6, "config": base.to_dict(),
            "cycles": [{"test_acc": 0.6, "dying_ratio": d} for d in (0.4, 0.6, 0.8)]}
    rows = iterative_tables.table([ep, soft])
    assert sorted((r["method"], r["remaining"]) for r in rows) == [
        ("ep", 0.125), ("soft-lr", 0.125), ("soft-lr", 0.25), ("soft-lr", 0.5)]


def test_ep_records_are_told_apart_by_epochs():
    rec = lambda k, epochs: {"status": "ok", "test_acc": 0.5, "dying_ratio": k - 0.1,  # noqa: E731
                             "config": _cfg("ep", 0, prune_rate=k, epochs=epochs)}
    first, later, budget = rec(0.5, 3), rec(0.75, 3), rec(0.75, 6)
    assert [(p["arm"], p["cycle"]) for p in iterative_tables.points(first, 3, 0.5)] == [("ep", None), ("ep-budget", 1)]
    assert [(p["arm"], p["cycle"]) for p in iterative_tables.points(later, 3, 0.5)] == [("ep", None)]
    assert [(p["arm"], p["cycle"]) for p in iterative_tables.points(budget, 3, 0.5)] == [("ep-budget", 2)]


def test_settings_that_differ_only_in_per_cell_fields_are_refused():
    values = {"method": "soft-lr", "cycles": 2, "shrinkage": 0.5}
    with pytest.raises(ValueError, match="settings.a and settings.b differ only in"):
        iterative.settings({"settings": {"a": {"epochs": 3}, "b": {"epochs": 4}}}, values)


def test_enrichment_is_one_for_a_blind_search_and_the_ratio_of_dying_shares():
    # |P| / n = 0.1; P dying 0.2, the rest dying 0.4: enrichment 0.5
    assert enrichment(0.2, 0.4 * 0.9, 0.1) == pytest.approx(0.5)
    # a search blind to P: both shares equal the dying ratio d = 0.6
    assert enrichment(0.6, 0.6 * 0.9, 0.1) == pytest.approx(1.0)
    assert math.isnan(enrichment(None, 0.3, 0.1)) and math.isnan(enrichment(0.2, 0.0, 0.1))


def _c3_records(soft_gain, budget_gain, seeds=4):
    """EP (E = 2 epochs) and EP= (4 epochs) at k = 0.5, 0.75; soft and hard iEP with 2 cycles."""
    records = []
    for seed in range(seeds):
        jitter = 0.001 * seed
        for k, epochs, acc in ((0.5, 2, 0.6), (0.75, 2, 0.4), (0.75, 4, 0.4 + budget_gain)):
            records.append({"key": f"ep{seed}{k}{epochs}", "status": "ok", "test_acc": acc + jitter,
                            "dying_ratio": k - 0.1, "config": _cfg("ep", seed, prune_rate=k, epochs=epochs)})
        for method, gain in (("hard-lr", 0.1), ("soft-lr", 0.1 + soft_gain)):
            cycles = [{"test_acc": 0.6 + jitter, "dying_ratio": 0.4}, {"test_acc": 0.4 + gain + jitter * 2,
                                                                       "dying_ratio": 0.6}]
            records.append({"key": f"{method}{seed}", "status": "ok", "cycles": cycles,
                            "config": _cfg(method, seed, cycles=2, shrinkage=0.5, epochs=2)})
    return records


@pytest.mark.parametrize("soft_gain, budget_gain, paper, equal", [
    (0.05, 0.0, "holds", "holds"),          # soft > hard > EP, and EP= is no better than EP
    (0.05, 0.1, "holds", "does not hold"),  # hard's gain over EP is all longer training
    (0.0, 0.0, "does not hold", "does not hold"),  # soft = hard
])
def test_c3_is_read_against_both_ep_arms(soft_gain, budget_gain, paper, equal):
    from sltsim.studies.iterative_claims import claims

    records = _c3_records(soft_gain, budget_gain)
    text = claims(iterative.table(records), iterative.comparisons(records), iterative.quality_signs(records))
    lines = [line for line in text.splitlines() if line.startswith("C3")]
    assert len(lines) == 2
    assert "vs EP (E epochs)" in lines[0] and f"soft > hard > EP {paper};" in lines[0]
    assert "vs EP (same total epochs)" in lines[1] and f"soft > hard > EP {equal};" in lines[1]


def test_ep_at_every_cycle_target_searches_the_iterative_runs_planted_target():
    base = RunConfig(method="soft-lr", cycles=3, shrinkage=0.5, data="planted", model="mlp:32,64,64,10",
                     n_train=300, n_test=200, epochs=1)
    configs = iterative.grid({"methods": ["ep", "ep-budget", "soft-lr"], "seeds": 1}, {"s": base})
    reference = build_search(next(c for c in configs if c.method == "soft-lr"))
    eps = [c for c in configs if c.method == "ep"]
    assert sorted(c.prune_rate for c in eps) == [0.5, 0.75, 0.75, 0.875, 0.875]
    for config in eps:
        search = build_search(config)
        for name, mask in reference.ticket.masks.items():
            assert np.array_equal(search.ticket.masks[name], mask), (config.prune_rate, name)
        assert np.array_equal(search.data.y_train, reference.data.y_train)
        # the ticket is sized at the last cycle's k: below the budget of every earlier target
        assert search.ticket.feasible == (config.prune_rate == 0.875)


def test_control_cells_are_kept_out_of_the_arms_and_shown_as_controls():
    from sltsim.studies.iterative_claims import final_planted

    records = _c3_records(0.05, 0.0)
    for r in records:
        r.update(ticket_feasible=True, ticket_train_loss=0.0, teacher_digest=f"t{r['config']['seed']}",
                 enrichment=1.0 if r["config"]["method"] == "ep" else 0.9)
    controls = []
    for seed in range(4):
        start = _cfg("ep", seed, prune_rate=0.75, epochs=2, start_overlap=1.0)
        controls.append({"key": f"c{seed}", "status": "ok", "test_acc": 1.0, "dying_ratio": 0.75, "config": start,
                         "enrichment": 0.0, "ticket_feasible": True, "ticket_train_loss": 0.0,
                         "teacher_digest": f"t{seed}"})
        controls.append({"key": f"r{seed}", "status": "ok", "test_acc": 0.1, "config":
                         _cfg("random-uniform", seed, prune_rate=0.75, epochs=2), "enrichment": 1.0,
                         "ticket_feasible": True, "ticket_train_loss": 0.0, "teacher_digest": f"t{seed}"})
    # the controls change no arm of the table
    assert iterative.table(records + controls) == iterative.table(records)
    rows = {r["method"]: r for r in final_planted(records + controls)}
    assert list(rows) == ["ep", "ep-budget", "hard-lr", "soft-lr", "ticket_start", "random_mask"]
    assert rows["ticket_start"]["enrichment"] == 0.0 and rows["random_mask"]["enrichment"] == 1.0
    assert rows["soft-lr"]["enrichment"] == pytest.approx(0.9) and rows["soft-lr"]["enrichment_n"] == 4
    assert all(r["same_teacher"] and r["remaining"] == 0.25 for r in rows.values())
    controls[0]["teacher_digest"] = "other"
    assert not final_planted(records + controls)[0]["same_teacher"]


def test_controls_run_once_per_planted_setting_and_seed_at_the_last_cycles_k():
    planted = RunConfig(method="soft-lr", cycles=2, shrinkage=0.5, data="planted", model="mlp:16,32,32,10",
                        n_train=200, n_test=100, epochs=1)
    digits = RunConfig(method="soft-lr", cycles=2, shrinkage=0.5, epochs=1)
    study = {"methods": ["ep", "soft-lr"], "seeds": 2, "controls": ["ticket_start", "random_mask", "dense"]}
    configs = iterative.grid(study, {"planted": planted, "digits": digits})
    controls = [c for c in configs if c.method in ("random-uniform", "dense") or c.start_overlap is not None]
    assert sorted((c.method, c.seed) for c in controls) == sorted(
        (m, s) for m in ("ep", "random-uniform", "dense") for s in (0, 1))
    assert all(c.data == "planted" for c in controls)
    assert {c.prune_rate for c in controls if c.method != "dense"} == {0.75}


def test_cycle_prune_rates_of_a_stored_config_go_through_the_schedules_checks():
    rates = iterative_tables.cycle_prune_rates({"method": "soft-lr", "cycles": 3, "shrinkage": 0.5})
    assert rates == pytest.approx([0.5, 0.75, 0.875], abs=1e-15)  # 1 - 0.5^i
    towards = iterative_tables.cycle_prune_rates({"method": "hard-lr", "cycles": 2, "prune_rate": 0.91,
                                                  "shrinkage": None})
    assert towards == pytest.approx([0.7, 0.91], abs=1e-12)  # 1 - 0.09^(i/2)
    with pytest.raises(ValueError, match=r"prune_rate must be 1-\(1-shrinkage\)\^cycles = 0.875"):
        iterative_tables.cycle_prune_rates({"method": "soft-lr", "cycles": 3, "shrinkage": 0.5, "prune_rate": 0.6})
    with pytest.raises(ValueError, match="method hard-lr needs cycles"):
        iterative_tables.cycle_prune_rates({"method": "hard-lr", "cycles": 1, "prune_rate": 0.6})
