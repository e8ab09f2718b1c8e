"""Columns the study tables read off a record beyond its stored fields: the quality of a mask,
enrichment and recall of the planted ticket above chance.

- **quality**: what "better" means for a setting. Test accuracy on a classification task
  (higher is better); on a planted regression task 1 - R^2 of the student against the
  teacher on the test split, ``test_unexplained`` (lower is better, 0 at P). Every study
  compares methods on :func:`quality` and reads its sign before calling a winner.
- **enrichment** = (share of P dying) / (share of the rest dying): 1 for a search blind to
  P, 0 when no edge of P dies. Records of the planted plant carry it; an iterative
  record's cycles carry only fn, tn and P's dying share, so it is derived here from those.
- **recall above chance** = (recall - (1 - k)) / k: 0 for a mask blind to P, 1 for P.
- **control role**: which planted control a record is (sltsim.studies.planted_controls builds
  them): a search started from P, a random mask at the budget, dense weight training.
"""

from __future__ import annotations

import math

from sltsim.config import RunConfig

_DEFAULT_TASK = RunConfig.__dataclass_fields__["task"].default


def quality(config: dict) -> tuple[str, str, int]:
    """(column, short name, sign) of a setting's quality of a mask: ``("test_acc", "test_acc", 1)``,
    or on a planted regression task ``("test_unexplained", "1-R2 test", -1)``."""
    if config.get("data") == "planted" and config.get("task", _DEFAULT_TASK) == "regression":
        return "test_unexplained", "1-R2 test", -1
    return "test_acc", "test_acc", 1


def enrichment(ticket_dying: float, true_negative_dying: float, ticket_share: float) -> float:
    """(share of P dying) / (share of the rest dying) from P's dying share, the true-negative dying
    edges as a fraction of all edges and ``ticket_share`` = |P| / n; NaN when any is missing or no
    edge outside P is dying."""
    if any(v is None or not math.isfinite(v) for v in (ticket_dying, true_negative_dying, ticket_share)):
        return math.nan
    rest_dying = true_negative_dying / (1.0 - ticket_share) if ticket_share < 1.0 else math.nan
    return ticket_dying / rest_dying if rest_dying and math.isfinite(rest_dying) else math.nan


#: the train-split column of each quality column
TRAIN_COLUMN = {"test_acc": "train_acc", "test_unexplained": "train_unexplained"}


def derived(record: dict) -> dict:
    """A copy of the record with ``quality`` (its :func:`quality` column), ``train_quality`` (the
    same on the train split), ``enrichment`` and ``recall_above_chance`` filled in where the record
    does not carry them."""
    out = dict(record)
    column = quality(record["config"])[0]
    out["quality"], out["train_quality"] = record.get(column), record.get(TRAIN_COLUMN[column])
    if out.get("enrichment") is None:
        out["enrichment"] = enrichment(record.get("ticket_dying_ratio"), record.get("true_negative_dying"),
                                       record.get("ticket_remaining"))
    if out.get("recall_above_chance") is None:
        k, recall = record.get("prune_rate", record["config"]["prune_rate"]), record.get("recall")
        out["recall_above_chance"] = (recall - (1 - k)) / k if recall is not None and k > 0 else math.nan
    return out


def control_role(record: dict) -> str | None:
    """Which control a record is (a key of :data:`CONTROL_LABELS`, or ``basin q=...``); None for a search."""
    config = record["config"]
    if config["method"] == "random-uniform":
        return "random_mask"
    if config["method"] == "dense":
        return "dense"
    q = config.get("start_overlap")
    if q is None:
        return None
    return "ticket_start" if q == 1.0 else f"basin q={q:g}"
