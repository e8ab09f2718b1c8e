"""Studies: grids of searches, each answering one question of the paper (DESIGN.md, "Studies").

Each study is a module that defines ``STUDY``, a :class:`sltsim.studies.study.Study` (its
name, preset keys, grid, table, format and figures), runnable as ``python -m sltsim.studies
<name>`` or ``python -m sltsim.studies.<name>``; both commands, and ``python -m
sltsim.figures``, find the studies by :func:`sltsim.studies.study.discover`. They are built on
:mod:`sltsim.studies.runner` (grid -> cells -> executor), :mod:`sltsim.studies.store` (one
JSON line per finished cell), :mod:`sltsim.studies.presets` (TOML presets in
``sltsim/presets``), :mod:`sltsim.studies.cli` (the shared flags) and
:mod:`sltsim.studies.aggregate` (means, intervals and groupings over seeds).
"""
