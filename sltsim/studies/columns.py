"""Columns the study tables read off a record beyond its stored fields: the quality of a mask,
enrichment and recall of the planted ticket above chance.

- **quality**: what "better" means for a setting. Test accuracy on a classification task
  (higher is better); on a planted regression task 1 - R^2 of the student against the
  teacher on the test split, ``test_unexplained`` (lower is better, 0 at P). Every study
  compares methods on :func:`quality` and reads its sign before calling a winner.
- **enrichment** = (share of P dying) / (share of the rest dying): 1 for a search blind to
  P, 0 when no edge of P dies. Records of the planted plant carry it; an iterative
  record's cycles carry only fn, tn and P's dying share, so it is derived here from those.
- **recall above chance** = (recall - chance) / (1 - chance), the chance level being the
  recall of a random mask with the record's per-layer counts (``recall_chance``): 0 for a
  mask blind to P, 1 for P. A record without its chance level gets NaN.
- **control role**: which planted control a record is (sltsim.studies.planted_controls builds
  them): a search started from P, a random mask at the budget, dense weight training.
"""

from __future__ import annotations

import math

from sltsim.config import RunConfig
from sltsim.metrics.recovery import above_chance
from sltsim.metrics.recovery import enrichment_of_shares as enrichment

_DEFAULT_TASK = RunConfig.__dataclass_fields__["task"].default


def quality(config: dict) -> tuple[str, str, int]:
    """(column, short name, sign) of a setting's quality of a mask: ``("test_acc", "test_acc", 1)``,
    or on a planted regression task ``("test_unexplained", "1-R2 test", -1)``."""
    if config.get("data") == "planted" and config.get("task", _DEFAULT_TASK) == "regression":
        return "test_unexplained", "1-R2 test", -1
    return "test_acc", "test_acc", 1


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
    if out.get("recall_above_chance") is None:  # from the record's own chance level, never from k
        recall, chance = record.get("recall"), record.get("recall_chance")
        out["recall_above_chance"] = above_chance(recall, chance) if None not in (recall, chance) else math.nan
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
