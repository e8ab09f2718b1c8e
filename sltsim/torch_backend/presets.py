"""Paper-scale presets of the torch backend (``sltsim/presets/torch_*.toml``), run cell by cell.

::

    python -m sltsim.torch_backend.presets sltsim/presets/torch_resnet18_cifar10.toml \\
        --data-dir /data/cifar --device cuda --loader-workers 8
    python -m torch.distributed.run --nproc_per_node 8 -m sltsim.torch_backend.presets \\
        sltsim/presets/torch_wrn50_imagenet.toml --data-dir /data/imagenet --device cuda --loader-workers 12

The ResNet-18 preset is also the study preset ``iterative.torch_resnet18_cifar10`` (the
same cells, stored where ``python -m sltsim.figures`` looks): ``python -m
sltsim.studies.iterative --preset torch_resnet18_cifar10 --data-dir DIR --device cuda``.

A preset has three tables: ``[study]`` (``methods``, ``seeds``, and ``ep_prune_rates``,
the targets of the one-cycle methods), ``[config]`` (RunConfig fields shared by every
cell, without ``data_dir``) and ``[iterative]`` (RunConfig fields of the iterative
methods only: ``cycles`` with ``shrinkage`` or ``prune_rate``). A one-cycle method gets
one cell per target prune rate; an iterative method one cell per seed (each of its
cycles records the loss and accuracy of its mask m*_i, the points of Fig. 3).

Each finished cell is appended to a JSON-lines record store (rank 0 only) and
skipped when the store already holds its key; with ``--checkpoint-dir`` every cell
checkpoints after each epoch and resumes from there, so the command can simply be
run again after an interruption.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from sltsim.config import RunConfig

STUDY_KEYS = {"methods": list, "seeds": list, "ep_prune_rates": list}
ONE_CYCLE = ("ep", "ep-global", "iterand", "multicoat", "random-uniform", "random-smart", "rearranged-ep", "dense")


def load(path: str) -> dict:
    """Read and check a preset; one-line ValueError naming the file and the key at fault."""
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ValueError(f"preset {path} cannot be read: {e}") from None
    unknown = set(raw) - {"study", "config", "iterative"}
    if unknown:
        raise ValueError(f"preset {path}: unknown table(s) {', '.join(sorted(unknown))}; "
                         f"expected study, config, iterative")
    study = raw.get("study", {})
    for key, value in study.items():
        if key not in STUDY_KEYS or not isinstance(value, STUDY_KEYS[key]):
            raise ValueError(f"preset {path}: [study] {key} must be one of {', '.join(STUDY_KEYS)} (lists)")
    for key in ("methods", "seeds"):
        if not study.get(key):
            raise ValueError(f"preset {path}: [study] {key} must be a non-empty list")
    for table in ("config", "iterative"):
        if "data_dir" in raw.get(table, {}):
            raise ValueError(f"preset {path}: [{table}] data_dir belongs on the command line (--data-dir)")
    return {"study": study, "config": raw.get("config", {}), "iterative": raw.get("iterative", {}), "path": path}


def cells(preset: dict, overrides: dict) -> list[RunConfig]:
    """Every cell's config, seeds outermost; ``overrides`` (data_dir, device, ...) apply to all."""
    study, out = preset["study"], []
    for seed in study["seeds"]:
        for method in study["methods"]:
            values = {**preset["config"], **overrides, "method": method, "seed": seed}
            if method in ONE_CYCLE:
                for k in study.get("ep_prune_rates", [values.get("prune_rate", 0.5)]):
                    out.append(_config({**values, "prune_rate": k, "cycles": 1, "shrinkage": None}, preset))
            else:
                out.append(_config({**values, **preset["iterative"]}, preset))
    return out


def _config(values: dict, preset: dict) -> RunConfig:
    try:
        return RunConfig.from_dict(values, source=f"preset {preset['path']}")
    except ValueError as e:
        raise ValueError(f"preset {preset['path']}, cell {values.get('method')} seed {values.get('seed')}: {e}") from None


