"""Single optimiser steps that tests take by hand."""

from __future__ import annotations


def identity_step(search, lr: float) -> None:
    """One SGD step on the scores with the identity straight-through (IteRand's raw ranking)."""
    search.optimizer.identity_straight_through = True
    try:
        search.optimizer.step(lr)
    finally:
        search.optimizer.identity_straight_through = False
