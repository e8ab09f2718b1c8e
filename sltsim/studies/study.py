"""A study as data: its name, its preset keys, and the four functions that make it.

Every study module defines ``STUDY = Study(...)``; nothing else registers it. The one
entry point ``python -m sltsim.studies NAME`` (:mod:`sltsim.studies.__main__`) and
``python -m sltsim.figures`` find it with :func:`discover`, which imports every module
of the study packages and keeps those that define a :class:`Study`. A study runs as

    preset  = the [config] and [study] tables of its preset (``study.keys`` checks [study])
    configs = study.grid(preset)                      # one RunConfig per cell
    records = the cells run (or read back from the store) by study.cell
    rows    = study.table(records)                    # what --json prints
    text    = study.format(rows, records, preset)     # the printed tables
    figures = study.figures(records, out_dir)         # the paths it wrote

and ``python -m sltsim.figures`` calls only ``study.figures`` on the stored records, so a
figure never retrains. The old ``python -m sltsim.studies.NAME`` runs the same
:meth:`Study.cli` with the same flags and output.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

from sltsim.studies.runner import search_cell

#: the packages whose modules :func:`discover` searches for a ``STUDY``
STUDY_PACKAGES = ("sltsim.studies",)


@dataclass(frozen=True)
class Study:
    """One study: a grid of cells, its tables and its figures.

    Parameters
    ----------
    name : the study's name: its store ``<name>.jsonl``, its presets
        ``sltsim/presets/<name>.<preset>.toml``, its page ``studies/<name>.md``.
    keys : the ``[study]`` keys its presets may set and their types (see
        :func:`~sltsim.studies.presets.load_preset`).
    grid : ``grid(preset) -> list[RunConfig]``, ``preset`` as ``load_preset`` returns it;
        a bad value raises ValueError in one line.
    table : ``table(records) -> rows``: the rows printed by ``--json`` (JSON-able).
    format : ``format(rows, records, preset) -> str``: the printed tables.
    figures : ``figures(records, out_dir) -> list[Path]``: draws from records, never trains.
    doc : the module's docstring; its first line is the ``--help`` description.
    cell : ``cell(config) -> record``, run once per grid config (module-level, so that
        worker processes import it); by default :func:`~sltsim.studies.runner.search_cell`,
        which runs each config on its ``backend`` (the NumPy engine, or torch).
    """

    name: str
    keys: Mapping[str, Any]
    grid: Callable[[dict], list]
    table: Callable[[list], Any]
    format: Callable[[Any, list, dict], str]
    figures: Callable[[list, Path], list]
    doc: Optional[str] = None
    cell: Callable[[Any], dict] = search_cell

    def __post_init__(self):
        if not (isinstance(self.name, str) and self.name.isidentifier()):
            raise ValueError(f"Study name must be a Python identifier (it names the store, the presets and "
                             f"the module), got {self.name!r}")
        for attr in ("grid", "table", "format", "figures", "cell"):
            if not callable(getattr(self, attr)):
                raise ValueError(f"Study {self.name}: {attr} must be callable, got {getattr(self, attr)!r}")

    def main(self, args) -> int:
        """Run the grid of the flags ``args`` (from :meth:`parser`), print the tables, draw the figures
        (under torchrun: every rank runs the grid, rank 0 alone prints and draws)."""
        from sltsim.studies.cli import exit_code, is_main_rank, preset_from_args, report, run_grid_from_args

        preset = preset_from_args(args, allowed=self.keys)
        records = run_grid_from_args(args, self.grid(preset), self.cell)
        if not is_main_rank():  # under torchrun rank 0 prints the tables and draws the figures
            return exit_code(args)
        rows = self.table(records)
        return report(args, self.format(rows, records, preset), self.figures(records, Path(args.figures)), rows)

    def parser(self, prog: Optional[str] = None):
        """The study's argument parser: the shared flags of :func:`~sltsim.studies.cli.study_parser`."""
        from sltsim.studies.cli import study_parser

        return study_parser(self.name, self.doc, prog=prog)

    def cli(self, argv: Optional[Sequence[str]] = None, prog: Optional[str] = None) -> int:
        """:meth:`main` behind :func:`~sltsim.studies.cli.run_study`: bad input is one line and exit 2."""
        from sltsim.studies.cli import run_study

        return run_study(self.main, argv, parser=self.parser(prog))

    def draw(self, records_dir, out_dir) -> list[Path]:
        """The figures of the records stored under ``records_dir`` (``<name>/<name>.jsonl``)."""
        from sltsim.study_records import load_records

        return self.figures(load_records(records_dir, self.name), Path(out_dir))


def discover(packages: Sequence[str] = STUDY_PACKAGES) -> dict[str, Study]:
    """``{name: Study}`` of every module in ``packages`` that defines ``STUDY``, sorted by name.

    Every module is imported, so an import error in any of them propagates (a broken study
    is never silently left out). Raises ValueError when a module's ``STUDY`` is not a
    :class:`Study` or when two modules define studies of the same name.
    """
    found: dict[str, Study] = {}
    where: dict[str, str] = {}
    for package_name in packages:
        package = importlib.import_module(package_name)
        for info in pkgutil.iter_modules(package.__path__, prefix=package_name + "."):
            if info.name.rsplit(".", 1)[-1] == "__main__":
                continue
            module = importlib.import_module(info.name)
            study = getattr(module, "STUDY", None)
            if study is None:
                continue
            if not isinstance(study, Study):
                raise ValueError(f"{info.name}.STUDY must be a sltsim.studies.study.Study, got {study!r}")
            if study.name in found:
                raise ValueError(f"two modules define the study {study.name!r}: {where[study.name]} and {info.name}")
            found[study.name], where[study.name] = study, info.name
    return dict(sorted(found.items()))
