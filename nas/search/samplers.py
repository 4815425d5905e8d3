"""The sampler registry: every Optuna sampler the search may run, by name, with what it needs.

An entry names its factory (``module:function``, taking the run's config and a seed and returning an Optuna sampler)
and how many start-up trials it takes from the search's initial design (:mod:`nas.search.initial`; 0 for a sampler
that must stay as it is, like the random control). ``--sampler``'s choices and help, the config's validation, the
Optuna driver and the Ray driver (through ``OptunaSearch``) read it.

To add a sampler: a factory function in a module of its own, and one :class:`SamplerEntry` line in
:data:`REGISTERED`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from nas.errors import NasError


class SearchConfig(Protocol):
    """What a sampler reads of the run's config (:class:`nas.search.config.SearchConfig`, which imports this
    registry, so it is typed structurally here)."""

    trials: int
    seed: int


@dataclass(frozen=True)
class SamplerEntry:
    name: str
    summary: str
    factory: str
    """``module:function(config, seed) -> optuna.samplers.BaseSampler``."""
    startup: Callable[[SearchConfig], int]
    """Start-up trials the sampler takes from the initial design (NSGA-II's first generation, TPE's random start)."""

    def make(self, config: SearchConfig, seed: int) -> Any:  # noqa: ANN401 (an Optuna sampler; Optuna imported late)
        module, function = self.factory.split(":")
        return getattr(importlib.import_module(module), function)(config, seed)


def nsga2_population(config: SearchConfig) -> int:
    """Small, so that a CPU-sized budget still sees several generations."""
    return max(4, min(50, config.trials // 3))


REGISTERED: tuple[SamplerEntry, ...] = (
    SamplerEntry("nsga2", "NSGA-II, multi-objective evolution (the default)", "nas.search.optuna_samplers:nsga2",
                 nsga2_population),
    SamplerEntry("tpe", "multivariate TPE", "nas.search.optuna_samplers:tpe", lambda config: max(4, config.trials // 3)),
    SamplerEntry("random", "uniform random sampling (the control)", "nas.search.optuna_samplers:random",
                 lambda config: 0),
)
SAMPLERS: dict[str, SamplerEntry] = {entry.name: entry for entry in REGISTERED}


def sampler_entry(name: str) -> SamplerEntry:
    try:
        return SAMPLERS[name]
    except KeyError:
        raise NasError(f"unknown sampler {name!r}; allowed: {', '.join(SAMPLERS)}") from None
