"""The single-run CLI: ``python -m sltsim --method ep --model mlp:64,256,256,10 --data digits ...``.

Progress goes to stderr; with ``--json`` the last line of stdout is the run's
record. Bad input prints one line naming the field and exits 2; a diverged run
prints why and exits 3.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Sequence

from sltsim.config import RunConfig

EXIT_BAD_INPUT = 2
EXIT_DIVERGED = 3

HELP = {
    "method": "search method (see --list-methods); ep = edge-popup at the final prune rate",
    "model": "network searched: mlp:IN,H1,...,OUT, conv2|conv4|conv6|conv8, resnet8|resnet20",
    "data": "digits (scikit-learn), mnist1d (generated offline), or planted (a teacher inside the student)",
    "prune_rate": "k: fraction of each layer's edges masked, in [0, 1) (for iterative methods, the final k)",
    "epochs": "epochs per cycle",
    "batch_size": "minibatch size",
    "lr": "base learning rate of the scores",
    "momentum": "SGD momentum in [0, 1)",
    "nesterov": "Nesterov momentum",
    "weight_decay": "L2 weight decay on the scores",
    "schedule": "learning-rate schedule within a cycle: constant, cosine, step",
    "warmup_epochs": "linear warm-up epochs at the start of each cycle",
    "seed": "random seed; the same seed gives bitwise-identical results",
    "weight_init": "theta0 init: signed_kaiming_constant, scaled_signed_constant, kaiming_normal, kaiming_uniform, uniform",
    "score_init": "s0 init: kaiming_uniform, normal, signed_constant, scaled_signed_constant",
    "global_topk": "one |s| threshold over all layers instead of one per layer",
    "dense_first": "keep the first layer dense (not searched)",
    "dense_last": "keep the last layer dense (not searched)",
    "bias": "give dense layers a frozen random bias",
    "score_bias": "search the biases too (needs --bias)",
    "dtype": "float32 (default) or float64",
    "track_history": "track the mask history (dying edges); --no-track-history to skip",
    "cycles": "number of cycles C of an iterative method",
    "shrinkage": "p: fraction of the remaining edges masked per cycle, in (0, 1)",
    "iterand_period": "iterand: redraw pruned weights every K steps (Chijiwa et al. 2021 use 300)",
    "iterand_rate": "iterand: probability lambda that a pruned weight is redrawn, in [0, 1] (they use 0.1)",
    "coats": "multicoat: prune rates of the inner coats, comma-separated, strictly increasing, "
             "each above --prune-rate (the outer coat), e.g. 0.75,0.875",
    "plant": "planted target: subnetwork (teacher = f(x; P*theta0)) or neuron (Plant 'n' Seek)",
    "ticket_remaining": "remaining ratio r* of the planted ticket per layer, <= 1 - k",
    "ticket_width": "fraction of each hidden layer's units that belong to the ticket",
    "inputs": "planted inputs: gaussian, or digits/mnist1d relabelled by the teacher",
    "task": "planted labels: classification (argmax of the teacher) or regression (its outputs)",
    "n_train": "planted training examples",
    "n_test": "planted held-out examples",
    "label_noise": "fraction of planted training labels replaced at random",
    "random_labels": "sanity check (Su et al. 2020): search on the training labels randomly permuted "
                     "(test labels stay true)",
    "backend": "numpy (reference engine) or torch",
    "data_dir": "(torch) local directory of cifar10/cifar100/svhn/imagenet files; nothing is downloaded",
    "download": "(torch) fetch cifar10/cifar100/svhn into --data-dir first; needs torchvision",
    "device": "(torch) cpu, cuda or cuda:N",
    "loader_workers": "(torch) DataLoader worker processes for image data",
    "checkpoint": "(torch) checkpoint file written after every epoch",
    "resume": "(torch) continue from --checkpoint when that file exists",
    "threads": "engine threads of this run (0: every core available); the record is the same bits "
               "at any count. Studies run one per cell",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, no usage dump
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _float_tuple(text: str) -> tuple:
    """'0.75,0.875' -> (0.75, 0.875); '' -> ()."""
    try:
        return tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m sltsim", description=(
        "Run one strong-lottery-ticket search (edge-popup or a variant) and report accuracy and "
        "the dying ratio. Progress goes to stderr."),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    for f in dataclasses.fields(RunConfig):
        help_text = HELP.get(f.name, f.name)
        if isinstance(f.default, bool):
            parser.add_argument(_flag(f.name), dest=f.name, action=argparse.BooleanOptionalAction,
                                default=f.default, help=help_text)
            continue
        if isinstance(f.default, tuple):
            parser.add_argument(_flag(f.name), dest=f.name, type=_float_tuple, default=f.default,
                                metavar="K1,K2,...", help=help_text)
            continue
        kind = {int: int, float: float, str: str}.get(type(f.default), float)
        if f.name in ("ticket_width",):
            kind = float
        if f.type == "Optional[str]":
            kind = str
        parser.add_argument(_flag(f.name), dest=f.name, type=kind, default=f.default,
                            metavar=f.name.upper(), help=help_text)
    parser.add_argument("--json", action="store_true", help="print the record as one JSON line (last line of stdout)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.add_argument("--list-methods", action="store_true", help="list the search methods and exit")
    return parser


def config_from_args(args: argparse.Namespace) -> RunConfig:
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(RunConfig)}
    return RunConfig(**values)


def _summary(record: dict) -> str:
    cfg = record["config"]
    lines = [f"{cfg['method']} on {cfg['data']} with {cfg['model']}, k={record['prune_rate']:.3f}, seed {cfg['seed']}:"]
    for name in ("test_acc", "train_acc", "loss", "dying_ratio", "k_minus_d", "reverted_ratio",
                 "false_negative_dying", "true_negative_dying", "recall", "teacher_agreement"):
        if name in record and isinstance(record[name], float):
            lines.append(f"  {name:<22} {record[name]:.4f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help (0) or a bad flag (2, one line already printed)
        return int(e.code or 0)
    if args.list_methods:
        from sltsim.search import METHODS

        for name, m in METHODS.items():
            print(f"{name:<16} {m.description}")
        return 0
    try:
        config = config_from_args(args)
    except ValueError as e:
        print(f"{parser.prog}: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if config.backend == "torch":
        try:
            from sltsim.torch_backend import run_search
        except ImportError as e:
            print(f"{parser.prog}: error: backend torch needs torch: pip install torch==2.13.0 && "
                  f"pip install -e '.[torch]' ({e})", file=sys.stderr)
            return EXIT_BAD_INPUT
    else:
        from sltsim.search import run_search
    try:
        record = run_search(config, progress=not args.no_progress)
    except (ValueError, ImportError) as e:  # bad input, or a data set whose extra is not installed
        print(f"{parser.prog}: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(json.dumps(record) if args.json else _summary(record))
    if record["status"] == "diverged":
        print(f"{parser.prog}: diverged: {record.get('reason', '')}", file=sys.stderr)
        return EXIT_DIVERGED
    return 0


if __name__ == "__main__":
    sys.exit(main())
