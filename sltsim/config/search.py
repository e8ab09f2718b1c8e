"""The search group of the run config: which search, at which prune rate, from which
initialisation, and every method's own options.

A method declares the fields it owns in its ``options`` (:func:`method_options`); every other
method refuses them set. The method's own initialisers (``method_inits``) replace the EP
defaults here, when the group is built, so that every later reader sees the inits the run uses.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Optional

from sltsim import registry
from sltsim.config.base import Group, check_bool, check_choice, check_positive_int, opt


@dataclass(frozen=True)
class SearchConfig(Group):
    """Which search, at which prune rate, from which initialisation."""

    name = "search"
    about = "which search, at which prune rate, from which initialisation, and each method's own options"

    method: str = opt("ep", "search method (see --list-methods); ep = edge-popup at the final prune rate")
    prune_rate: float = opt(0.5, "k: fraction of each layer's edges MASKED, in [0, 1) (for iterative methods, the "
                                 "final k); remaining = 1 - k. Note: hidden-networks' --prune-rate is the fraction "
                                 "KEPT")
    seed: int = opt(0, "random seed; the same seed gives bitwise-identical results")
    weight_init: str = opt("signed_kaiming_constant", "theta0 init: signed_kaiming_constant, scaled_signed_constant, "
                                                      "kaiming_normal, kaiming_uniform, uniform")
    score_init: str = opt("kaiming_uniform", "s0 init: kaiming_uniform, normal, signed_constant, "
                                             "scaled_signed_constant, kaiming_uniform_relu, kaiming_normal_fan_out; "
                                             "kaiming_uniform here is EP's U(+-1/sqrt(fan_in)), the weight init "
                                             "uniform (the table in docs/glossary.md)")
    global_topk: bool = opt(False, "one |s| threshold over all layers instead of one per layer")
    dense_first: bool = opt(False, "keep the first layer dense (not searched)")
    dense_last: bool = opt(False, "keep the last layer dense (not searched)")
    score_bias: bool = opt(False, "search the biases too (needs --bias)")
    track_history: bool = opt(True, "track the mask history (dying edges); --no-track-history to skip")
    # iterative methods (Table 3)
    cycles: int = opt(1, "number of cycles C of an iterative method")
    shrinkage: Optional[float] = opt(None, "p: fraction of the remaining edges masked per cycle, in (0, 1)")
    keep_momentum: bool = opt(False, "iterative methods: keep the SGD momentum across cycles (default: reset at each "
                                     "cycle start; with it, zero-init scores revive)")
    # baselines (sltsim.search.iterand, sltsim.search.multicoat)
    iterand_period: int = opt(300, "iterand: redraw pruned weights every K steps (Chijiwa et al. 2021 use 300)")
    iterand_rate: float = opt(0.1, "iterand: probability lambda that a pruned weight is redrawn, in [0, 1] (they use "
                                   "0.1)")
    iterand_ranking: str = opt("raw", "iterand: raw (the mask ranks the scores s, identity straight-through, as "
                                      "released) or abs (EP's |s| and sign(s) gradient)")
    coats: tuple = opt((), "multicoat: prune rates of the inner coats, comma-separated, strictly increasing, each "
                           "above --prune-rate (the outer coat), e.g. 0.75,0.875")
    # iterand and multicoat replace the EP default weight_init / score_init by their papers'
    # (docs/methods.md); False uses the config's values literally
    method_inits: bool = opt(True, "iterand and multicoat draw theta0/s0 from their papers' inits where "
                                   "--weight-init/--score-init keep the EP defaults; --no-method-inits uses those "
                                   "values literally")

    def __post_init__(self):
        if isinstance(self.coats, (tuple, list)) and all(
                isinstance(c, (int, float)) and not isinstance(c, bool) for c in self.coats):
            object.__setattr__(self, "coats", tuple(float(c) for c in self.coats))
        super().__post_init__()

    def validate(self) -> None:
        registry.load()
        method = registry.get(registry.METHODS, self.method, "method")
        check_choice("iterand_ranking", self.iterand_ranking, ("raw", "abs"))
        check_bool(self, "method_inits")
        for name, value in self.method_inits_used().items():
            if getattr(self, name) == SearchConfig.__dataclass_fields__[name].default:
                object.__setattr__(self, name, value)  # the method's own default (frozen dataclass)
        if not (isinstance(self.prune_rate, (int, float)) and 0.0 <= self.prune_rate < 1.0):
            raise ValueError(f"prune_rate must be in [0, 1), got {self.prune_rate}")
        check_positive_int(self, "cycles")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}")
        registry.get(registry.WEIGHT_INITS, self.weight_init, "weight_init")
        registry.get(registry.SCORE_INITS, self.score_init, "score_init")
        if self.shrinkage is not None and not 0.0 < self.shrinkage < 1.0:
            raise ValueError(f"shrinkage must be in (0, 1), got {self.shrinkage}")
        check_positive_int(self, "iterand_period")
        if not (isinstance(self.iterand_rate, (int, float)) and 0.0 <= self.iterand_rate <= 1.0):
            raise ValueError(f"iterand_rate must be in [0, 1], got {self.iterand_rate}")
        _check_coats(self.coats)
        check_bool(self, "keep_momentum")
        if self.keep_momentum and not hasattr(method, "variant"):
            raise ValueError(f"keep_momentum applies to the iterative methods (hard-*, soft-*) only, "
                             f"got keep_momentum=True with method {self.method}")
        for name, owners in method_options().items():
            if self.method not in owners and getattr(self, name) != SearchConfig.__dataclass_fields__[name].default:
                raise ValueError(f"{name} applies to method{'s' if len(owners) > 1 else ''} {', '.join(owners)} "
                                 f"only, got {name}={getattr(self, name)!r} with method {self.method}")

    def method_inits_used(self) -> dict:
        """{field: init} the method uses in place of the EP defaults (empty when method_inits is off)."""
        registry.load()
        inits = getattr(registry.METHODS[self.method], "method_inits", None)
        return inits(self) if self.method_inits and inits is not None else {}

    def non_default(self) -> dict:
        """The fields that differ from their defaults, the seed always included. A method's own
        init (:meth:`method_inits_used`) counts as its default, so resolving it never moves a key."""
        own = self.method_inits_used()
        return {name: value for name, value in super().non_default().items()
                if not (name in own and value == own[name])} | {"seed": self.seed}


def method_options() -> dict:
    """{search field: names of the methods that own it}, from each method's ``options`` (a
    method's own fields: every other method refuses them set to other than their default)."""
    registry.load()
    known = {f.name for f in fields(SearchConfig)}
    owners: dict = {}
    for name, method in registry.METHODS.items():
        for option in getattr(method, "options", ()):
            if option not in known:
                raise ValueError(f"method {name} declares option {option!r}, which is not a field of the "
                                 f"search group (sltsim.config.SearchConfig)")
            owners.setdefault(option, []).append(name)
    return owners


def _check_coats(coats) -> None:
    """coats: a tuple of prune rates in (0, 1), strictly increasing (one per inner coat)."""
    ok = isinstance(coats, tuple) and all(
        isinstance(c, (int, float)) and not isinstance(c, bool) and 0.0 < c < 1.0 for c in coats)
    if not ok or any(b <= a for a, b in zip(coats, coats[1:])):
        raise ValueError(f"coats must be strictly increasing prune rates in (0, 1), got {coats!r}")
