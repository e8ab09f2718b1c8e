"""The flags every study shares, and the wrapper that turns bad input into exit code 2.

A study module does::

    def main(args) -> int: ...            # args from study_parser(...).parse_args
    if __name__ == "__main__":
        sys.exit(run_study(main, sys.argv[1:], parser=study_parser("dying_edges", __doc__)))

Bad flags print one line and exit 2 (as :mod:`sltsim.cli`); a ``ValueError`` raised by
the study (a bad preset, an unreachable scheduler) prints one line and exits 2 too.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Callable, Mapping, Optional, Sequence

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
SCHEDULER_PATTERN = re.compile(r"^[a-z][a-z0-9+.-]*://[^\s:/]+:\d+$")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, no usage dump
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _scheduler(text: str) -> str:
    if not SCHEDULER_PATTERN.match(text):
        raise argparse.ArgumentTypeError(f"must be an address like tcp://HOST:PORT, got {text!r}")
    return text


def study_parser(study: str, description: Optional[str]) -> argparse.ArgumentParser:
    """The argument parser of ``python -m sltsim.studies.<study>`` with the shared flags.

    The study may add its own flags. ``args.study`` holds the study's name, and
    :func:`store_path`, :func:`preset_from_args` and :func:`run_grid_from_args` read the
    shared flags back.
    """
    parser = _Parser(prog=f"python -m sltsim.studies.{study}",
                     description=(description or "").strip().splitlines()[0] if description else None,
                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    presets = parser.add_mutually_exclusive_group()
    presets.add_argument("--quick", action="store_true",
                         help="run the small preset (sltsim/presets/%s.quick.toml): a minute or less" % study)
    presets.add_argument("--preset", default="default", metavar="NAME|PATH",
                         help=f"preset name (sltsim/presets/{study}.NAME.toml: quick, default, paper) or a TOML file")
    parser.add_argument("--out", type=Path, default=Path("results") / study, metavar="DIR",
                        help=f"folder of the record store {study}.jsonl; a rerun skips the cells it holds")
    parser.add_argument("--seeds", type=_positive_int, default=None, metavar="N",
                        help="number of seeds per setting (overrides the preset)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", type=_positive_int, default=1, metavar="N",
                       help="local worker processes (1 runs in this process)")
    where.add_argument("--scheduler", type=_scheduler, default=None, metavar="tcp://HOST:PORT",
                       help="run the cells on the Dask cluster of this scheduler instead")
    parser.add_argument("--json", action="store_true",
                        help="print the study's rows as one JSON list on the last line of stdout")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.add_argument("--figures", type=Path, default=Path("figures"), metavar="DIR",
                        help="folder the study's figures are written to")
    parser.set_defaults(study=study)
    return parser


def preset_name(args: argparse.Namespace) -> str:
    """The preset the flags ask for: ``quick`` with ``--quick``, else ``--preset``."""
    return "quick" if args.quick else args.preset


def preset_from_args(args: argparse.Namespace, allowed: Optional[Mapping] = None) -> dict:
    """:func:`~sltsim.studies.presets.load_preset` for the flags, with ``--seeds`` applied
    to the ``[study]`` table's ``seeds`` key."""
    from sltsim.studies.presets import load_preset

    preset = load_preset(args.study, preset_name(args), allowed)
    if args.seeds is not None:
        preset["study"]["seeds"] = args.seeds
    return preset


def store_path(args: argparse.Namespace) -> Path:
    """``<--out>/<study>.jsonl``."""
    return Path(args.out) / f"{args.study}.jsonl"


def run_grid_from_args(args: argparse.Namespace, configs: Sequence, cell: Callable) -> list[dict]:
    """:func:`~sltsim.studies.runner.run_grid` with the store, workers, scheduler and bar of the flags."""
    from sltsim.studies.runner import run_grid

    return run_grid(configs, cell, store_path(args), workers=args.workers, scheduler=args.scheduler,
                    progress=not args.no_progress, desc=args.study)


def print_json(rows) -> None:
    """The study's rows as one JSON line (the last line of stdout for ``--json``)."""
    from sltsim.studies.store import normalise

    print(json.dumps(normalise(rows), sort_keys=True))


def report(args: argparse.Namespace, text: str, figures, rows) -> int:
    """The end of every study's main: its tables (``text``), the figures it wrote, and with
    ``--json`` its rows as the last line of stdout. Returns the exit code 0."""
    print(text)
    for figure in figures:
        print(f"figure: {figure}")
    if args.json:
        print_json(rows)
    return 0


def run_study(main_fn: Callable, argv: Optional[Sequence[str]] = None,
              parser: Optional[argparse.ArgumentParser] = None) -> int:
    """Call the study's main and turn bad input into one stderr line and exit code 2.

    With ``parser``, ``main_fn(parser.parse_args(argv))``; without, ``main_fn(argv)``
    (the study parses). A ``ValueError`` prints ``PROG: error: MESSAGE`` and returns 2,
    with no traceback; Ctrl-C returns 130 and says that a rerun resumes. Returns
    ``main_fn``'s exit code (None counts as 0).
    """
    prog = parser.prog if parser is not None else _prog(main_fn)
    try:
        code = main_fn(parser.parse_args(argv) if parser is not None else argv)
    except ValueError as e:
        message = " ".join(str(e).split()) or type(e).__name__
        print(f"{prog}: error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; the finished cells are stored and a rerun of the same "
              "command computes only the others", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0 if code is None else int(code)


def _prog(main_fn: Callable) -> str:
    module = getattr(main_fn, "__module__", "") or ""
    if module == "__main__":
        spec = getattr(sys.modules["__main__"], "__spec__", None)
        module = spec.name if spec is not None else Path(sys.argv[0]).name
    return f"python -m {module}" if module else "study"
