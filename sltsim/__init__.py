"""sltsim: a testbed for strong lottery tickets on planted targets.

The NumPy/Numba engine (``sltsim.engine``) is the reference; the torch backend
(``sltsim.torch_backend``) is imported only when asked for.
"""

__version__ = "0.1.0"
