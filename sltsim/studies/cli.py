"""The flags every study shares, and the wrapper that turns bad input into exit code 2.

A study (:class:`~sltsim.studies.study.Study`) runs through :meth:`Study.cli
<sltsim.studies.study.Study.cli>`, which is ``run_study(study.main, argv, parser=study_parser(...))``.

Bad flags print one line and exit 2 (as :mod:`sltsim.cli`); a ``ValueError`` raised by
the study (a bad preset, an unusable ``--out``, an unreachable scheduler) prints one line
and exits 2 too, before any cell runs. Ctrl-C and SIGTERM stop the workers and exit
130 and 143, keeping every stored record. A grid with failed cells prints how many and
where their errors are, and exits 1; so does a store that cannot be written (a full disk).

Where outputs go: the store ``<--out>/<study>.jsonl`` and the figures (``--figures``,
by default the same folder). ``--out`` defaults to ``results/<preset>/<study>``, so
each preset has its own store and ``python -m sltsim.figures --records results/<preset>``
redraws that preset's figures only.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path
from typing import Callable, Mapping, Optional, Sequence

from sltsim.studies.flags import (EXIT_BAD_INPUT, MAX_SEEDS, RESULTS, figures_dir, out_dir, preset_label,  # noqa: F401
                                  preset_name, study_parser)  # (re-exported: the studies import them from here)
from sltsim.studies.interrupts import one_line_warnings, sigterm_interrupts
from sltsim.studies.ranks import CellFailedUnderDDP, MainRankFailed, current as current_ranks

EXIT_CELLS_FAILED = 1
EXIT_INTERRUPTED = 130


def preset_from_args(args: argparse.Namespace, allowed: Optional[Mapping] = None) -> dict:
    """:func:`~sltsim.studies.presets.load_preset` for the flags, with ``--seeds`` applied
    to the ``[study]`` table's ``seeds`` key. When the study takes ``seeds``, the preset
    (or ``--seeds``) must give an integer from 1 to :data:`MAX_SEEDS`."""
    from sltsim.studies.presets import load_preset

    preset = load_preset(args.study, preset_name(args), allowed)
    preset["config"].update(execution_values(args))  # a grid may need them (data_dir of an image set)
    if args.seeds is not None:
        preset["study"]["seeds"] = args.seeds
    if allowed is not None and "seeds" in allowed:
        seeds = preset["study"].get("seeds")
        if seeds is None:
            raise ValueError(f"[study] of {preset['path']} must set seeds = N (the seeds per setting, "
                             f"1 to {MAX_SEEDS}), or pass --seeds N")
        if isinstance(seeds, int) and not 1 <= seeds <= MAX_SEEDS:
            raise ValueError(f"key 'seeds' in [study] of {preset['path']} must be an integer from 1 to "
                             f"{MAX_SEEDS}, got {seeds}")
    return preset


def store_path(args: argparse.Namespace) -> Path:
    """``<--out>/<study>.jsonl``."""
    return out_dir(args) / f"{args.study}.jsonl"


def check_outputs(args: argparse.Namespace) -> None:
    """Refuse, before any cell runs, an ``--out`` or ``--figures`` that cannot be written: one
    ``ValueError`` line naming the flag, the path and why. Creates the folders."""
    for flag, folder in (("--out", out_dir(args)), ("--figures", figures_dir(args))):
        _check_folder(flag, folder)
    store = store_path(args)
    if store.is_dir():
        raise ValueError(f"--out {out_dir(args)}: the store {store} is a folder, not a file")
    if store.exists() and not os.access(store, os.W_OK):
        raise ValueError(f"--out {out_dir(args)}: the store {store} is not writable")


def _check_folder(flag: str, folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{flag} {folder} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"{flag} {folder} cannot be created: {e.strerror or e}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"{flag} {folder} is not writable")


def execution_values(args: argparse.Namespace) -> dict:
    """The execution fields the flags set: ``device``, ``data_dir``, ``loader_workers`` (outside every key)."""
    data_dir = getattr(args, "data_dir", None)
    if data_dir is not None and not Path(data_dir).is_dir():
        raise ValueError(f"--data-dir {data_dir} is not a folder; it must hold the data set's files")
    return {name: value for name, value in (("device", getattr(args, "device", None)),
                                            ("data_dir", getattr(args, "data_dir", None)),
                                            ("loader_workers", getattr(args, "loader_workers", None)))
            if value is not None}


def with_execution(args: argparse.Namespace, configs: Sequence) -> list:
    """``configs`` with the execution fields of the flags (``--device``, ``--data-dir``,
    ``--loader-workers``, ``--checkpoint-dir``) set on every cell; none of them enters a key.

    A flag the cell's backend cannot use (``--device cuda`` on the engine) is refused by the
    config in one line naming the field, before any cell runs."""
    changes = execution_values(args)
    checkpoints = getattr(args, "checkpoint_dir", None)
    remote = getattr(args, "scheduler", None) is not None
    if not changes and checkpoints is None:
        return _check_devices(list(configs), remote)
    if checkpoints is not None:
        _check_folder("--checkpoint-dir", Path(checkpoints))
    out = []
    for config in configs:
        here = dict(changes)
        if checkpoints is not None:
            here.update(checkpoint=str(Path(checkpoints) / f"{config.key()}.pt"), resume=True)
        new = config.replace(**here)
        if new.key() != config.key():  # execution fields are outside the key by construction
            raise AssertionError(f"execution fields {sorted(here)} moved the key of cell {config.key()}")
        out.append(new)
    return _check_devices(out, remote)


def _check_devices(configs: list, remote: bool = False) -> list:
    """``configs``, or one ValueError line when a cell asks for a CUDA device torch does not see
    (before any cell runs, rather than a grid of failed cells). With ``remote`` (the cells run on
    a Dask cluster's workers) this machine's devices do not matter and nothing is checked."""
    cuda = sorted({c.device for c in configs if getattr(c, "backend", "numpy") == "torch" and c.device != "cpu"})
    if cuda and not remote:
        import torch

        if not torch.cuda.is_available():
            raise ValueError(f"device {cuda[0]}: torch sees no CUDA device on this machine; "
                             "pass --device cpu, or run where a GPU is")
    return configs


def run_grid_from_args(args: argparse.Namespace, configs: Sequence, cell: Callable) -> list[dict]:
    """:func:`~sltsim.studies.runner.run_grid` with the store, workers, scheduler and bar of the
    flags, after :func:`check_outputs` and a check that the store holds no other preset. The
    execution flags apply to every cell (:func:`with_execution`).

    Under torchrun (:mod:`sltsim.studies.ranks`) rank 0 alone checks and creates the outputs and
    keeps the store; every rank runs the pending cells and gets rank 0's records.

    Records get ``preset`` (the preset's short name). When every cell failed, raises
    :class:`CellsFailed` (exit 1, no tables); when some did, :func:`report` says so."""
    from sltsim.studies import ranks
    from sltsim.studies.runner import run_grid

    configs = with_execution(args, configs)
    ranks.check_grid(configs, args.workers, args.scheduler)
    with ranks.group(configs):
        ranks.from_main(lambda: (check_outputs(args), _check_one_preset(args)))
        records = run_grid(configs, cell, store_path(args), workers=args.workers, scheduler=args.scheduler,
                           progress=not args.no_progress, desc=args.study,
                           recompute_stale=getattr(args, "recompute_stale", False),
                           tag={"preset": preset_label(args)})
    args.grid_records = records
    failed = [r for r in records if r.get("status") == "failed"]
    args.failed_cells = (len({r["key"] for r in failed}), len({r["key"] for r in records}),
                         failed[0].get("reason", "") if failed else "")
    if failed and len(failed) == len(records):
        raise CellsFailed(failure_line(args))
    return records


def _check_one_preset(args: argparse.Namespace) -> None:
    from sltsim.studies.store import RecordStore

    path = store_path(args)
    if not path.is_file():
        return
    label = preset_label(args)
    others = sorted({r["preset"] for r in RecordStore(path).records()
                     if isinstance(r.get("preset"), str) and r["preset"] != label})
    if others:
        raise ValueError(f"--out {out_dir(args)} holds records of preset {', '.join(others)}, not of "
                         f"{label}; a store holds one preset: give this run its own --out "
                         f"(the default is {RESULTS / label / args.study})")


class CellsFailed(Exception):
    """Every cell of the grid failed: nothing to tabulate."""


def failure_line(args: argparse.Namespace) -> str:
    """'N of M cells failed (first: REASON); their errors ...' for the store of the flags."""
    n, total, reason = args.failed_cells
    return (f"{n} of {total} cells failed (first: {reason}); their errors and tracebacks are the records "
            f"with status \"failed\" in {store_path(args)}; a rerun computes them again")


def print_json(rows) -> None:
    """The study's rows as one JSON line (the last line of stdout for ``--json``)."""
    from sltsim.studies.store import normalise

    print(json.dumps(normalise(rows), sort_keys=True))


def report(args: argparse.Namespace, text: str, figures, rows) -> int:
    """The end of every study's main: its tables (``text``), the figures it wrote, and with
    ``--json`` its rows as the last line of stdout. The grid's diverged cells follow the
    tables as rows of their own (:func:`~sltsim.studies.aggregate.diverged_rows`), since
    the tables' means leave them out. Returns the exit code: 0, or
    :data:`EXIT_CELLS_FAILED` (with one stderr line) when some cells failed."""
    print(text)
    from sltsim.studies.aggregate import diverged_rows, format_diverged

    diverged = format_diverged(diverged_rows(getattr(args, "grid_records", [])))
    if diverged:
        print(diverged)
    for figure in figures:
        print(f"figure: {figure}")
    if args.json:
        print_json(rows)
    if getattr(args, "failed_cells", (0,))[0]:
        print(f"{getattr(args, 'prog', 'study')}: error: {failure_line(args)}", file=sys.stderr)
    return exit_code(args)


def exit_code(args: argparse.Namespace) -> int:
    """0, or :data:`EXIT_CELLS_FAILED` when some cells of the grid failed."""
    return EXIT_CELLS_FAILED if getattr(args, "failed_cells", (0,))[0] else 0


def is_main_rank() -> bool:
    """True on one process, and on rank 0 under torchrun: the process that prints and draws."""
    return current_ranks().is_main


def run_study(main_fn: Callable, argv: Optional[Sequence[str]] = None,
              parser: Optional[argparse.ArgumentParser] = None) -> int:
    """Call the study's main and turn bad input into one stderr line and exit code 2.

    With ``parser``, ``main_fn(parser.parse_args(argv))``; without, ``main_fn(argv)``
    (the study parses). A ``ValueError`` prints ``PROG: error: MESSAGE`` and returns 2,
    with no traceback; Ctrl-C returns 130 and says that a rerun resumes. Returns
    ``main_fn``'s exit code (None counts as 0).
    """
    prog = parser.prog if parser is not None else _prog(main_fn)
    with one_line_warnings(prog), sigterm_interrupts():
        try:
            if parser is not None:
                args = parser.parse_args(argv)
                args.prog = prog
            else:
                args = argv
            code = main_fn(args)
        except ValueError as e:
            message = " ".join(str(e).split()) or type(e).__name__
            print(f"{prog}: error: {message}", file=sys.stderr)
            return EXIT_BAD_INPUT
        except CellsFailed as e:
            if is_main_rank():
                print(f"{prog}: error: {e}", file=sys.stderr)
            return EXIT_CELLS_FAILED
        except MainRankFailed as e:  # under torchrun: rank 0 printed it
            return e.code
        except CellFailedUnderDDP as e:
            print(f"{prog}: error: {e}", file=sys.stderr)
            return EXIT_CELLS_FAILED
        except OSError as e:  # a full disk, a store made read-only mid-run
            print(f"{prog}: error: cannot write ({' '.join(str(e).split())}); the records stored so far are "
                  "whole and a rerun of the same command computes only the others", file=sys.stderr)
            return EXIT_CELLS_FAILED
        except KeyboardInterrupt as e:
            signum = getattr(e, "signum", signal.SIGINT)
            print(f"{prog}: {'terminated' if signum == signal.SIGTERM else 'interrupted'}; the finished "
                  "cells are stored and a rerun of the same command computes only the others", file=sys.stderr)
            return 128 + int(signum)
    return 0 if code is None else int(code)


def _prog(main_fn: Callable) -> str:
    module = getattr(main_fn, "__module__", "") or ""
    if module == "__main__":
        spec = getattr(sys.modules["__main__"], "__spec__", None)
        module = spec.name if spec is not None else Path(sys.argv[0]).name
    return f"python -m {module}" if module else "study"
