"""Exceptions shared across the engine and the searches."""


class Diverged(RuntimeError):
    """The loss or the scores became NaN or inf; the run is recorded with status "diverged"."""
