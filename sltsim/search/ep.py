"""Edge-popup (Ramanujan et al., 2020): one cycle at the final prune rate, from s0."""

from __future__ import annotations

from sltsim.search.loop import run_cycle


class EdgePopup:
    """EP: keep the top-(1-k) of |s| per layer (or globally), train s straight through."""

    name = "ep"
    description = "edge-popup: one cycle at the final prune rate k, scores from s0"

    def validate(self, config) -> None:
        if config.cycles != 1 or config.shrinkage is not None:
            raise ValueError(f"method {config.method} runs one cycle: cycles must be 1 and shrinkage unset, "
                             f"got cycles={config.cycles}, shrinkage={config.shrinkage}")

    def final_prune_rate(self, config) -> float:
        return config.prune_rate

    def run(self, search, progress: bool = False) -> list:
        return [run_cycle(search, search.config.epochs, progress=progress, desc=self.name)]
