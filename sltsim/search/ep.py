"""Edge-popup (Ramanujan et al., CVPR 2020): one cycle at the final prune rate, from s0."""

from __future__ import annotations

from sltsim.search.method import Method


class EdgePopup(Method):
    """EP: keep the top-(1-k) of |s| per layer (or globally), train s straight through."""

    name = "ep"
    description = "edge-popup: one cycle at the final prune rate k, scores from s0"
    searches_from_scores = True
