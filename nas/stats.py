"""Rank and error statistics shared by latency validation and proxy-fidelity benches (no scipy)."""

from __future__ import annotations

import numpy as np


def kendall_tau(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-b (ties handled), O(n^2): fine for the few hundred points we compare."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    dx = np.sign(x[:, None] - x[None, :])
    dy = np.sign(y[:, None] - y[None, :])
    upper = np.triu_indices(len(x), 1)
    dx, dy = dx[upper], dy[upper]
    concordance = float(np.sum(dx * dy))
    denominator = np.sqrt(float(np.sum(dx != 0)) * float(np.sum(dy != 0)))
    return concordance / denominator if denominator else float("nan")


def ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks (ties share the mean rank)."""
    values = np.asarray(values, float)
    order = np.argsort(values, kind="mergesort")
    result = np.empty(len(values))
    sorted_values = values[order]
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and sorted_values[j + 1] == sorted_values[i]:
            j += 1
        result[order[i:j + 1]] = (i + j) / 2
        i = j + 1
    return result


def spearman_rho(x: np.ndarray, y: np.ndarray) -> float:
    rx, ry = ranks(x), ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def mid_rank_percentile(ordered: list[float], value: float) -> float:
    """``value``'s percentile within the sorted ``ordered``, ties sharing their middle rank, in [0, 1]."""
    import bisect

    return (bisect.bisect_left(ordered, value) + bisect.bisect_right(ordered, value)) / 2 / len(ordered)


def error_report(predicted: np.ndarray, measured: np.ndarray) -> dict[str, float]:
    """% within +-5 % and +-10 %, MAPE, RMSE (ms), Kendall tau, Spearman rho of predicted vs measured."""
    predicted, measured = np.asarray(predicted, float), np.asarray(measured, float)
    relative = np.abs(predicted - measured) / measured
    return {
        "n": int(len(measured)),
        "within_5pct": float(np.mean(relative <= 0.05) * 100),
        "within_10pct": float(np.mean(relative <= 0.10) * 100),
        "mape_pct": float(np.mean(relative) * 100),
        "rmse_ms": float(np.sqrt(np.mean((predicted - measured) ** 2))),
        "kendall_tau": kendall_tau(predicted, measured),
        "spearman_rho": spearman_rho(predicted, measured),
    }


def nonnegative_least_squares(a: np.ndarray, b: np.ndarray, tolerance: float = 1e-12) -> np.ndarray:
    """``argmin ||a x - b||`` subject to ``x >= 0`` (Lawson and Hanson's active-set method).

    For cost models whose terms are times per unit of work: a negative coefficient would claim that
    more work takes less time, which no hardware does, and at a few dozen samples plain least squares
    happily finds one. (numpy has no NNLS and scipy is not a dependency.)
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    n = a.shape[1]
    passive = np.zeros(n, dtype=bool)
    x = np.zeros(n)
    gradient = a.T @ (b - a @ x)
    for _ in range(3 * n):
        if passive.all() or gradient[~passive].max() <= tolerance:
            break
        passive[int(np.argmax(np.where(passive, -np.inf, gradient)))] = True
        while True:
            trial = np.zeros(n)
            if not passive.any():  # every coefficient stepped back to zero: x = 0 is the answer here
                break
            trial[passive] = np.linalg.lstsq(a[:, passive], b, rcond=None)[0]
            if trial[passive].min() > 0:
                break
            # step back towards x until the first coefficient reaches zero, and drop it from the passive set
            blocked = passive & (trial <= 0)
            step = np.min(x[blocked] / np.maximum(x[blocked] - trial[blocked], 1e-300))
            x = x + step * (trial - x)
            passive &= x > tolerance
            x[~passive] = 0.0
        x = trial
        gradient = a.T @ (b - a @ x)
    return x


def pooled_sd(groups: list[list[float]]) -> float | None:
    """Pooled standard deviation of repeated measurements (e.g. one arch trained with several seeds),
    each group about its own mean; None when no group has two values."""
    repeated = [np.asarray(g, dtype=float) for g in groups if len(g) > 1]
    if not repeated:
        return None
    dof = sum(len(g) - 1 for g in repeated)
    return float(np.sqrt(sum(float(((g - g.mean()) ** 2).sum()) for g in repeated) / dof))


_T_975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
          2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
          2.045, 2.042)
"""Student's t 97.5 % quantiles for 1-30 degrees of freedom (the usual table; scipy is not a dependency)."""


def t_quantile_975(dof: int) -> float:
    """Two-sided 95 % critical value of Student's t; past the table, Cornish-Fisher's first correction to the
    normal quantile (within 0.002 of the exact value at 30 degrees of freedom)."""
    if dof < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {dof}")
    if dof <= len(_T_975):
        return _T_975[dof - 1]
    z = 1.959964
    return z + (z ** 3 + z) / (4 * dof)


def mean_interval_95(values: list[float]) -> tuple[float, float, float]:
    """Mean and its two-sided 95 % Student-t interval ``(mean, low, high)``; needs two values or more.

    Why t and not the normal: a confirmation has a handful of seeds, and with 4 of them the normal
    interval would be 1.6x too narrow."""
    sample = np.asarray(values, dtype=float)
    if len(sample) < 2:
        raise ValueError("an interval needs at least two values")
    mean = float(sample.mean())
    half = t_quantile_975(len(sample) - 1) * float(sample.std(ddof=1)) / float(np.sqrt(len(sample)))
    return mean, mean - half, mean + half
