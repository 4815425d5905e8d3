"""Estimators built from others: a rank ensemble and a least-squares model of cheap signals.

* Rank ensemble: each component's score becomes its percentile within a reference population of
  archs (scored once), and the ensemble averages the percentiles. Percentiles make signals on
  different scales (MACs in millions, NASWOT in hundreds) count equally, and an arch's score does
  not depend on which other archs it happens to be compared with.
* Fitted: least squares from the components' standardised scores to accuracies measured on some archs
  (a table's, or the trainings a search has already done), applied to new ones.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from nas.accuracy.estimator import Estimator, Score
from nas.arch import Arch
from nas.stats import mid_rank_percentile


class RankEnsemble:
    cost = "combined"

    def __init__(self, components: Sequence[Estimator], reference: Sequence[Arch],
                 reference_scores: dict[str, list[float]] | None = None) -> None:
        """``reference_scores`` (component name -> scores of ``reference``) skips re-scoring what is already known."""
        self.components = list(components)
        self.name = "rank(" + "+".join(c.name for c in self.components) + ")"
        known = reference_scores or {}
        self.sorted = {c.name: sorted(known.get(c.name) or [c.score(a).value for a in reference])
                       for c in self.components}

    def percentile(self, name: str, value: float) -> float:
        return mid_rank_percentile(self.sorted[name], value)

    def combine(self, values: dict[str, float]) -> float:
        return float(np.mean([self.percentile(name, v) for name, v in values.items()]))

    def score(self, arch: Arch) -> Score:
        started = time.process_time()
        value = self.combine({c.name: c.score(arch).value for c in self.components})
        return Score(value, f"combined: mean percentile of {', '.join(self.sorted)}", time.process_time() - started)


class FittedModel:
    cost = "combined"

    def __init__(self, components: Sequence[Estimator], archs: Sequence[Arch], accuracies: Sequence[float],
                 known_scores: dict[str, list[float]] | None = None, ridge: float = 1e-3) -> None:
        self.components = list(components)
        self.name = "fit(" + "+".join(c.name for c in self.components) + ")"
        known = known_scores or {}
        columns = [np.asarray(known.get(c.name) or [c.score(a).value for a in archs], float) for c in self.components]
        x = np.stack(columns, axis=1)
        self.mean, self.sd = x.mean(axis=0), x.std(axis=0) + 1e-12
        z = np.hstack([(x - self.mean) / self.sd, np.ones((len(x), 1))])
        y = np.asarray(accuracies, float)
        penalty = ridge * np.eye(z.shape[1])
        penalty[-1, -1] = 0.0
        self.coef = np.linalg.solve(z.T @ z + penalty, z.T @ y)
        self.fitted_on = len(y)

    def combine(self, values: dict[str, float]) -> float:
        z = (np.array([values[c.name] for c in self.components]) - self.mean) / self.sd
        return float(z @ self.coef[:-1] + self.coef[-1])

    def score(self, arch: Arch) -> Score:
        started = time.process_time()
        value = self.combine({c.name: c.score(arch).value for c in self.components})
        return Score(value, f"combined: least squares on {self.fitted_on} trained archs", time.process_time() - started)
