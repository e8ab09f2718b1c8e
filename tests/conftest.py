import os

os.environ.setdefault("MPLBACKEND", "Agg")

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=25, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci")


@pytest.fixture(scope="session")
def computed_stores(tmp_path_factory):
    """``store(study)``: the path of a study's default-preset store computed from empty (once per
    session, ``--workers 2``), laid out as ``ROOT/<study>/<study>.jsonl`` like ``studies/records``.
    For the studies whose records are not kept in git (``recovery``, ``iterative``)."""
    import importlib

    from sltsim.studies.cli import run_study, study_parser

    root, stores = tmp_path_factory.mktemp("computed"), {}

    def store(name: str):
        if name not in stores:
            module = importlib.import_module(f"sltsim.studies.{name}")
            argv = ["--out", str(root / name), "--workers", "2", "--no-progress"]
            assert run_study(module.main, argv, parser=study_parser(name, module.__doc__)) == 0
            stores[name] = root / name / f"{name}.jsonl"
        return stores[name]

    store.root = root
    return store
