"""The groups of the run config besides the search's (:mod:`sltsim.config.search`): training,
model, data, planted and execution, one frozen dataclass each, validated when built.

Why these six: a field sits with what it describes, and its checks with it. The search group
holds the method and what the method owns (its options and inits). Training is the SGD on the
scores within a cycle. The model is the random network and the arithmetic that runs it
(``backend`` and ``dtype``: a torch record is not an engine record, so both are in the key).
Data is the data set. The planted group describes a planted target and is refused on any other
data set. Execution says how and where a run executes, never what it computes, and is the one
group left out of the record's key (``keyed = False``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields
from typing import Optional

from sltsim import registry
from sltsim.config.base import Group, check_bool, check_choice, check_positive_int, opt


@dataclass(frozen=True)
class TrainingConfig(Group):
    """SGD on the scores, and its learning-rate schedule within a cycle."""

    name = "training"
    about = "optimisation of the scores within a cycle"

    epochs: int = opt(50, "epochs per cycle")
    batch_size: int = opt(128, "minibatch size")
    lr: float = opt(0.1, "base learning rate of the scores")
    momentum: float = opt(0.9, "SGD momentum in [0, 1)")
    nesterov: bool = opt(False, "Nesterov momentum")
    weight_decay: float = opt(5e-4, "L2 weight decay on the scores")
    schedule: str = opt("cosine", "learning-rate schedule within a cycle: constant, cosine, step")
    warmup_epochs: int = opt(0, "linear warm-up epochs at the start of each cycle, before the schedule")
    schedule_granularity: str = opt("epoch", "epoch (lr set once per epoch, as edge-popup's release) or step (per "
                                             "step)")

    def validate(self) -> None:
        from sltsim.engine.schedules import GRANULARITIES

        registry.load()
        check_positive_int(self, "epochs")
        check_positive_int(self, "batch_size")
        if not (math.isfinite(self.lr) and self.lr >= 0):
            raise ValueError(f"lr must be a finite number >= 0, got {self.lr}")
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"weight_decay must be a finite number >= 0, got {self.weight_decay}")
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov must be false when momentum is 0, got nesterov=True")
        registry.get(registry.SCHEDULES, self.schedule, "schedule")
        check_choice("schedule_granularity", self.schedule_granularity, GRANULARITIES)
        if not isinstance(self.warmup_epochs, int) or not 0 <= self.warmup_epochs <= self.epochs:
            raise ValueError(f"warmup_epochs must be an integer in [0, epochs={self.epochs}], "
                             f"got {self.warmup_epochs!r}")


@dataclass(frozen=True)
class ModelConfig(Group):
    """The random network searched, and the arithmetic that runs it."""

    name = "model"
    about = "the network searched and the arithmetic that runs it"

    model: str = opt("mlp:64,256,256,10", "network searched: mlp:IN,H1,...,OUT, conv2|conv4|conv6|conv8, "
                                          "resnet8|resnet20")
    bias: bool = opt(False, "give dense layers a frozen random bias")
    dtype: str = opt("float32", "float32 (default) or float64")
    backend: str = opt("numpy", "numpy (reference engine) or torch")

    def __post_init__(self):
        if isinstance(self.model, str):  # "mlp: 64, 10" is "mlp:64,10"
            object.__setattr__(self, "model", "".join(self.model.split()))
        super().__post_init__()

    def validate(self) -> None:
        check_choice("backend", self.backend, ("numpy", "torch"))
        if self.backend == "numpy":  # the torch backend checks its own names (RunConfig)
            from sltsim.engine.models import parse_model_spec

            parse_model_spec(self.model)
        check_choice("dtype", self.dtype, ("float32", "float64"))


@dataclass(frozen=True)
class DataConfig(Group):
    """The data set, and what is done to its labels."""

    name = "data"
    about = "the data set"

    data: str = opt("digits", "digits (scikit-learn), mnist1d (generated offline), or planted (a teacher inside the "
                              "student)")
    # sanity check of Su et al. (NeurIPS 2020): search on permuted training labels
    random_labels: bool = opt(False, "sanity check (Su et al. 2020): search on the training labels randomly permuted "
                                     "(test labels stay true)")

    def validate(self) -> None:
        # the names of data, which depend on the backend, are checked by RunConfig
        check_bool(self, "random_labels")


def engine_data_names() -> dict:
    """The ``data`` names the engine reads: the registered data sets (-> their loaders) and
    ``planted`` (-> the plants, one of which makes its teacher)."""
    from sltsim.data import PLANTED

    registry.load()
    return {**registry.DATASETS, PLANTED: registry.PLANTS}


@dataclass(frozen=True)
class PlantedConfig(Group):
    """A planted target (``data = "planted"``); refused at other than its defaults elsewhere."""

    name = "planted"
    about = "planted targets (--data planted)"

    plant: str = opt("subnetwork", "planted target: subnetwork (teacher = f(x; P*theta0)) or neuron (Plant 'n' Seek)")
    ticket_remaining: Optional[float] = opt(None, "remaining ratio r of the planted ticket per layer (default: "
                                                  "feasible, exactly the final mask's keep count); below 1 - k needs "
                                                  "--sub-budget-ticket")
    ticket_width: Optional[float] = opt(None, "fraction of each hidden layer's units that belong to the ticket "
                                              "(default: the smallest that holds the ticket's edges half full)")
    inputs: str = opt("gaussian", "planted inputs: gaussian, or digits/mnist1d relabelled by the teacher")
    task: str = opt("regression", "planted targets: regression (the teacher's outputs, MSE; P has loss 0) or "
                                  "classification (its argmax)")
    n_train: int = opt(2000, "planted training examples")
    n_test: int = opt(1000, "planted held-out examples")
    label_noise: float = opt(0.0, "fraction of planted training labels replaced at random")
    sub_budget_ticket: bool = opt(False, "plant a ticket below the final budget (with --ticket-remaining); marked "
                                         "ticket_feasible false")
    start_overlap: Optional[float] = opt(None, "start control: the first mask holds this fraction q of the planted "
                                               "ticket, the rest random (1 = started from P)")

    def validate(self) -> None:
        registry.load()
        check_positive_int(self, "n_train")
        check_positive_int(self, "n_test")
        registry.get(registry.PLANTS, self.plant, "plant")
        check_choice("inputs", self.inputs, ("gaussian", *registry.DATASETS))
        check_choice("task", self.task, ("classification", "regression"))
        if not 0.0 <= self.label_noise <= 1.0:
            raise ValueError(f"label_noise must be in [0, 1], got {self.label_noise}")
        if self.ticket_width is not None and not 0.0 < self.ticket_width <= 1.0:
            raise ValueError(f"ticket_width must be in (0, 1] (a fraction of each hidden layer), "
                             f"got {self.ticket_width}")
        if self.ticket_remaining is not None and not 0.0 < self.ticket_remaining <= 1.0:
            raise ValueError(f"ticket_remaining must be in (0, 1], got {self.ticket_remaining}")
        check_bool(self, "sub_budget_ticket")
        if self.start_overlap is not None and not (
                isinstance(self.start_overlap, (int, float)) and 0.0 <= self.start_overlap <= 1.0):
            raise ValueError(f"start_overlap must be in [0, 1] (the fraction of P in the first mask), "
                             f"got {self.start_overlap}")


_DEVICE = re.compile(r"^(cpu|cuda(:\d+)?)$")


@dataclass(frozen=True)
class ExecutionConfig(Group):
    """How and where a run executes, never what it computes: not in the record's key."""

    name = "execution"
    about = ("how and where the run executes, not what it computes; not part of the record's key "
             "(the torch options need --backend torch)")
    keyed = False

    data_dir: Optional[str] = opt(None, "(torch) local directory of cifar10/cifar100/svhn/imagenet files; nothing is "
                                        "downloaded", torch_only=True)
    download: bool = opt(False, "(torch) fetch cifar10/cifar100/svhn into --data-dir first; needs torchvision", torch_only=True)
    device: str = opt("cpu", "(torch) cpu, cuda or cuda:N")
    loader_workers: int = opt(0, "(torch) DataLoader worker processes for image data", torch_only=True)
    checkpoint: Optional[str] = opt(None, "(torch) checkpoint file written after every epoch", torch_only=True)
    resume: bool = opt(False, "(torch) continue from --checkpoint when that file exists", torch_only=True)
    # engine threads: the record is the same bits at any count, so it is not even stored
    threads: int = opt(0, "engine threads of this run (0: every core available); the record is the same bits at "
                          "any count. Studies run one per cell", recorded=False)

    def validate(self) -> None:
        if not isinstance(self.device, str) or not _DEVICE.match(self.device):
            raise ValueError(f"device must be cpu, cuda or cuda:N; got {self.device!r}")
        if not isinstance(self.loader_workers, int) or isinstance(self.loader_workers, bool) \
                or self.loader_workers < 0:
            raise ValueError(f"loader_workers must be an integer >= 0, got {self.loader_workers!r}")
        for name in ("data_dir", "checkpoint"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise ValueError(f"{name} must be a non-empty path, got {value!r}")
        if self.resume and self.checkpoint is None:
            raise ValueError("resume needs --checkpoint PATH to resume from; got none")
        if self.checkpoint is not None:
            from sltsim.torch_backend.checkpoint_path import check_path  # torch-free

            check_path(self.checkpoint)
        if not isinstance(self.threads, int) or isinstance(self.threads, bool) or self.threads < 0:
            raise ValueError(f"threads must be an integer >= 0 (0: every core available), got {self.threads!r}")

    def torch_only(self) -> list:
        """The fields set here (to other than their defaults) that only the torch backend reads."""
        return [f.name for f in fields(self) if f.metadata["torch_only"] and getattr(self, f.name) != f.default]
