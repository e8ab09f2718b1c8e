"""The command-line flags every study shares (:func:`study_parser`), and the folders they name.

Bad flags print one line and exit 2 (``EXIT_BAD_INPUT``), as :mod:`sltsim.cli` does. ``--out``
defaults to ``results/<preset>/<study>`` (:func:`out_dir`), ``--figures`` to ``--out``.
What the flags do to a run is :mod:`sltsim.studies.cli`'s.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Optional

EXIT_BAD_INPUT = 2
MAX_SEEDS = 1000
RESULTS = Path("results")
SCHEDULER_PATTERN = re.compile(r"^[a-z][a-z0-9+.-]*://[^\s:/]+:\d+$")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, no usage dump
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")

    def parse_known_args(self, args=None, namespace=None):
        """Parse, then fill in the default ``--out`` and ``--figures``, which hang on the preset."""
        namespace, extras = super().parse_known_args(args, namespace)
        if getattr(namespace, "study", None) is not None and hasattr(namespace, "out"):
            namespace.out = out_dir(namespace)
            namespace.figures = figures_dir(namespace)
        return namespace, extras


def _integer(text: str, least: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    return _integer(text, 1, "a positive integer")


def _count(text: str) -> int:
    return _integer(text, 0, "an integer >= 0")


def _seed_count(text: str) -> int:
    value = _positive_int(text)
    if value > MAX_SEEDS:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_SEEDS}, got {text!r}")
    return value


def _scheduler(text: str) -> str:
    if not SCHEDULER_PATTERN.match(text):
        raise argparse.ArgumentTypeError(f"must be an address like tcp://HOST:PORT, got {text!r}")
    return text


def study_parser(study: str, description: Optional[str], prog: Optional[str] = None) -> argparse.ArgumentParser:
    """The argument parser of ``python -m sltsim.studies.<study>`` (or ``prog``) with the shared flags.

    The study may add its own flags. ``args.study`` holds the study's name, and
    :func:`store_path`, :func:`preset_from_args` and :func:`run_grid_from_args` read the
    shared flags back.
    """
    parser = _Parser(prog=prog or f"python -m sltsim.studies.{study}",
                     description=(description or "").strip().splitlines()[0] if description else None,
                     formatter_class=argparse.ArgumentDefaultsHelpFormatter, allow_abbrev=False)
    presets = parser.add_mutually_exclusive_group()
    presets.add_argument("--quick", action="store_true",
                         help="run the small preset (sltsim/presets/%s.quick.toml): a minute or less" % study)
    presets.add_argument("--preset", default="default", metavar="NAME|PATH",
                         help=f"preset name (sltsim/presets/{study}.NAME.toml: quick, default, paper) or a TOML file")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help=f"folder of the record store {study}.jsonl (default results/PRESET/{study}); "
                             "a rerun skips the cells it holds")
    parser.add_argument("--seeds", type=_seed_count, default=None, metavar="N",
                        help=f"number of seeds per setting, at most {MAX_SEEDS} (overrides the preset)")
    parser.add_argument("--recompute-stale", action="store_true",
                        help="compute again the stored cells that other code computed (another code "
                             "fingerprint; a rerun warns about them and reuses them otherwise)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", type=_positive_int, default=1, metavar="N",
                       help="local worker processes (1 runs in this process)")
    where.add_argument("--scheduler", type=_scheduler, default=None, metavar="tcp://HOST:PORT",
                       help="run the cells on the Dask cluster of this scheduler instead")
    parser.add_argument("--json", action="store_true",
                        help="print the study's rows as one JSON list on the last line of stdout")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    torch = parser.add_argument_group("torch backend (a preset with backend = \"torch\"); these say how "
                                      "a cell runs, never what it computes, so they leave every key alone")
    torch.add_argument("--device", default=None, metavar="cpu|cuda|cuda:N",
                       help="the device every cell runs on (overrides the preset)")
    torch.add_argument("--data-dir", default=None, metavar="DIR",
                       help="local folder of the image data set (cifar10, cifar100, svhn, imagenet)")
    torch.add_argument("--loader-workers", type=_count, default=None, metavar="N",
                       help="DataLoader worker processes per cell (overrides the preset)")
    torch.add_argument("--checkpoint-dir", type=Path, default=None, metavar="DIR",
                       help="checkpoint every cell to DIR/<key>.pt after each epoch and resume from there")
    parser.add_argument("--figures", type=Path, default=None, metavar="DIR",
                        help="folder the study's figures are written to (default: the --out folder); "
                             "the committed figures/ is rewritten only when named here")
    parser.set_defaults(study=study)
    return parser


def preset_name(args: argparse.Namespace) -> str:
    """The preset the flags ask for: ``quick`` with ``--quick``, else ``--preset``."""
    return "quick" if args.quick else args.preset


def preset_label(args: argparse.Namespace) -> str:
    """The preset's short name, as records and default folders carry it: ``quick``,
    ``default``, ``paper``, or a preset file's stem (``my.toml`` and ``dying_edges.my.toml``: ``my``)."""
    name = preset_name(args)
    text = str(name)
    if "/" in text or "\\" in text or text.endswith(".toml"):
        stem = Path(text).stem
        return stem[len(args.study) + 1:] if stem.startswith(args.study + ".") else stem
    return text


def out_dir(args: argparse.Namespace) -> Path:
    """``--out``, or by default ``results/<preset>/<study>``."""
    return Path(args.out) if args.out is not None else RESULTS / preset_label(args) / args.study


def figures_dir(args: argparse.Namespace) -> Path:
    """``--figures``, or by default the ``--out`` folder."""
    return Path(args.figures) if getattr(args, "figures", None) is not None else out_dir(args)
