"""The run config: one frozen, validated dataclass for a single search.

Every field has a default; a record's key hashes only the fields that differ from
these defaults plus the seed, so adding a field with a default never moves old
results. Validation raises ``ValueError`` with one line naming the field, the
value and what is allowed; the CLI prints that line and exits 2.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field, fields
from typing import Any, Mapping, Optional

from sltsim import registry
from sltsim.registry import get  # noqa: F401  (re-exported: sltsim.config.get is public)


#: Fields that say how a run executes and never change a bit of its record: not in key() or to_dict().
EXECUTION_FIELDS = ("threads",)


def _check_choice(field_name: str, value, allowed) -> None:
    if value not in allowed:
        raise ValueError(f"{field_name} must be one of {', '.join(map(str, allowed))}; got {value!r}")


#: Planted-only fields whose default changed, with the default they had: the key hashes them
#: (for planted data only; elsewhere they do nothing) whenever they differ from that old
#: default, so no stored record's key moves (``task`` was classification before regression
#: became the planted default).
KEY_DEFAULTS = {"task": "classification"}


def _opt(default, group: str, help: str):
    """A RunConfig field with its ``--help`` text and group (read by :mod:`sltsim.cli`)."""
    return field(default=default, metadata={"help": help, "group": group})


@dataclass(frozen=True)
class RunConfig:
    """One search: method x model x data x prune rate x seed, and its hyperparameters."""

    method: str = _opt("ep", "search", "search method (see --list-methods); ep = edge-popup at the final prune rate")
    model: str = _opt("mlp:64,256,256,10", "model/data", "network searched: mlp:IN,H1,...,OUT, "
                                                         "conv2|conv4|conv6|conv8, resnet8|resnet20")
    data: str = _opt("digits", "model/data", "digits (scikit-learn), mnist1d (generated offline), or planted (a "
                                             "teacher inside the student)")
    prune_rate: float = _opt(0.5, "search", "k: fraction of each layer's edges MASKED, in [0, 1) (for iterative "
                                            "methods, the final k); remaining = 1 - k. Note: hidden-networks' "
                                            "--prune-rate is the fraction KEPT")
    epochs: int = _opt(50, "schedule", "epochs per cycle")
    batch_size: int = _opt(128, "schedule", "minibatch size")
    lr: float = _opt(0.1, "schedule", "base learning rate of the scores")
    momentum: float = _opt(0.9, "schedule", "SGD momentum in [0, 1)")
    nesterov: bool = _opt(False, "schedule", "Nesterov momentum")
    weight_decay: float = _opt(5e-4, "schedule", "L2 weight decay on the scores")
    schedule: str = _opt("cosine", "schedule", "learning-rate schedule within a cycle: constant, cosine, step")
    warmup_epochs: int = _opt(0, "schedule", "linear warm-up epochs at the start of each cycle, before the schedule")
    schedule_granularity: str = _opt("epoch", "schedule", "epoch (lr set once per epoch, as edge-popup's release) or"
                                                          " step (per step)")
    seed: int = _opt(0, "search", "random seed; the same seed gives bitwise-identical results")
    weight_init: str = _opt("signed_kaiming_constant", "search", "theta0 init: signed_kaiming_constant, "
                                                                 "scaled_signed_constant, kaiming_normal, "
                                                                 "kaiming_uniform, uniform")
    score_init: str = _opt("kaiming_uniform", "search", "s0 init: kaiming_uniform, normal, signed_constant, "
                                                        "scaled_signed_constant, kaiming_uniform_relu, "
                                                        "kaiming_normal_fan_out")
    global_topk: bool = _opt(False, "search", "one |s| threshold over all layers instead of one per layer")
    dense_first: bool = _opt(False, "search", "keep the first layer dense (not searched)")
    dense_last: bool = _opt(False, "search", "keep the last layer dense (not searched)")
    bias: bool = _opt(False, "model/data", "give dense layers a frozen random bias")
    score_bias: bool = _opt(False, "search", "search the biases too (needs --bias)")
    dtype: str = _opt("float32", "model/data", "float32 (default) or float64")
    track_history: bool = _opt(True, "search", "track the mask history (dying edges); --no-track-history to skip")
    # iterative methods (Table 3)
    cycles: int = _opt(1, "search", "number of cycles C of an iterative method")
    shrinkage: Optional[float] = _opt(None, "search", "p: fraction of the remaining edges masked per cycle, in (0, "
                                                      "1)")
    keep_momentum: bool = _opt(False, "search", "iterative methods: keep the SGD momentum across cycles (default: "
                                                "reset at each cycle start; with it, zero-init scores revive)")
    # baselines (sltsim.search.iterand, sltsim.search.multicoat)
    iterand_period: int = _opt(300, "search", "iterand: redraw pruned weights every K steps (Chijiwa et al. 2021 use"
                                              " 300)")
    iterand_rate: float = _opt(0.1, "search", "iterand: probability lambda that a pruned weight is redrawn, in [0, "
                                              "1] (they use 0.1)")
    iterand_ranking: str = _opt("raw", "search", "iterand: raw (the mask ranks the scores s, identity "
                                                 "straight-through, as released) or abs (EP's |s| and sign(s) "
                                                 "gradient)")
    coats: tuple = _opt((), "search", "multicoat: prune rates of the inner coats, comma-separated, strictly "
                                      "increasing, each above --prune-rate (the outer coat), e.g. 0.75,0.875")
    # iterand and multicoat replace the EP default weight_init / score_init by their papers'
    # (docs/methods.md); False uses the config's values literally
    method_inits: bool = _opt(True, "search", "iterand and multicoat draw theta0/s0 from their papers' inits where "
                                              "--weight-init/--score-init keep the EP defaults; --no-method-inits "
                                              "uses those values literally")
    # planted targets (data == "planted")
    plant: str = _opt("subnetwork", "planted", "planted target: subnetwork (teacher = f(x; P*theta0)) or neuron "
                                               "(Plant 'n' Seek)")
    ticket_remaining: Optional[float] = _opt(None, "planted", "remaining ratio r of the planted ticket per layer "
                                                              "(default: feasible, exactly the final mask's keep "
                                                              "count); below 1 - k needs --sub-budget-ticket")
    ticket_width: Optional[float] = _opt(None, "planted", "fraction of each hidden layer's units that belong to the "
                                                          "ticket (default: the smallest that holds the ticket's "
                                                          "edges half full)")
    inputs: str = _opt("gaussian", "planted", "planted inputs: gaussian, or digits/mnist1d relabelled by the teacher")
    task: str = _opt("regression", "planted", "planted targets: regression (the teacher's outputs, MSE; P has loss "
                                              "0) or classification (its argmax)")
    n_train: int = _opt(2000, "planted", "planted training examples")
    n_test: int = _opt(1000, "planted", "planted held-out examples")
    label_noise: float = _opt(0.0, "planted", "fraction of planted training labels replaced at random")
    sub_budget_ticket: bool = _opt(False, "planted", "plant a ticket below the final budget (with "
                                                     "--ticket-remaining); marked ticket_feasible false")
    start_overlap: Optional[float] = _opt(None, "planted", "start control: the first mask holds this fraction q of "
                                                           "the planted ticket, the rest random (1 = started from P)")
    # sanity check of Su et al. (NeurIPS 2020): search on permuted training labels
    random_labels: bool = _opt(False, "search", "sanity check (Su et al. 2020): search on the training labels "
                                                "randomly permuted (test labels stay true)")
    backend: str = _opt("numpy", "model/data", "numpy (reference engine) or torch")
    # torch backend: how a run executes, not what it computes (left out of key())
    data_dir: Optional[str] = _opt(None, "torch", "(torch) local directory of cifar10/cifar100/svhn/imagenet files; "
                                                  "nothing is downloaded")
    download: bool = _opt(False, "torch", "(torch) fetch cifar10/cifar100/svhn into --data-dir first; needs "
                                          "torchvision")
    device: str = _opt("cpu", "torch", "(torch) cpu, cuda or cuda:N")
    loader_workers: int = _opt(0, "torch", "(torch) DataLoader worker processes for image data")
    checkpoint: Optional[str] = _opt(None, "torch", "(torch) checkpoint file written after every epoch")
    resume: bool = _opt(False, "torch", "(torch) continue from --checkpoint when that file exists")
    # engine threads of one run: how it executes, not what it computes (in neither key() nor
    # to_dict(): a record is the same bits at any count); 0 = every core available to a
    # single run, one per cell in a study
    threads: int = _opt(0, "execution", "engine threads of this run (0: every core available); the record is the "
                                        "same bits at any count. Studies run one per cell")

    def __post_init__(self):
        _canonicalise(self)
        from sltsim.data import DATASETS
        from sltsim.engine.models import parse_model_spec
        from sltsim.engine.schedules import GRANULARITIES, SCHEDULES
        from sltsim.init import SCORE_INITS, WEIGHT_INITS

        registry.load()
        METHODS = registry.METHODS
        get(METHODS, self.method, "method")
        _check_choice("iterand_ranking", self.iterand_ranking, ("raw", "abs"))
        if not isinstance(self.method_inits, bool):
            raise ValueError(f"method_inits must be true or false, got {self.method_inits!r}")
        for name, value in self._method_inits().items():
            if getattr(self, name) == RunConfig.__dataclass_fields__[name].default:
                object.__setattr__(self, name, value)  # the method's own default (frozen dataclass)
        from sltsim.torch_backend import names as torch_names  # torch-free

        torch_names.validate_execution(self)
        if isinstance(self.checkpoint, str):
            from sltsim.torch_backend.checkpoint_path import check_path

            check_path(self.checkpoint)
        if self.backend == "torch":
            torch_names.validate(self)
        else:
            parse_model_spec(self.model)
            _check_choice("data", self.data, DATASETS)
        if not (isinstance(self.prune_rate, (int, float)) and 0.0 <= self.prune_rate < 1.0):
            raise ValueError(f"prune_rate must be in [0, 1), got {self.prune_rate}")
        for name in ("epochs", "batch_size", "n_train", "n_test", "cycles"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not (math.isfinite(self.lr) and self.lr >= 0):
            raise ValueError(f"lr must be a finite number >= 0, got {self.lr}")
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"weight_decay must be a finite number >= 0, got {self.weight_decay}")
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov must be false when momentum is 0, got nesterov=True")
        _check_choice("schedule", self.schedule, tuple(SCHEDULES))
        _check_choice("schedule_granularity", self.schedule_granularity, GRANULARITIES)
        if not isinstance(self.warmup_epochs, int) or not 0 <= self.warmup_epochs <= self.epochs:
            raise ValueError(f"warmup_epochs must be an integer in [0, epochs={self.epochs}], got {self.warmup_epochs!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}")
        get(WEIGHT_INITS, self.weight_init, "weight_init")
        get(SCORE_INITS, self.score_init, "score_init")
        _check_choice("dtype", self.dtype, ("float32", "float64"))
        _check_choice("backend", self.backend, ("numpy", "torch"))
        if self.score_bias and not self.bias:
            raise ValueError("score_bias needs bias=True, got bias=False")
        if self.shrinkage is not None and not 0.0 < self.shrinkage < 1.0:
            raise ValueError(f"shrinkage must be in (0, 1), got {self.shrinkage}")
        if not isinstance(self.iterand_period, int) or isinstance(self.iterand_period, bool) or self.iterand_period <= 0:
            raise ValueError(f"iterand_period must be a positive integer, got {self.iterand_period!r}")
        if not (isinstance(self.iterand_rate, (int, float)) and 0.0 <= self.iterand_rate <= 1.0):
            raise ValueError(f"iterand_rate must be in [0, 1], got {self.iterand_rate}")
        _check_coats(self.coats)
        if not isinstance(self.keep_momentum, bool):
            raise ValueError(f"keep_momentum must be true or false, got {self.keep_momentum!r}")
        if self.keep_momentum and not hasattr(METHODS[self.method], "variant"):
            raise ValueError(f"keep_momentum applies to the iterative methods (hard-*, soft-*) only, "
                             f"got keep_momentum=True with method {self.method}")
        if not isinstance(self.threads, int) or isinstance(self.threads, bool) or self.threads < 0:
            raise ValueError(f"threads must be an integer >= 0 (0: every core available), got {self.threads!r}")
        if self.threads and self.backend != "numpy":
            raise ValueError(f"threads applies to backend numpy (torch sets its own), got threads={self.threads} "
                             f"with backend {self.backend!r}")
        for name, owners in method_options().items():
            if self.method not in owners and getattr(self, name) != RunConfig.__dataclass_fields__[name].default:
                raise ValueError(f"{name} applies to method{'s' if len(owners) > 1 else ''} {', '.join(owners)} "
                                 f"only, got {name}={getattr(self, name)!r} with method {self.method}")
        get(registry.PLANTS, self.plant, "plant")
        _check_choice("inputs", self.inputs, ("gaussian", "digits", "mnist1d"))
        _check_choice("task", self.task, ("classification", "regression"))
        if not 0.0 <= self.label_noise <= 1.0:
            raise ValueError(f"label_noise must be in [0, 1], got {self.label_noise}")
        if not isinstance(self.random_labels, bool):
            raise ValueError(f"random_labels must be true or false, got {self.random_labels!r}")
        if self.random_labels and self.backend != "numpy":
            raise ValueError(f"random_labels needs backend numpy, got backend {self.backend!r}")
        if self.ticket_width is not None and not 0.0 < self.ticket_width <= 1.0:
            raise ValueError(f"ticket_width must be in (0, 1] (a fraction of each hidden layer), got {self.ticket_width}")
        if self.ticket_remaining is not None and not 0.0 < self.ticket_remaining <= 1.0:
            raise ValueError(f"ticket_remaining must be in (0, 1], got {self.ticket_remaining}")
        if not isinstance(self.sub_budget_ticket, bool):
            raise ValueError(f"sub_budget_ticket must be true or false, got {self.sub_budget_ticket!r}")
        if self.start_overlap is not None:
            if not (isinstance(self.start_overlap, (int, float)) and 0.0 <= self.start_overlap <= 1.0):
                raise ValueError(f"start_overlap must be in [0, 1] (the fraction of P in the first mask), "
                                 f"got {self.start_overlap}")
            if self.data != "planted":
                raise ValueError(f"start_overlap needs data planted (it places the first mask on the planted "
                                 f"ticket), got data {self.data!r}")
            registry.CHECKS["start_overlap"](self)
        METHODS[self.method].validate(self)
        _check_planted_only(self)
        if self.backend == "numpy":
            _check_footprint(self)

    @property
    def final_prune_rate(self) -> float:
        """The prune rate of the final mask (for iterative methods, after the last cycle)."""
        registry.load()
        return registry.METHODS[self.method].final_prune_rate(self)

    def _method_inits(self) -> dict:
        """{field: init} a method uses in place of the EP defaults (empty when method_inits is off)."""
        registry.load()
        inits = getattr(registry.METHODS[self.method], "method_inits", None)
        return inits(self) if self.method_inits and inits is not None else {}

    def to_dict(self) -> dict:
        """Every field but the execution ones, plus ``final_prune_rate``: what the run's final
        mask prunes (for an iterative method, after its last cycle; otherwise ``prune_rate``). It
        is derived, never part of the key, and :meth:`from_dict` checks it against the fields
        when present."""
        out = dataclasses.asdict(self)
        for name in EXECUTION_FIELDS:
            del out[name]
        out[DERIVED_FIELD] = self.final_prune_rate
        return out

    def non_default(self) -> dict:
        """Fields that differ from the defaults, seed always included.

        A method's own init (:meth:`_method_inits`) counts as its default, so that
        resolving it never moves a key.
        """
        out = {}
        own = self._method_inits()
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in own and value == own[f.name]:
                continue
            if f.name == "seed" or value != f.default:
                out[f.name] = value
        return out

    def key(self) -> str:
        """Content hash of the non-default fields: the record's ``key``."""
        from sltsim.torch_backend.names import OPERATIONAL_FIELDS

        values = {k: v for k, v in self.non_default().items()
                  if k not in OPERATIONAL_FIELDS and k not in EXECUTION_FIELDS}
        for name, old in KEY_DEFAULTS.items():  # a changed default is hashed against the old one
            values.pop(name, None)
            if self.data == "planted" and getattr(self, name) != old:
                values[name] = getattr(self, name)
        text = json.dumps(values, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def replace(self, **changes) -> "RunConfig":
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], source: str = "config") -> "RunConfig":
        """Build from a mapping, refusing unknown keys and values of the wrong type.

        A planted-only field at its old default (:data:`KEY_DEFAULTS`) on another data set is
        read as unset: configs stored before regression became the planted default carry
        ``task = "classification"`` on every data set, where it did nothing.
        """
        known = {f.name: f for f in fields(cls)}
        values = dict(values)
        if values.get("data", known["data"].default) != "planted":
            for name, old in KEY_DEFAULTS.items():
                if values.get(name, old) == old:
                    values.pop(name, None)
        stated = values.pop(DERIVED_FIELD, None)
        # tuple fields (coats) arrive as lists from TOML and JSON records
        values = {k: tuple(v) if k in known and isinstance(known[k].default, tuple) and isinstance(v, list) else v
                  for k, v in values.items()}
        for k, v in values.items():
            if k not in known:
                raise ValueError(f"unknown key {k!r} in {source}; known keys: {', '.join(sorted(known))}")
            default = known[k].default
            if default is not None and v is not None and not _same_kind(default, v):
                raise ValueError(f"key {k!r} in {source} must be a {type(default).__name__}, got {v!r}")
        config = cls(**values)
        if stated is not None and not math.isclose(stated, config.final_prune_rate, rel_tol=0, abs_tol=1e-12):
            raise ValueError(f"key {DERIVED_FIELD!r} in {source} is {stated!r}, but the other fields give "
                             f"{config.final_prune_rate!r}; drop it or fix the fields")
        return config


