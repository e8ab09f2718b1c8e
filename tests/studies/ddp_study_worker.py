"""One rank of the DDP study test: run ``python -m sltsim.studies ARGS`` and log what this rank did.

Usage: python -m torch.distributed.run --nproc_per_node 2 ... ddp_study_worker.py LOG_DIR WATCHED ARGS...
(with ``SLTSIM_TEST_RANK1_ARGS`` set, rank 1 appends those space-separated flags to ARGS).

Writes ``LOG_DIR/rank<R>.json``: the exit code, what the rank printed on stdout and stderr,
the keys of the cells it computed (calls of the runner's ``evaluate_cell``), and every
file-system call on a path under ``WATCHED`` (``os.open`` with any flags, ``os.mkdir``,
``os.replace``, ``os.rename``, ``open``), so that the test can tell which rank read or wrote
the study's outputs.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import json
import os
import sys


def main(log_dir: str, watched: str, argv: list[str]) -> None:
    import torch

    torch.set_num_threads(1)
    rank = int(os.environ["RANK"])
    if rank == 1 and os.environ.get("SLTSIM_TEST_RANK1_ARGS"):
        argv = argv + os.environ["SLTSIM_TEST_RANK1_ARGS"].split()
    root = os.path.realpath(watched)
    touched: list[list[str]] = []
    cells: list[str] = []

    def under(path) -> bool:
        try:
            real = os.path.realpath(os.fsdecode(path))
        except TypeError:  # a file descriptor
            return False
        return real == root or real.startswith(root + os.sep)

    def logged(name, function, path_at=0):
        def call(*args, **kwargs):
            if len(args) > path_at and under(args[path_at]):
                touched.append([name, os.fsdecode(args[path_at])])
            return function(*args, **kwargs)
        return call

    originals = {"open": builtins.open, "io_open": io.open, "os_open": os.open, "mkdir": os.mkdir,
                 "replace": os.replace, "rename": os.rename}
    builtins.open = io.open = logged("open", originals["open"])
    os.open, os.mkdir = logged("os.open", originals["os_open"]), logged("os.mkdir", originals["mkdir"])
    os.replace, os.rename = logged("os.replace", originals["replace"], 1), logged("os.rename", originals["rename"], 1)

    from sltsim.studies import runner
    from sltsim.studies.__main__ import main as studies_main

    evaluate = runner.evaluate_cell

    def counted(cell, config):
        cells.append(config.key())
        return evaluate(cell, config)

    runner.evaluate_cell = counted
    out, err = io.StringIO(), io.StringIO()
    result = {"rank": rank, "world": int(os.environ["WORLD_SIZE"])}
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            result["code"] = studies_main(argv)
    finally:
        builtins.open, io.open, os.open = originals["open"], originals["io_open"], originals["os_open"]
        os.mkdir, os.replace, os.rename = originals["mkdir"], originals["replace"], originals["rename"]
        result.update(stdout=out.getvalue(), stderr=err.getvalue(), cells=cells, touched=touched)
        with open(os.path.join(log_dir, f"rank{rank}.json"), "w") as f:
            json.dump(result, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
