"""``python -m sltsim.figures``: redraw every study's figures from stored records.

Nothing here trains. A study registers a drawing function::

    @register("dying_edges")
    def draw(records_dir: Path, out_dir: Path) -> list[Path]:
        records = load_records(records_dir, "dying_edges")
        ...
        return save_figure(fig, out_dir / "dying_edges.png")

and the command imports the study modules listed in :data:`STUDY_MODULES` (those that
exist), then calls each registered function with ``--records`` and ``--out``.

Where it reads and writes: ``--records`` defaults to ``results/default``, where the
studies' default preset stores its records (``results/<preset>/<study>/<study>.jsonl``),
and each figure is written beside its store unless ``--out`` names a folder. The
committed figures are redrawn only when asked, by
``python -m sltsim.figures --records studies/records --out figures``. A store whose
records come from more than one preset, or with a corrupt line, is refused in one line
(exit 2).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from pathlib import Path
from typing import Callable, Optional, Sequence

EXIT_BAD_INPUT = 2
RESULTS = Path("results")

#: Modules whose import registers figures; a module that does not exist (yet) is skipped.
STUDY_MODULES = [
    "sltsim.studies.dying_edges",
    "sltsim.studies.init_effects",
    "sltsim.studies.iterative",
    "sltsim.studies.score_ranks",
    "sltsim.studies.hyperparams",
    "sltsim.studies.width_scaling",
    "sltsim.studies.sanity_checks",
    "sltsim.studies.recovery",
]

DrawFn = Callable[[Path, Path], list]

#: study name -> function(records_dir, out_dir) -> the paths it wrote
FIGURES: dict[str, DrawFn] = {}


def register(study: str) -> Callable[[DrawFn], DrawFn]:
    """Decorator: ``fn(records_dir, out_dir) -> list[Path]`` draws ``study``'s figures."""
    def decorator(fn: DrawFn) -> DrawFn:
        FIGURES[study] = fn
        return fn
    return decorator


def import_studies(modules: Sequence[str] = STUDY_MODULES) -> list[str]:
    """Import the study modules that exist (registering their figures); return their names.

    Only a missing study module itself is skipped: an import error inside one propagates.
    """
    imported = []
    for name in modules:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
            continue
        imported.append(name)
    return imported


def records_path(records_dir, study: str) -> Path:
    """Where a study's store lives under ``records_dir``: ``<records_dir>/<study>/<study>.jsonl``
    (the layout of the studies' default ``--out results/<study>``)."""
    return Path(records_dir) / study / f"{study}.jsonl"


def load_records(records_dir, study: str) -> list[dict]:
    """The stored records of ``study``; ``FileNotFoundError`` (naming the file and the command
    that makes it) when there are none."""
    from sltsim.studies.store import RecordStore

    path = records_path(records_dir, study)
    if not path.is_file():
        raise FileNotFoundError(f"no records for {study} at {path}; run python -m sltsim.studies.{study} "
                                f"--out {path.parent}")
    records = RecordStore(path).records()
    presets = sorted({r["preset"] for r in records if isinstance(r.get("preset"), str)})
    if len(presets) > 1:
        raise ValueError(f"{path} mixes the records of presets {', '.join(presets)}; a figure shows one "
                         "preset: give each preset its own --out (the default, results/<preset>/<study>)")
    return records


def save_figure(fig, path, formats: Sequence[str] = ("png",)) -> list[Path]:
    """Save ``fig`` as ``path`` in each format (same stem) with reproducible metadata; close it.

    Returns the paths written. PNG and SVG carry no date and SVG ids are salted with a
    constant, so the same records give byte-identical files with the same matplotlib.
    """
    import matplotlib
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats:
        target = path.with_suffix("." + fmt)
        metadata = {"Software": None} if fmt == "png" else {"Date": None} if fmt == "svg" else None
        with matplotlib.rc_context({"svg.hashsalt": "sltsim"}):  # fixed SVG element ids
            fig.savefig(target, format=fmt, dpi=150, bbox_inches="tight", metadata=metadata)
        written.append(target)
    plt.close(fig)
    return written


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, no usage dump
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m sltsim.figures",
                     description="Redraw the studies' figures from their stored records; nothing is trained.",
                     formatter_class=argparse.ArgumentDefaultsHelpFormatter, allow_abbrev=False)
    parser.add_argument("--records", type=Path, default=RESULTS / "default", metavar="DIR",
                        help="folder holding one <study>/<study>.jsonl store per study: results/PRESET is "
                             "where a study's preset PRESET stores them, studies/records the committed ones")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="folder the figures are written to (default: beside each study's store); "
                             "--records studies/records --out figures redraws the committed figures")
    parser.add_argument("--study", default=None, metavar="NAME",
                        help="redraw only this study's figures (default: every registered study)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    import_studies()
    # run as ``python -m sltsim.figures`` this module is __main__; the studies register
    # into the importable sltsim.figures, so read the registry from there
    figures = importlib.import_module("sltsim.figures").FIGURES
    if args.study is not None and args.study not in figures:
        print(f"{parser.prog}: error: no figures registered for study {args.study!r}; known: "
              f"{', '.join(sorted(figures)) or 'none'}", file=sys.stderr)
        return EXIT_BAD_INPUT
    studies = [args.study] if args.study is not None else sorted(figures)
    drawn, skipped = 0, []
    for study in studies:
        out = args.out if args.out is not None else records_path(args.records, study).parent
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                paths = figures[study](args.records, out)
            for warning in caught:
                print(f"{parser.prog}: warning: {' '.join(str(warning.message).split())}", file=sys.stderr)
        except ValueError as e:  # a corrupt line, a mixed store
            print(f"{parser.prog}: error: {' '.join(str(e).split())}", file=sys.stderr)
            return EXIT_BAD_INPUT
        except FileNotFoundError as e:
            if args.study is not None:
                print(f"{parser.prog}: error: {e}", file=sys.stderr)
                return EXIT_BAD_INPUT
            skipped.append(f"skipped {study}: {e}")
            continue
        drawn += 1
        for path in paths:
            print(path)
    if drawn:  # with nothing drawn, the one error line below says it all
        for line in skipped:
            print(line, file=sys.stderr)
    else:
        print(f"{parser.prog}: error: no figure drawn: no study has records under {args.records} (a study "
              "run with --preset NAME stores them under results/NAME; the committed ones are in studies/records)",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


if __name__ == "__main__":
    sys.exit(main())
