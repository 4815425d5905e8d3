"""The first trials of a model-based search: spread evenly over the latency range under the budget.

NSGA-II's first generation and TPE's start-up trials are random by default. Under a latency budget
that wastes a scarce CPU budget: random archs crowd around the space's median latency, so the first
fronts miss both the fast end and the archs just under the budget (where the most accurate feasible
archs are). Latency is a table look-up, so the search can afford to look at a few thousand random archs
and start from ones whose predicted latencies are evenly spaced between the fastest one found and the
budget, the cheap objective stratified before any training (the idea of latency-bucketed sampling in
once-for-all and HAT). The random sampler is the control and never gets this.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nas.latency.table import CompiledTable
from nas.space import SearchSpace

POOL = 2_000
"""Random archs looked at per design: about 10 ms of table look-ups per hundred."""


def latency_stratified(space: SearchSpace, compiled: CompiledTable, budget_ms: float, count: int, seed: int,
                       pool: int = POOL) -> list[dict[str, Any]]:
    """Trial parameters of ``count`` distinct feasible archs at evenly spaced predicted latencies."""
    if count <= 0:
        return []
    drawn = space.sample_with_params(pool, seed=seed)
    latency = compiled.predict([arch for arch, _ in drawn])
    feasible = np.flatnonzero(latency <= budget_ms)
    if len(feasible) == 0:
        return []
    targets = np.linspace(latency[feasible].min(), latency[feasible].max(), count)
    chosen: dict[str, dict[str, Any]] = {}  # arch -> its parameters, in the order of the targets
    for target in targets:
        for index in feasible[np.argsort(np.abs(latency[feasible] - target))]:
            arch, params = drawn[index]
            if str(arch) not in chosen:
                chosen[str(arch)] = params
                break
    return list(chosen.values())
