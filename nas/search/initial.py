"""The first trials of a model-based search: spread evenly over the latency range under the budget.

NSGA-II's first generation and TPE's start-up trials are random by default. Under a latency budget
that wastes a scarce CPU budget: random archs crowd around the space's median latency, so the first
fronts miss both the fast end and the archs just under the budget (where the most accurate feasible
archs are). Latency is a table look-up, so the search can afford to look at a few thousand random archs
and start from ones whose predicted latencies are evenly spaced between the fastest one found and the
budget, the cheap objective stratified before any training (the idea of latency-bucketed sampling in
once-for-all and HAT). The random sampler is the control and never gets this.

A screening run goes further (:func:`capacity_front`): its screened candidates are the archs of a few
thousand random ones that have the most multiply-adds for their latency, since MACs are free and, on
NAS-Bench-Macro, rank 50-epoch accuracy at Spearman 0.79 where a random feasible arch ranks at 0.
The zero-cost score then ranks within that shortlist (docs/decisions/0025).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nas.arch import Arch
from nas.cost import arch_cost
from nas.latency.table import CompiledTable
from nas.search.pareto import Point, nondominated_ranks
from nas.space import SearchSpace

POOL = 2_000
"""Random archs looked at per design: about 10 ms of table look-ups per hundred."""


def latency_stratified(space: SearchSpace, compiled: CompiledTable, budget_ms: float, count: int, seed: int,
                       pool: int = POOL) -> list[dict[str, Any]]:
    """Trial parameters of ``count`` distinct feasible archs at evenly spaced predicted latencies."""
    if count <= 0:
        return []
    drawn = space.sample_with_params(pool, seed=seed)
    latency = compiled.predict_many([arch for arch, _ in drawn])
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


DRAWS_PER_POOL_ARCH = 8
"""At most this many draws per wanted pool arch: under a tight budget most draws are over it, and a small space
runs out of new archs."""


def capacity_front(space: SearchSpace, compiled: CompiledTable, budget_ms: float, count: int, seed: int,
                   pool: int, universe: Sequence[Arch] | None = None, signal: str = "macs") -> list[dict[str, Any]]:
    """Trial parameters of ``count`` distinct feasible archs of a random pool of ``pool`` (``prescreen_pool``, 2,048
    by default: a few seconds of sampling and MAC counting for ghost_mbv2), by non-dominated rank of (MACs up,
    latency down), the most MACs first within a front: the archs with the most capacity for their latency. A
    first front larger than ``count`` (94 of 976 feasible NAS-Bench-Macro archs, 56 of 2,048 ghost_mbv2 ones) gives
    its slow end, the archs with the most capacity under the budget: the search asks for the most accurate arch
    within the budget, and the front it returns spans less of the latency range below it.

    Why: a search screens a few dozen archs with a zero-cost proxy and trains a handful. On NAS-Bench-Macro the
    networks within 0.3 points of the best feasible one are 6-14 of 1,000-3,000, and all but a few of them are
    among the 200 with the most MACs under the budget; drawn at random, 64 screened archs rarely hold one
    (``bench/search_regret.py``).

    ``universe`` (``--candidates table``): the pool is drawn from these networks of the space (a benchmark's
    published ones) instead of from the whole space."""
    return [params for _, params in capacity_archs(space, compiled, budget_ms, count, seed, pool, universe, signal)]


def capacity_archs(space: SearchSpace, compiled: CompiledTable, budget_ms: float, count: int, seed: int,
                   pool: int, universe: Sequence[Arch] | None = None,
                   signal: str = "macs") -> list[tuple[Arch, dict[str, Any]]]:
    """:func:`capacity_front`'s archs with their trial parameters (benches replay the search's stages with them)."""
    from nas.space_params import trial_params

    if count <= 0 or pool <= 0:
        return []
    feasible = _feasible_pool(space, compiled, budget_ms, pool, seed, universe)
    points = [Point(key, float(getattr(arch_cost(arch), signal)), ms) for key, (arch, _, ms) in feasible.items()]
    ordered = [p for front in nondominated_ranks(points, enough=count)
               for p in sorted(front, key=lambda p: (-p.accuracy, p.latency_ms, p.key))]
    chosen = [feasible[p.key][:2] for p in ordered[:count]]
    return [(arch, params if params is not None else trial_params(space, arch)) for arch, params in chosen]


def _draw(space: SearchSpace, count: int, seed: int,
          universe: Sequence[Arch] | None) -> list[tuple[Arch, dict[str, Any] | None]]:
    """``count`` random archs of the space with their trial parameters, or of ``universe`` without them (found only
    for the few that are chosen: :func:`nas.space_params.trial_params` takes milliseconds an arch)."""
    if universe is None:
        return list(space.sample_with_params(count, seed=seed))
    picked = np.random.default_rng(seed).choice(len(universe), min(count, len(universe)), replace=False)
    return [(universe[i], None) for i in picked]


def _feasible_pool(space: SearchSpace, compiled: CompiledTable, budget_ms: float, pool: int, seed: int,
                   universe: Sequence[Arch] | None = None) -> dict[str, tuple[Any, dict[str, Any] | None, float]]:
    """Up to ``pool`` distinct archs under the budget (arch string -> arch, trial parameters, latency), drawn in
    rounds of ``pool`` until there are enough, the draws reach :data:`DRAWS_PER_POOL_ARCH` x ``pool``, or a round
    finds nothing new."""
    found: dict[str, tuple[Any, dict[str, Any] | None, float]] = {}
    seen: set[str] = set()
    for round_ in range(DRAWS_PER_POOL_ARCH):
        drawn = [(arch, params) for arch, params in _draw(space, pool, seed + 7_919 * round_, universe)
                 if str(arch) not in seen]
        seen.update(str(arch) for arch, _ in drawn)
        fresh = {str(arch): (arch, params) for arch, params in drawn}
        if not fresh:
            break
        latency = compiled.predict_many([arch for arch, _ in fresh.values()])
        for (key, (arch, params)), ms in zip(fresh.items(), latency):
            if ms <= budget_ms and len(found) < pool:
                found[key] = (arch, params, float(ms))
        if len(found) >= pool:
            break
    return found
