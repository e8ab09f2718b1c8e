"""``python -m sltsim.figures``: redraw every study's figures from stored records.

Nothing here trains. The studies are found, not listed: every module of
``sltsim.studies`` that defines ``STUDY`` (a :class:`sltsim.studies.study.Study`) is one,
and its ``figures(records, out_dir)`` draws from the records stored under ``--records``
(``<study>/<study>.jsonl``) into ``--out``, saving each figure with :func:`save_figure`.

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

from sltsim.study_records import load_records, records_path  # noqa: F401  (re-exported)

EXIT_BAD_INPUT = 2
RESULTS = Path("results")

DrawFn = Callable[[Path, Path], list]

#: study name -> function(records_dir, out_dir) -> the paths it wrote; filled by :func:`import_studies`
FIGURES: dict[str, DrawFn] = {}


def import_studies(packages: Optional[Sequence[str]] = None) -> list[str]:
    """Find every study (:func:`sltsim.studies.study.discover`: each module of ``packages``,
    by default ``sltsim.studies``, that defines a ``STUDY``), register its figures in
    :data:`FIGURES`; return the names.

    Every module is imported, so an import error in one propagates: no study is skipped.
    """
    from sltsim.studies.study import discover

    studies = discover() if packages is None else discover(packages)
    for name, study in studies.items():
        FIGURES[name] = study.draw
    return list(studies)


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
    # run as ``python -m sltsim.figures`` this module is __main__; the studies' modules import
    # sltsim.figures (for save_figure), so keep one registry: the importable module's
    registry = importlib.import_module("sltsim.figures")
    registry.import_studies()
    figures = registry.FIGURES
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
