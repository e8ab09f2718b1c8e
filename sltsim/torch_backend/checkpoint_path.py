"""Where a torch checkpoint may be written, checked without importing torch.

:class:`sltsim.config.RunConfig` calls :func:`check_path` when ``checkpoint`` is set, so
a path that can never hold a file is refused in one line before the run starts, not
with a traceback after its first epoch.
"""

from __future__ import annotations

import os


def check_path(path: str) -> None:
    """Refuse, in one line, a checkpoint path that can never be written: a directory, or a
    file inside something that is not a directory."""
    if os.path.isdir(path):
        raise ValueError(f"checkpoint {path} is a directory; give the path of a file, e.g. "
                         f"{os.path.join(path, 'run.pt')}")
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise ValueError(f"checkpoint {path} cannot be written: {parent} is not a directory")