def _settings(items) -> dict:
    out = {}
    for item in items:
        try:
            out.update(tomllib.loads(item))
        except tomllib.TOMLDecodeError as e:
            raise ValueError(f"--set {item!r} must be KEY=VALUE with a TOML value ({e})") from None
    return out


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, no usage dump
        self.exit(2, f"{self.prog}: error: {message}\n")


def _cell_indices(text: str, n: int) -> list[int]:
    try:
        chosen = [int(i) for i in text.split(",")]
    except ValueError:
        chosen = None
    if not chosen or any(not 0 <= i < n for i in chosen):
        raise ValueError(f"--cells must be comma-separated cell indices in [0, {n - 1}], got {text!r}")
    return chosen


def default_store(preset_path: str) -> Path:
    """``results/<preset>/<preset>.jsonl`` under the working directory (never inside the package)."""
    name = Path(preset_path).stem
    return Path("results") / name / f"{name}.jsonl"


def main(argv=None) -> int:
    parser = _Parser(prog="python -m sltsim.torch_backend.presets", allow_abbrev=False,
                     description="Run the cells of a torch-backend preset (sltsim/presets/torch_*.toml).")
    parser.add_argument("preset", help="path of the preset TOML file")
    parser.add_argument("--data-dir", help="local directory of the data set (required to run)")
    parser.add_argument("--device", default=None, help="cpu, cuda or cuda:N (overrides the preset)")
    parser.add_argument("--loader-workers", dest="loader_workers", type=int, default=None, help="DataLoader workers (overrides the preset)")
    parser.add_argument("--store", default=None, help="JSON-lines record store (default results/<preset>/<preset>.jsonl)")
    parser.add_argument("--checkpoint-dir", default=None, help="checkpoint every cell here and resume from it")
    parser.add_argument("--cells", default=None, help="comma-separated cell indices to run (default all)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a [config] field, VALUE in TOML syntax (e.g. data=\"svhn\", epochs=1)")
    parser.add_argument("--list", action="store_true", help="list the cells and exit")
    args = parser.parse_args(argv)
    try:
        preset = load(args.preset)
        overrides = {k: v for k, v in (("device", args.device), ("loader_workers", args.loader_workers)) if v is not None}
        overrides.update(_settings(args.set))
        overrides["data_dir"] = args.data_dir or "<--data-dir>"
        configs = cells(preset, overrides)
        chosen = range(len(configs)) if args.cells is None else _cell_indices(args.cells, len(configs))
    except ValueError as e:
        print(f"{parser.prog}: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    if args.list:
        for i, c in enumerate(configs):
            print(f"{i:3d} {c.key()} {c.method:<14} k={c.final_prune_rate:.3f} cycles={c.cycles} seed={c.seed}")
        return 0
    if args.data_dir is None:
        print(f"{parser.prog}: error: --data-dir is required to run the cells", file=sys.stderr)
        return 2
    return _run(configs, chosen, args)


def _run(configs, chosen, args) -> int:
    from sltsim import provenance
    from sltsim.studies.store import RecordStore
    from sltsim.torch_backend import run_search

    store = RecordStore(args.store or default_store(args.preset))
    done = store.keys()
    rank = int(os.environ.get("RANK", "0"))
    for i in chosen:
        config = configs[i]
        if config.key() in done:
            continue
        if args.checkpoint_dir:
            config = config.replace(checkpoint=os.path.join(args.checkpoint_dir, f"{config.key()}.pt"), resume=True)
        try:
            record = run_search(config, progress=rank == 0)
        except ValueError as e:
            print(f"error: cell {i}: {e}", file=sys.stderr)
            return 2
        if rank == 0:
            store.append(provenance.stamp(record))
            print(f"cell {i} {config.method} k={record['prune_rate']:.3f} seed {config.seed}: "
                  f"test_acc {record.get('test_acc', float('nan')):.4f}, dying_ratio "
                  f"{record.get('dying_ratio', float('nan')):.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
