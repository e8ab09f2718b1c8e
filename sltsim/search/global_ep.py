"""Global edge-popup: one |s| threshold over all searched layers at once.

Ramanujan et al. (2020) rank the scores within each layer; the global variant keeps
the top-(1-k) of |s| over the concatenation of every searched tensor, so layers
compete for the same budget and their individual prune rates follow from the
scores (exactly ``floor(k * n + 0.5)`` of the n searched edges are masked in
total, ties at the threshold kept in layer-then-index order; see
:func:`sltsim.engine.supermask.select`). Everything else is EP: one cycle at the
final prune rate from s0.

The method forces the global threshold through its ``global_topk`` attribute
(read by both backends' builders), so ``--method ep-global`` needs
no ``--global-topk`` flag and the record's config keeps the value it was given.
"""

from __future__ import annotations

from sltsim.search.ep import EdgePopup


class GlobalEdgePopup(EdgePopup):
    """EP with one threshold over all searched layers (global top-k)."""

    name = "ep-global"
    description = "edge-popup with one |s| threshold over all layers (global top-k), one cycle at k"
    global_topk = True
    searches_from_scores = False  # a start control places the first mask layer by layer, not globally