def method_options() -> dict:
    """{RunConfig field: names of the methods that own it}, from each method's ``options``
    (a method's own fields: every other method refuses them set to other than their default)."""
    registry.load()
    owners: dict = {}
    for name, method in registry.METHODS.items():
        for option in getattr(method, "options", ()):
            if option not in RunConfig.__dataclass_fields__:
                raise ValueError(f"method {name} declares option {option!r}, which is not a RunConfig field")
            owners.setdefault(option, []).append(name)
    return owners


#: A key of :meth:`RunConfig.to_dict` that is not a field: computed from the fields.
DERIVED_FIELD = "final_prune_rate"

#: Fields that describe a planted target; any other data set would ignore them.
PLANTED_ONLY = ("plant", "ticket_remaining", "ticket_width", "inputs", "task", "n_train", "n_test",
                "label_noise", "sub_budget_ticket", "start_overlap")

#: Bytes the engine holds per searched edge: theta0, scores, the score gradient and the
#: SGD momentum in the run's dtype, and the mask, ever-selected and history flags (a byte each).
_ARRAYS_PER_EDGE, _FLAGS_PER_EDGE = 4, 3


def _canonicalise(config: "RunConfig") -> None:
    """Give equal configs equal fields before anything hashes them: an integer in a float
    field becomes a float (``lr = 1`` is ``lr = 1.0``; ``-0.0`` is ``0.0``), the coats become
    floats, and the model spec loses its whitespace (``"mlp: 64, 10"`` is ``"mlp:64,10"``).
    Configs already canonical are left exactly as they are, so their keys do not move."""
    for f in fields(config):
        value = getattr(config, f.name)
        if "float" in str(f.type) and isinstance(value, (int, float)) and not isinstance(value, bool):
            if type(value) is not float or value == 0.0:
                object.__setattr__(config, f.name, float(value) + 0.0)  # + 0.0 turns -0.0 into 0.0
    if isinstance(config.coats, (tuple, list)) and all(
            isinstance(c, (int, float)) and not isinstance(c, bool) for c in config.coats):
        object.__setattr__(config, "coats", tuple(float(c) for c in config.coats))
    if isinstance(config.model, str):
        object.__setattr__(config, "model", "".join(config.model.split()))


