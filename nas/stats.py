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
