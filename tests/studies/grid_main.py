"""A miniature study, run as ``python -m tests.studies.grid_main``: the shape a real study has.

Its cell lives in ``__main__`` when run as a module, which spawned workers must still find.
"""

from __future__ import annotations

import sys

from sltsim.config import RunConfig
from sltsim.studies.cli import preset_from_args, print_json, run_grid_from_args, run_study, study_parser
from sltsim.studies.runner import search_cell

ALLOWED = {"prune_rates": list[float], "seeds": int}


def cell(config) -> dict:
    record = search_cell(config)
    return {"key": record["key"], "config": record["config"], "status": record["status"],
            "prune_rate": record["prune_rate"], "dying_ratio": record["dying_ratio"], "test_acc": record["test_acc"]}


def configs(preset: dict) -> list:
    base = RunConfig.from_dict(preset["config"])
    return [base.replace(prune_rate=k, seed=seed) for k in preset["study"]["prune_rates"]
            for seed in range(preset["study"]["seeds"])]


def main(args) -> int:
    preset = preset_from_args(args, ALLOWED)
    records = run_grid_from_args(args, configs(preset), cell)
    rows = [{"prune_rate": r["prune_rate"], "dying_ratio": r["dying_ratio"], "test_acc": r["test_acc"]} for r in records]
    for row in rows:
        print(f"k={row['prune_rate']:.3f}  d_T={row['dying_ratio']:.4f}  acc={row['test_acc']:.4f}")
    if args.json:
        print_json(rows)
    return 0


if __name__ == "__main__":
    sys.exit(run_study(main, sys.argv[1:], parser=study_parser("grid_main", __doc__)))
