"""``python -m sltsim.studies NAME [flags]``: run the study NAME (the one entry point).

NAME is any study :func:`~sltsim.studies.study.discover` finds (each module of
``sltsim.studies`` that defines ``STUDY``); the flags are that study's, exactly as
``python -m sltsim.studies.NAME [flags]`` takes them, with the same output.
``python -m sltsim.studies`` alone, or with ``--help``, lists the studies.
"""

from __future__ import annotations

import sys
from typing import Optional, Sequence

from sltsim.studies.study import STUDY_PACKAGES, discover

PROG = "python -m sltsim.studies"
EXIT_BAD_INPUT = 2


def usage(studies: dict) -> str:
    width = max((len(name) for name in studies), default=0)
    lines = [f"usage: {PROG} NAME [flags]   ({PROG} NAME --help: the study's flags)", "", "studies:"]
    for name, study in studies.items():
        summary = (study.doc or "").strip().splitlines()[0] if (study.doc or "").strip() else ""
        lines.append(f"  {name:<{width}}  {summary}")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None, packages: Sequence[str] = STUDY_PACKAGES) -> int:
    """Run ``argv[0]``'s study with the flags ``argv[1:]``; returns the exit code.

    ``packages`` are the packages searched for studies (a test adds its own).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    studies = discover(packages)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage(studies), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else EXIT_BAD_INPUT
    name, flags = argv[0], argv[1:]
    if name not in studies:
        print(f"{PROG}: error: unknown study {name!r}; known: {', '.join(studies) or 'none'}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return studies[name].cli(flags, prog=f"{PROG} {name}")


if __name__ == "__main__":
    sys.exit(main())