def _check_planted_only(config: "RunConfig") -> None:
    """Refuse a planted-target field set on a data set that would ignore it."""
    if config.data == "planted":
        return
    for name in PLANTED_ONLY:
        value = getattr(config, name)
        if value != RunConfig.__dataclass_fields__[name].default:
            raise ValueError(f"{name} applies to data planted only, got {name}={value!r} with data {config.data}")


def physical_memory() -> Optional[int]:
    """Bytes of physical memory of this machine, or None where the OS does not say."""
    import os

    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):  # pragma: no cover - not POSIX
        return None


def footprint(config: "RunConfig") -> Optional[int]:
    """An estimate (in bytes, a lower bound) of what the engine holds for an MLP ``config``:
    the per-edge arrays of every layer (twice for a planted target, whose teacher and
    ticket have the student's shape) and the training inputs. None for other models."""
    from sltsim.engine.models import parse_model_spec

    spec = parse_model_spec(config.model)
    if spec.family != "mlp":
        return None
    itemsize = 8 if config.dtype == "float64" else 4
    edges = sum(a * b for a, b in zip(spec.widths[:-1], spec.widths[1:]))
    per_edge = _ARRAYS_PER_EDGE * itemsize + _FLAGS_PER_EDGE
    total = edges * per_edge
    if config.data == "planted":
        total += edges * (itemsize + 1) + (config.n_train + config.n_test) * spec.widths[0] * itemsize
    return total


def _check_footprint(config: "RunConfig") -> None:
    needed, available = footprint(config), physical_memory()
    if needed is not None and available is not None and needed > available:
        raise ValueError(f"model {config.model} needs at least {needed / 2**30:.1f} GiB (weights, scores, "
                         f"gradients, momentum and masks of its edges), more than this machine's "
                         f"{available / 2**30:.1f} GiB of memory; use narrower layers")


def _check_coats(coats) -> None:
    """coats: a tuple of prune rates in (0, 1), strictly increasing (one per inner coat)."""
    ok = isinstance(coats, tuple) and all(
        isinstance(c, (int, float)) and not isinstance(c, bool) and 0.0 < c < 1.0 for c in coats)
    if not ok or any(b <= a for a, b in zip(coats, coats[1:])):
        raise ValueError(f"coats must be strictly increasing prune rates in (0, 1), got {coats!r}")


def _same_kind(default, value) -> bool:
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, type(default))
