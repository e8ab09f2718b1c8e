"""sltsim: a testbed for strong lottery tickets on planted targets.

One run from Python::

    from sltsim import RunConfig, run

    record = run(RunConfig(method="ep", model="mlp:64,256,256,10", data="digits", prune_rate=0.5))

``run`` (:func:`sltsim.api.run`) dispatches on ``config.backend``: the NumPy/Numba
engine (``sltsim.engine``) is the reference; the torch backend
(``sltsim.torch_backend``) is imported only when a run asks for it.
"""

__version__ = "0.1.0"
__all__ = ["RunConfig", "run", "__version__"]


def __getattr__(name: str):
    # Lazy, so that ``import sltsim`` (e.g. for __version__) imports neither NumPy nor Numba.
    if name == "RunConfig":
        from sltsim.config import RunConfig

        return RunConfig
    if name == "run":
        from sltsim.api import run

        return run
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
