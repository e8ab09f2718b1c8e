"""The single-run CLI: ``python -m sltsim --method ep --model mlp:64,256,256,10 --data digits ...``.

Progress goes to stderr; with ``--json`` the last line of stdout is the run's
record. ``--config run.toml`` reads the run's fields from a TOML file (flags given
as well override it), ``--out FILE.jsonl`` appends the record to a record store
(as a study does), ``--save-ticket FILE.npz`` saves the final masks and scores.

Exit status: 0 done; 2 bad input (one line naming the field, the value and what is
allowed); 3 the run diverged (its record says why); 130 interrupted by Ctrl-C
(SIGINT): one line, and nothing is written to ``--out`` or ``--save-ticket``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
from pathlib import Path
from typing import Sequence

from sltsim.config import GROUPS as CONFIG_GROUPS
from sltsim.config import RunConfig

EXIT_BAD_INPUT = 2
EXIT_DIVERGED = 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, the shell's convention for Ctrl-C

#: Each RunConfig field's ``--help`` text lives with the field (``metadata`` of
#: :func:`dataclasses.field`, in its group of :mod:`sltsim.config`); these are views of them.
HELP = {f.name: f.metadata.get("help") for f in dataclasses.fields(RunConfig) if "help" in f.metadata}


#: ``--help`` groups, in order: the config's groups (:data:`sltsim.config.GROUPS`), each
#: with its ``about``, then the CLI's own options. A field without a group would land in
#: FALLBACK_GROUP (a test asserts none does).
GROUPS = {**{group.name: group.about for group in CONFIG_GROUPS}, "output": "where the run's results go"}
FALLBACK_GROUP = "other options"
FIELD_GROUPS = {f.name: f.metadata["group"] for f in dataclasses.fields(RunConfig) if "group" in f.metadata}


def choices() -> dict[str, tuple[str, ...]]:
    """The allowed values of the RunConfig fields that name one of a set, from the registries."""
    from sltsim import registry
    from sltsim.data import PLANTED
    from sltsim.engine.schedules import GRANULARITIES
    from sltsim.torch_backend.names import TORCH_DATASETS

    registry.load()
    return {
        "method": tuple(registry.METHODS),
        "data": tuple(dict.fromkeys((*registry.DATASETS, PLANTED, *TORCH_DATASETS))),
        "schedule": tuple(registry.SCHEDULES), "weight_init": tuple(registry.WEIGHT_INITS),
        "score_init": tuple(registry.SCORE_INITS), "plant": tuple(registry.PLANTS),
        "dtype": ("float32", "float64"), "backend": ("numpy", "torch"),
        "inputs": ("gaussian", *registry.DATASETS), "task": ("classification", "regression"),
        "iterand_ranking": ("raw", "abs"), "schedule_granularity": tuple(GRANULARITIES),
    }


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, no usage dump
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _float_tuple(text: str) -> tuple:
    """'0.75,0.875' -> (0.75, 0.875); '' -> ()."""
    try:
        return tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _default_text(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, tuple):
        return ",".join(map(str, value)) or "none"
    return "unset" if value is None else str(value)


def build_parser() -> argparse.ArgumentParser:
    """The parser. RunConfig flags default to SUPPRESS, so the namespace holds only the
    flags given (they override ``--config``); the defaults are shown in the help."""
    from sltsim import __version__

    parser = _Parser(prog="python -m sltsim", allow_abbrev=False, usage="%(prog)s [--config RUN.toml] [options]",
                     description=(
        "Run one strong-lottery-ticket search (edge-popup or a variant) and report accuracy and "
        "the dying ratio. Progress goes to stderr. NOTE: --prune-rate k is the fraction of edges "
        "MASKED (remaining = 1 - k); hidden-networks' --prune-rate is the fraction kept."),
        epilog="Exit status: 0 done, 2 bad input, 3 diverged, 130 interrupted (Ctrl-C).")
    groups = {name: parser.add_argument_group(name, about) for name, about in GROUPS.items()}
    allowed = choices()
    for f in dataclasses.fields(RunConfig):
        group = groups.get(FIELD_GROUPS.get(f.name)) or groups.setdefault(
            FALLBACK_GROUP, parser.add_argument_group(FALLBACK_GROUP))
        help_text = f"{HELP.get(f.name, f.name)} (default: {_default_text(f.default)})"
        common = dict(dest=f.name, default=argparse.SUPPRESS, help=help_text)
        if isinstance(f.default, bool):
            group.add_argument(_flag(f.name), action=argparse.BooleanOptionalAction, **common)
            continue
        if isinstance(f.default, tuple):
            group.add_argument(_flag(f.name), type=_float_tuple, metavar="K1,K2,...", **common)
            continue
        kind = {int: int, float: float, str: str}.get(type(f.default), float)
        if f.type == "Optional[str]":
            kind = str
        metavar = "{" + ",".join(allowed[f.name]) + "}" if f.name in allowed else f.name.upper()
        group.add_argument(_flag(f.name), type=kind, metavar=metavar, **common)
    out = groups["output"]
    out.add_argument("--config", type=Path, metavar="RUN.toml",
                     help="read the run's fields from a TOML file (keys: the flags' names with "
                          "underscores, e.g. prune_rate = 0.5); flags given as well override it")
    out.add_argument("--out", type=Path, metavar="FILE.jsonl",
                     help="append the record to this record store (one JSON line per run, as the studies "
                          "write); not written when the run is interrupted")
    out.add_argument("--save-ticket", type=Path, metavar="FILE.npz",
                     help="save the final masks, scores and weights with the config "
                          "(np.load(FILE, allow_pickle=False) reads it; see docs/api.md)")
    out.add_argument("--json", action="store_true", help="print the record as one JSON line (last line of stdout)")
    out.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    out.add_argument("--list-methods", action="store_true", help="list the search methods and exit")
    out.add_argument("--version", action="version", version=f"sltsim {__version__}")
    return parser


def read_config_file(path: Path) -> dict:
    """The fields of a run TOML file; ValueError (one line, naming the file) if unreadable."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    try:
        with open(path, "rb") as fh:
            values = tomllib.load(fh)
    except FileNotFoundError:
        raise ValueError(f"config {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise ValueError(f"config {str(path)!r} is a directory, not a TOML file") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"config {str(path)!r} is not valid UTF-8 ({e.reason})") from None
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"config {str(path)!r} is not valid TOML: {e}") from None
    except OSError as e:
        raise ValueError(f"config {str(path)!r} cannot be read: {e.strerror}") from None
    nested = [k for k, v in values.items() if isinstance(v, dict)]
    if nested:
        raise ValueError(f"config {str(path)!r}: tables are not allowed, got [{nested[0]}]; "
                         f"write the run's fields at the top level")
    return values


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """The RunConfig of ``--config`` (if given) overridden by the flags given."""
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(RunConfig) if hasattr(args, f.name)}
    path = getattr(args, "config", None)
    values = given if path is None else {**read_config_file(path), **given}
    config = RunConfig(**values) if path is None else RunConfig.from_dict(values, source=f"config {str(path)!r}")
    _check_inits_kept(config, values)
    return config


