"""Studies: grids of searches, each answering one question of the paper (DESIGN.md, "Studies").

Each study is a module runnable as ``python -m sltsim.studies.<name>``, built on
:mod:`sltsim.studies.runner` (grid -> cells -> executor), :mod:`sltsim.studies.store`
(one JSON line per finished cell), :mod:`sltsim.studies.presets` (TOML presets in the
top-level ``studies/`` folder) and :mod:`sltsim.studies.cli` (the shared flags).
"""
