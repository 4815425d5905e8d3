"""Pareto fronts (accuracy up, latency down) with noise-aware ties, and 2-D hypervolume."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Point:
    key: str
    accuracy: float
    latency_ms: float


def dominates(a: Point, b: Point, noise: float = 0.0) -> bool:
    """``a`` dominates ``b``: no slower, and not less accurate beyond the noise.

    Accuracy differences within ``noise`` are ties, and a tie goes to the lower latency: a faster arch
    that is within noise of a slower one dominates it.
    """
    if a.latency_ms > b.latency_ms:
        return False
    if a.latency_ms < b.latency_ms:
        return a.accuracy >= b.accuracy - noise
    return a.accuracy > b.accuracy + noise


def pareto_front(points: Sequence[Point], noise: float = 0.0) -> list[Point]:
    """Non-dominated points, sorted by latency."""
    front = [p for p in points if not any(dominates(q, p, noise) for q in points if q is not p)]
    return sorted(front, key=lambda p: (p.latency_ms, -p.accuracy))


def nondominated_ranks(points: Sequence[Point], noise: float = 0.0) -> list[list[Point]]:
    """Successive fronts (rank 0 = the Pareto front), for promotion in successive halving."""
    remaining = list(points)
    fronts = []
    while remaining:
        front = pareto_front(remaining, noise)
        fronts.append(front)
        ids = {id(p) for p in front}
        remaining = [p for p in remaining if id(p) not in ids]
    return fronts


def hypervolume(points: Sequence[Point], budget_ms: float, min_accuracy: float = 0.0) -> float:
    """Area dominated by the front in (latency in [0, budget], accuracy above ``min_accuracy``).

    Latency is normalised by the budget, so the value is in [0, 1 - min_accuracy] and comparable
    between runs with the same budget.
    """
    feasible = [p for p in points if p.latency_ms <= budget_ms and p.accuracy > min_accuracy]
    front = pareto_front(feasible)
    area = 0.0
    for i, p in enumerate(front):
        right = front[i + 1].latency_ms if i + 1 < len(front) else budget_ms
        best_so_far = max(q.accuracy for q in front[: i + 1])
        area += (right - p.latency_ms) / budget_ms * (best_so_far - min_accuracy)
    return float(area)