def _check_inits_kept(config: RunConfig, given: dict) -> None:
    """Refuse an init flag that the method's own init would replace: a value equal to the EP
    default reads as "unset" to the config, so --method iterand --score-init kaiming_uniform
    would otherwise run iterand's Kaiming-uniform-for-ReLU scores without a word."""
    for name in ("weight_init", "score_init"):
        if name in given and getattr(config, name) != given[name]:
            raise ValueError(f"{name} {given[name]!r} is EP's default, which method {config.method} replaces by "
                             f"its own ({getattr(config, name)!r}); add --no-method-inits to use {given[name]!r}")


def _check_out(path: Path) -> None:
    """A one-line ValueError before the run when ``--out`` cannot be appended to."""
    if path.is_dir():
        raise ValueError(f"out {str(path)!r} is a directory; give a .jsonl file")
    parent = path.parent if str(path.parent) else Path(".")
    existing = next((p for p in (parent, *parent.parents) if p.exists()), Path("."))
    if not existing.is_dir():
        raise ValueError(f"out {str(path)!r}: {str(existing)!r} is not a folder")
    if not os.access(path if path.exists() else existing, os.W_OK):
        raise ValueError(f"out {str(path)!r} is not writable")


#: the record fields the summary prints (those the run has, finite), in this order
SUMMARY_FIELDS = ("test_acc", "train_acc", "loss", "test_loss", "dying_ratio", "k_minus_d", "reverted_ratio",
                  "false_negative_dying", "true_negative_dying", "enrichment", "recall", "recall_above_chance",
                  "aligned_recall", "teacher_agreement", "train_unexplained", "test_unexplained")


