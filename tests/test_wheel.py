"""The package stands on its own: a wheel built from the source installs in a fresh venv and
runs a study from outside the source tree (presets are package data, nothing reads the checkout).

The venv sees the system site-packages (so NumPy and Numba are not downloaded again),
but sltsim itself must come from the wheel: the test asserts where it was imported from.
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _build_wheel(tmp: Path) -> Path:
    """Build from a copy of the sources, so that the build leaves nothing in the checkout."""
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(REPO / "sltsim", src / "sltsim", ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.nbi",
                                                                                   "*.nbc"))
    # with setuptools installed, build offline with it; else pip fetches it into an isolated build
    isolation = ["--no-build-isolation"] if importlib.util.find_spec("setuptools") else []
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-q", "-w",
                          str(tmp / "dist"), str(src)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    wheels = list((tmp / "dist").glob("sltsim-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_wheel_installs_and_runs_a_study_outside_the_source_tree(tmp_path):
    wheel = _build_wheel(tmp_path)
    venv = tmp_path / "venv"
    # no pip inside the venv (ensurepip is slow): this interpreter's pip installs into it
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True,
                   timeout=120)
    python = venv / "bin" / "python"
    out = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
                          "--no-index", "--ignore-installed", str(wheel)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]

    work = tmp_path / "work"  # outside the repository: nothing there to import or read
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["MPLBACKEND"] = "Agg"
    where = subprocess.run([str(python), "-c", "import json, sltsim, sltsim.studies.presets as p; "
                            "print(json.dumps([sltsim.__file__, p.__file__, sltsim.__version__]))"],
                           cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert where.returncode == 0, where.stderr
    package, presets, version = json.loads(where.stdout)
    site = (venv / "lib").resolve()
    assert Path(package).resolve().is_relative_to(site), f"sltsim imported from {package}, not the wheel"
    assert Path(presets).resolve().is_relative_to(site), presets
    assert not Path(package).resolve().is_relative_to(REPO)

    store = work / "results"
    run = subprocess.run([str(python), "-m", "sltsim.studies.dying_edges", "--quick", "--no-progress",
                          "--out", str(store)], cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, (run.stdout[-2000:], run.stderr[-2000:])
    assert "Traceback" not in run.stderr
    records = [json.loads(line) for path in store.rglob("*.jsonl") for line in path.read_text().splitlines()]
    assert records, f"no record under {store}"
    assert all(r["status"] == "ok" for r in records), {r["status"] for r in records}
    for r in records:
        assert 0.0 <= r["dying_ratio"] <= r["prune_rate"] + 1e-9, r["key"]  # d <= k, up to rounding
        assert r["test_acc"] is None or 0.0 <= r["test_acc"] <= 1.0, r["key"]  # None on regression
    # the single-run entry point of the wheel works too, and reports the same version
    version_out = subprocess.run([str(python), "-m", "sltsim", "--version"], cwd=work, env=env,
                                 capture_output=True, text=True, timeout=120)
    assert version_out.returncode == 0 and version_out.stdout.strip() == f"sltsim {version}"
