"""Pareto fronts (accuracy up, latency down) with noise-aware ties, and 2-D hypervolume."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


def pareto_front(points: Sequence[Point], noise: float = 0.0, merit: Mapping[str, float] | None = None) -> list[Point]:
    """The front, sorted by latency: from the fastest point on, each next point is kept only if it is more
    accurate than every faster kept point by more than ``noise``, or (with ``merit``) within the noise of it and of
    higher merit. Without ``merit``, ties go to the lower latency.

    With noise, "within noise" is not transitive: removing every point that *some* point dominates lets
    a chain (b ties a, c ties b) remove c although c beats everything left on the front beyond the noise.
    Comparing only with points that stay on the front avoids that; with ``noise = 0`` this is the exact
    Pareto front (of equal points, the first).

    Why ``merit``: within the seed noise a short training does not order two archs, and a faster one would win
    every such tie by latency alone. On NAS-Bench-Macro the search's top rung ranks 50-epoch accuracy at Spearman
    0.32 and its screening estimator at 0.92 (``bench/accuracy_fidelity.py``), so a search that screens lets that
    estimator break the ties (docs/decisions/0025).
    """
    front: list[Point] = []
    for p in sorted(points, key=lambda p: (p.latency_ms, -p.accuracy)):
        if merit is None:
            if not front or p.accuracy > front[-1].accuracy + noise:  # kept points rise: the last is the best
                front.append(p)
        elif all(p.accuracy > q.accuracy + noise or (p.accuracy >= q.accuracy - noise and merit[p.key] > merit[q.key])
                 for q in front):
            front.append(p)
    return front


def ties_kept(front: Sequence[Point]) -> dict[str, list[str]]:
    """For each front point, the faster front points that are more accurate: a plain Pareto front would drop it, the
    noise-aware one keeps it because each of those differences is within the noise and the tie went its way (to the
    higher merit). Shown beside the front, so that such a point does not look like a mistake."""
    return {p.key: [q.key for q in front if q.latency_ms < p.latency_ms and q.accuracy > p.accuracy] for p in front}


def front_best(points: Sequence[Point], noise: float = 0.0, merit: Mapping[str, float] | None = None) -> Point:
    """The most accurate point: of those within ``noise`` of the highest accuracy, the one of highest ``merit``
    (without it, the highest accuracy)."""
    top = max(p.accuracy for p in points)
    tied = [p for p in points if p.accuracy >= top - noise] if merit is not None else list(points)
    return max(tied, key=lambda p: (merit[p.key] if merit is not None else 0.0, p.accuracy, -p.latency_ms))


def nondominated_ranks(points: Sequence[Point], noise: float = 0.0, enough: int | None = None) -> list[list[Point]]:
    """Successive fronts (rank 0 = the Pareto front), for promotion in successive halving; with ``enough``, only
    until the fronts hold that many points (a large pool of which only the best few are wanted)."""
    remaining = list(points)
    fronts: list[list[Point]] = []
    while remaining and (enough is None or sum(map(len, fronts)) < enough):
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
        area += (right - p.latency_ms) / budget_ms * (p.accuracy - min_accuracy)  # the front rises with latency
    return float(area)



def compare_to_baseline(best_accuracies: Sequence[float], baseline_accuracies: Sequence[float],
                        noise_sd: float | None) -> dict:
    """The searched arch's mean over its ``m`` seeds against the baseline's mean over its ``n``, in points,
    judged against twice the gap's own seed noise ``sd * sqrt(1/m + 1/n)`` (about a 95 % band)."""
    m, n = len(best_accuracies), len(baseline_accuracies)
    gap = (sum(best_accuracies) / m - sum(baseline_accuracies) / n) * 100
    band = 2 * (noise_sd or 0.0) * 100 * (1 / m + 1 / n) ** 0.5
    verdict = "ahead" if gap > band else "behind" if gap < -band else "within the seed noise"
    return {"gap_pts": gap, "noise_sd_pts": (noise_sd or 0.0) * 100, "band_pts": band, "verdict": verdict,
            "measured_noise": noise_sd is not None}