def _summary(record: dict) -> str:
    cfg = record["config"]
    lines = [f"{cfg['method']} on {cfg['data']} with {cfg['model']}, k={record['prune_rate']:.3f}, seed {cfg['seed']}:"]
    for name in SUMMARY_FIELDS:
        value = record.get(name)
        if isinstance(value, float) and math.isfinite(value):  # NaN: not defined for this run (e.g. acc on regression)
            lines.append(f"  {name:<22} {value:.4f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print("python -m sltsim: interrupted (Ctrl-C); no record or ticket was written", file=sys.stderr)
        return EXIT_INTERRUPTED


def _interrupted(prog: str, config: RunConfig) -> int:
    """One line for a run stopped by Ctrl-C, naming the checkpoint that survives it (torch)."""
    kept = (f"; the checkpoint {config.checkpoint} holds the last finished epoch (--resume continues from it)"
            if config.checkpoint is not None else "")
    print(f"{prog}: interrupted (Ctrl-C); no record or ticket was written{kept}", file=sys.stderr)
    return EXIT_INTERRUPTED


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help/--version (0) or a bad flag (2, one line already printed)
        return int(e.code or 0)
    if args.list_methods:
        from sltsim.search import METHODS

        for name, m in METHODS.items():
            print(f"{name:<16} {m.description}")
        return 0
    from sltsim.api import check_ticket_path, run

    try:
        config = config_from_args(args)
        if args.out is not None:
            _check_out(args.out)
        if args.save_ticket is not None:
            check_ticket_path(args.save_ticket)
    except ValueError as e:
        print(f"{parser.prog}: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if config.backend == "torch":
        try:
            import sltsim.torch_backend.run  # noqa: F401  (torch itself)
        except ImportError as e:
            print(f"{parser.prog}: error: backend torch needs torch: pip install torch==2.13.0 && "
                  f"pip install -e '.[torch]' ({e})", file=sys.stderr)
            return EXIT_BAD_INPUT
    try:
        record = run(config, progress=not args.no_progress, save_ticket=args.save_ticket)
    except (ValueError, ImportError) as e:  # bad input, or a data set whose extra is not installed
        print(f"{parser.prog}: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return _interrupted(parser.prog, config)
    from sltsim.provenance import stamp

    record = stamp(record)  # the printed and the stored record are the same, provenance included
    if args.out is not None:
        from sltsim.studies.store import RecordStore

        RecordStore(args.out).append(record)
    print(json.dumps(record) if args.json else _summary(record))
    if args.out is not None:
        print(f"{parser.prog}: record appended to {args.out}", file=sys.stderr)
    if args.save_ticket is not None and record["status"] == "ok":
        print(f"{parser.prog}: ticket saved to {args.save_ticket}", file=sys.stderr)
    if record["status"] == "diverged":
        print(f"{parser.prog}: diverged: {record.get('reason', '')}", file=sys.stderr)
        return EXIT_DIVERGED
    return 0


if __name__ == "__main__":
    sys.exit(main())
