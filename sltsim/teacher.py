"""The teacher of a planted ticket: the student restricted to P, and what it computes.

The teacher is f(x; P * theta0) with the unsearched tensors used in full
(:func:`teacher_outputs`). With batch norm, its running statistics are those of P's
network on the probe batch (:func:`calibrated_norms`), so that the eval-mode teacher
normalises as a trained network would.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from sltsim.ticket import PlantedTicket


@contextmanager
def restricted_to(model, masks: dict):
    """Within the block, every searched tensor's w_eff is mask * theta0 (the teacher when
    ``masks`` is a ticket's); w_eff is restored on exit."""
    saved = []
    for p in model.params:
        if p.name in masks:
            saved.append((p, p.w_eff.copy()))
            np.multiply(masks[p.name], p.theta0, out=p.w_eff, casting="unsafe")
    try:
        yield model
    finally:
        for p, w in saved:
            np.copyto(p.w_eff, w)


def outputs(model, X: np.ndarray, batch_size: int = 2048) -> np.ndarray:
    """(N, n_outputs) eval-mode outputs of the model with its current w_eff."""
    chunks = [model.forward(X[i : i + batch_size], train=False)[0] for i in range(0, X.shape[0], batch_size)]
    return np.concatenate(chunks) if chunks else np.zeros((0, 0))


def teacher_outputs(model, ticket: PlantedTicket, X: np.ndarray) -> np.ndarray:
    """(N, n_outputs) teacher(x) = f(x; P * theta0), eval mode (batch norm, if any, at its
    current running statistics)."""
    with restricted_to(model, ticket.masks):
        return outputs(model, X)


def norm_layers(layers):
    """Every layer with running statistics (batch norm), also inside residual blocks."""
    for layer in layers:
        if hasattr(layer, "running_mean"):
            yield layer
        for attr in ("layers", "branch", "shortcut"):
            yield from norm_layers(getattr(layer, attr, None) or ())


@contextmanager
def calibrated_norms(model, masks: dict, X: np.ndarray):
    """Within the block, every batch norm's running statistics are those of the network
    restricted to ``masks`` on X (one training-mode pass at momentum 1), so that the
    eval-mode teacher normalises as a trained network would; afterwards they are reset to
    their initial 0 and 1, as a search starts from."""
    norms = list(norm_layers(getattr(model, "layers", ())))
    momenta = [n.momentum for n in norms]
    try:
        if norms:
            for n in norms:
                n.momentum = 1.0
            with restricted_to(model, masks):
                model.forward(X, train=True)
            for n, m in zip(norms, momenta):
                n.momentum = m
        yield model
    finally:
        for n, m in zip(norms, momenta):
            n.momentum = m
            n.reset_running_stats()


def layer_io(model, X: np.ndarray) -> dict:
    """{weight name: (input, output)} of each top-level layer of ``model`` that owns a weight,
    on X in eval mode with the current w_eff. Layers nested in blocks are not visited."""
    seen = {}
    for layer in getattr(model, "layers", ()):
        Y, _ = layer.forward(X, False)
        for p in getattr(layer, "params", ()):
            if p.name.endswith(".weight"):
                seen[p.name] = (X, Y)
        X = Y
    return seen


def output_layer_inputs(model, ticket: PlantedTicket, X: np.ndarray):
    """(output weight name, (N, n_in) float64 inputs of the output layer under the teacher on X,
    batch norm calibrated on X), or None when the output layer is not a top-level dense layer."""
    name = next(link.name for link in ticket.links if link.out_group == "output" and link.in_group)
    with calibrated_norms(model, ticket.masks, X), restricted_to(model, ticket.masks):
        seen = layer_io(model, X)
    if name not in seen or seen[name][0].ndim != 2:
        return None
    return name, seen[name][0].astype(np.float64)
