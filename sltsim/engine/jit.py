"""The one place where Numba's compilation flags are set.

Every kernel in :mod:`sltsim.engine.kernels` is compiled with ``cache=True`` so that
a second process reuses the machine code instead of compiling again, and with
``fastmath=False`` so that results are bitwise reproducible.
"""

from __future__ import annotations

import numba

JIT_FLAGS = {"cache": True, "nogil": True, "fastmath": False, "error_model": "numpy"}

njit = numba.njit(**JIT_FLAGS)
