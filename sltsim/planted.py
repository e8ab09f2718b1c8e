"""Planted targets: a teacher hidden inside the student, so the answer is known edge by edge.

The student is the random network f(x; theta0) being searched. A planted ticket is a
mask P over the searched tensors (DESIGN.md "Planted targets"); the teacher is always
f(x; P * theta0) with unsearched tensors (``dense_first``/``dense_last``, frozen biases)
used in full. Two plants fill ``PLANTS``:

- ``subnetwork`` (default): P is chosen inside the student and theta0 is left as drawn,
  so the teacher is exactly the student's own network restricted to P.
- ``neuron``, in the manner of Plant 'n' Seek (Fischer & Burkholz, ICLR 2022): a random
  target network with the ticket's hidden widths is written into the student's theta0 at
  P. Its weights are Gaussian, each tensor rescaled so that the written values have the
  RMS of that tensor's theta0 (the magnitude scale they hide among); P is where it was
  written, so again teacher = f(x; P * theta0) with the new theta0.

The ticket's shape (units, edge counts, no dead unit) is :mod:`sltsim.ticket`'s. The
output layer's edges are drawn so that each output unit's sum of theta0 * (mean input,
on a probe batch) over its edges is near zero, so that no class dominates the argmax
through the mean of its non-negative (post-ReLU) inputs; the neuron plant instead makes
each output unit's written weights orthogonal to that mean.

Size. By default the ticket is feasible: each searched tensor holds exactly the final
mask's keep count, at the smallest ticket width that holds it half full
(:func:`sltsim.ticket_plan.plan_ticket`, which also refuses infeasible asks). A sub-budget
ticket (``ticket_remaining`` below 1 - k) needs ``sub_budget_ticket = true`` and is
marked ``feasible = False``. :func:`check_ticket` runs the same plan on the config alone.

Labels. Classification: y = argmax teacher(x). Classes are exactly balanced in the train
split and in the test split (class counts differ by at most one) before label noise.
Gaussian inputs are rejection-sampled class by class from a pool of up to
``POOL_FACTOR`` times the examples needed; with digits/mnist1d inputs each split is
subsampled to exact balance and must keep at least half of min(n, available) examples.
When that fails the ticket is redrawn, up to ``MAX_ATTEMPTS`` times, then refused.
Regression: y = teacher(x). With batch norm (resnets) the teacher is evaluated with the
running statistics of P's network on the probe batch (:func:`sltsim.teacher.calibrated_norms`);
they are reset before the search, so only the stored ``teacher_test`` outputs define it.
Label noise replaces a fraction of the TRAIN labels: classes
by a uniform draw over all classes, regression targets by the target of a uniformly drawn
training example; test labels stay clean.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np

from sltsim.data import REAL_DATASETS, Dataset
from sltsim.registry import PLANTS, get, register
from sltsim.engine.models import RESNETS, build_model, parse_model_spec
from sltsim.teacher import calibrated_norms, output_layer_inputs, teacher_outputs
from sltsim.ticket import PlantedTicket, balanced_counts, choose_edges, count_replicas, draw_ticket
from sltsim.ticket_plan import TicketPlan, plan_ticket

MAX_ATTEMPTS = 20
POOL_FACTOR = 16
PROBE_SIZE = 1024
REAL_INPUT_WIDTHS = {"digits": 64, "mnist1d": 40}


# -- plants ---------------------------------------------------------------------------------
class SubnetworkPlant:
    name = "subnetwork"
    description = "teacher = f(x; P * theta0): the student's own network restricted to the ticket"

    def write(self, model, ticket: PlantedTicket, rng: np.random.Generator, probe: np.ndarray) -> PlantedTicket:
        """theta0 stays as drawn; the output layer's edges are redrawn so that each output unit's
        sum of theta0 * (mean input on ``probe``) over its edges is near zero."""
        found = output_layer_inputs(model, ticket, probe)
        if found is None:
            return ticket
        name, inputs = found
        mean = inputs.mean(axis=0)
        p = next(q for q in model.params if q.name == name)
        link = ticket.link(name)
        masks = dict(ticket.masks)
        masks[name] = choose_edges(p.shape, ticket.units["output"], ticket.units[link.in_group], link.repeat,
                                   int(masks[name].sum()), rng, name, ticket.ticket_remaining,
                                   p.theta0 * mean[None, :])
        return dataclasses.replace(ticket, masks=masks)


class NeuronPlant:
    name = "neuron"
    description = "Plant 'n' Seek: a random target of the ticket's widths written into theta0 at P"

    def write(self, model, ticket: PlantedTicket, rng: np.random.Generator, probe: np.ndarray) -> PlantedTicket:
        """Overwrite theta0 at P with N(0, 1) target weights rescaled to theta0's RMS in each tensor.

        Each output unit's written weights are then made orthogonal to the mean of their
        inputs on ``probe`` and scaled to give every output unit the same standard deviation
        on ``probe`` (then the tensor is rescaled to theta0's RMS again), so that no class of
        the target dominates its argmax.
        """
        for p in model.params:
            if p.name in ticket.masks:
                at = ticket.masks[p.name].reshape(-1) != 0
                _write_scaled(p, at, rng.standard_normal(int(at.sum())))
        found = output_layer_inputs(model, ticket, probe)
        if found is not None:
            name, inputs = found
            p = next(q for q in model.params if q.name == name)
            at = ticket.masks[name] != 0  # (out, in)
            w = np.where(at, p.theta0, 0.0).astype(np.float64)
            m = np.where(at, inputs.mean(axis=0)[None, :], 0.0)
            w -= m * ((w * m).sum(axis=1, keepdims=True) / np.maximum((m * m).sum(axis=1, keepdims=True), 1e-300))
            std = (inputs @ w.T).std(axis=0)  # (out,) each output unit's spread on the probe
            w /= np.where(std > 0, std, 1.0)[:, None]
            _write_scaled(p, at.reshape(-1), w.reshape(-1)[at.reshape(-1)])
        return ticket


def _write_scaled(p, at: np.ndarray, values: np.ndarray) -> None:
    """theta0[at] = values rescaled to the RMS of theta0 before writing; w_eff = theta0."""
    theta = p.flat("theta0")
    if values.size:
        rms_theta = math.sqrt(float(np.mean(theta.astype(np.float64) ** 2)))
        rms_values = math.sqrt(float(np.mean(values**2)))
        theta[at] = values * (rms_theta / rms_values if rms_values > 0 else 1.0)
    np.copyto(p.w_eff, p.theta0)


for _name, _plant in (("subnetwork", SubnetworkPlant()), ("neuron", NeuronPlant())):
    register(PLANTS, _name, _plant)


# -- inputs, shapes and labels --------------------------------------------------------------
def student_io(config) -> tuple[tuple[int, ...], int]:
    """(input_shape, n_outputs) of the student on planted data.

    An mlp ``mlp:IN,...,OUT`` gets (IN,) and OUT. Conv students get 10 outputs and images of
    (3, 8, 8) with Gaussian inputs, (3, 16, 16) for conv8 (four 2x2 pools need 16 pixels);
    digits inputs are (1, 8, 8) images. digits/mnist1d inputs fix the width (64 or 40).
    """
    spec = parse_model_spec(config.model)
    real = REAL_INPUT_WIDTHS.get(config.inputs)
    if spec.family == "mlp":
        if real is not None and spec.widths[0] != real:
            raise ValueError(f"inputs {config.inputs} have {real} features, so the model must start with "
                             f"mlp:{real},...; got {config.model}")
        shape, n_out = (spec.widths[0],), spec.widths[-1]
    elif config.inputs == "mnist1d":
        raise ValueError(f"inputs mnist1d are 1-D sequences of 40 and need an mlp student, got {config.model}")
    elif config.inputs == "digits":
        if spec.family == "conv8":
            raise ValueError("inputs digits are 8x8 images, too small for conv8's four pools; use conv2/4/6 or an mlp")
        shape, n_out = (1, 8, 8), 10
    else:
        shape, n_out = ((3, 16, 16) if spec.family == "conv8" else (3, 8, 8)), 10
    if config.task == "classification" and n_out < 2:
        raise ValueError(f"task classification needs at least 2 outputs, got {n_out} from {config.model}")
    return shape, n_out


def _plan(config, params) -> TicketPlan:
    residual = parse_model_spec(config.model).family in RESNETS
    return plan_ticket(params, config.final_prune_rate, config.ticket_remaining, config.ticket_width,
                       config.sub_budget_ticket, residual)


@functools.lru_cache(maxsize=256)
def _layout(model: str, input_shape: tuple, n_outputs: int, bias: bool, score_bias: bool,
            dense_first: bool, dense_last: bool) -> tuple:
    """(name, shape, size, searched) of each parameter of the student, without drawing weights."""
    built = build_model(model, input_shape, n_outputs, bias=bias, score_bias=score_bias)
    weights = [p.name for p in built.params if p.name.endswith(".weight")]
    frozen = {weights[0]} if dense_first and weights else set()
    frozen |= {weights[-1]} if dense_last and weights else set()
    return tuple(_Shape(p.name, tuple(p.shape), p.size, p.searched and p.name not in frozen) for p in built.params)


@dataclasses.dataclass(frozen=True)
class _Shape:
    name: str
    shape: tuple
    size: int
    searched: bool


def check_ticket(config) -> TicketPlan:
    """The ticket plan of a planted config (numpy backend), built from the student's shapes
    alone; raises the plan's one-line ValueError for an infeasible or unfitting ask."""
    input_shape, n_outputs = student_io(config)
    layout = _layout(config.model, input_shape, n_outputs, config.bias, config.score_bias,
                     config.dense_first, config.dense_last)
    return _plan(config, layout)


def _round(x: float) -> int:
    return int(math.floor(x + 0.5))


def _take_balanced(y: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Indices of the first counts[c] examples of each class c, in their original order."""
    picked = [np.flatnonzero(y == c)[:k] for c, k in enumerate(counts)]
    return np.sort(np.concatenate(picked))


def _gaussian_classes(teacher, shape, n_train, n_test, n_classes, rng, dtype):
    """Rejection-sample standard normal inputs class by class; None when the pool runs out."""
    need = [balanced_counts(n_train, n_classes, rng), balanced_counts(n_test, n_classes, rng)]
    total = need[0] + need[1]
    xs, ys = [], []
    have = np.zeros(n_classes, np.int64)
    chunk = n_train + n_test
    for _ in range(POOL_FACTOR):
        X = rng.standard_normal((chunk, *shape)).astype(dtype)
        y = np.argmax(teacher(X), axis=1)
        keep = _take_balanced(y, np.maximum(total - have, 0))
        xs.append(X[keep])
        ys.append(y[keep])
        have += np.bincount(y[keep], minlength=n_classes)
        if np.all(have >= total):
            break
    else:
        return None
    X, y = np.concatenate(xs), np.concatenate(ys)
    train = _take_balanced(y, need[0])
    rest = np.setdiff1d(np.arange(y.size), train)
    split = [rng.permutation(train), rng.permutation(rest)]
    return [(X[i], y[i]) for i in split]


def _real_classes(teacher, X, n, n_classes, rng):
    """Exactly balanced subsample of one split of real inputs; None below half of min(n, available)."""
    n = min(n, X.shape[0])
    X = X[rng.permutation(X.shape[0])]
    y = np.argmax(teacher(X), axis=1)
    n_eff = min(n, n_classes * int(np.bincount(y, minlength=n_classes).min()))
    if 2 * n_eff < n:
        return None
    keep = _take_balanced(y, balanced_counts(n_eff, n_classes, rng))
    return X[keep], y[keep]


def _label_noise(y: np.ndarray, fraction: float, n_classes: int, rng: np.random.Generator) -> np.ndarray:
    y = y.copy()
    idx = rng.choice(y.shape[0], _round(fraction * y.shape[0]), replace=False)
    if y.ndim == 1:
        y[idx] = rng.integers(n_classes, size=idx.size)
    else:
        y[idx] = y[rng.integers(y.shape[0], size=idx.size)].copy()
    return y


def _label(config, model, ticket, rng, input_shape, n_outputs, dtype, real):
    """[(X_train, y_train), (X_test, y_test)], or None when this teacher is unusable."""
    teacher = lambda X: teacher_outputs(model, ticket, X)  # noqa: E731
    if real is None:
        if config.task == "classification":
            return _gaussian_classes(teacher, input_shape, config.n_train, config.n_test, n_outputs, rng, dtype)
        splits = [rng.standard_normal((n, *input_shape)).astype(dtype) for n in (config.n_train, config.n_test)]
    else:
        pools = [(real.X_train, config.n_train), (real.X_test, config.n_test)]
        if config.task == "classification":
            out = [_real_classes(teacher, X, n, n_outputs, rng) for X, n in pools]
            return None if any(o is None for o in out) else out
        splits = [X[rng.permutation(X.shape[0])[: min(n, X.shape[0])]] for X, n in pools]
    out = [(X, teacher(X).astype(dtype)) for X in splits]
    return out if float(np.std(out[0][1])) > 0 else None


def make_planted(config, model, rng: np.random.Generator) -> tuple[Dataset, PlantedTicket]:
    """Plant a ticket in ``model`` (theta0 already drawn) and label inputs with the teacher.

    Draws from ``rng`` only; redraws the ticket up to MAX_ATTEMPTS times when the teacher's
    classes cannot be balanced (see the module docstring), then raises ValueError.
    """
    plant = get(PLANTS, config.plant, "plant")
    plan = _plan(config, model.params)
    input_shape, n_outputs = student_io(config)
    dtype = np.dtype(config.dtype)
    residual = parse_model_spec(config.model).family in RESNETS
    real = None
    if config.inputs != "gaussian":
        real = REAL_DATASETS[config.inputs](dtype=dtype, image=len(input_shape) == 3)
        probe = real.X_train[:PROBE_SIZE]
    else:
        probe = rng.standard_normal((PROBE_SIZE, *input_shape)).astype(dtype)
    originals = [(p, p.theta0.copy()) for p in model.params if p.searched]
    for _ in range(MAX_ATTEMPTS):
        for p, theta in originals:
            np.copyto(p.theta0, theta)
            np.copyto(p.w_eff, theta)
        ticket = draw_ticket(model.params, plan.remaining, plan.width, rng, plant.name, residual, plan.edges)
        ticket = plant.write(model, ticket, rng, probe)
        with calibrated_norms(model, ticket.masks, probe):
            splits = _label(config, model, ticket, rng, input_shape, n_outputs, dtype, real)
            if splits is not None:
                ticket = dataclasses.replace(ticket, teacher_test=teacher_outputs(model, ticket, splits[1][0]),
                                             feasible=plan.feasible, replicas=count_replicas(model.params, ticket))
                break
    else:
        raise ValueError(f"no {config.plant} teacher in {MAX_ATTEMPTS} draws gave balanced {config.task} labels "
                         f"on {config.inputs} inputs; try another seed, ticket_width or ticket_remaining")
    (X_train, y_train), (X_test, y_test) = splits
    if config.label_noise > 0:
        y_train = _label_noise(y_train, config.label_noise, n_outputs, rng)
    name = f"planted-{config.plant}-{config.inputs}"
    return Dataset(name, X_train, y_train, X_test, y_test, n_outputs, config.task), ticket


__all__ = ["PLANTS", "PlantedTicket", "student_io", "make_planted", "check_ticket"]
