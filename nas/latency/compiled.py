"""Predicting many archs at once: a table's entries as a numpy vector, archs as index lists.

Why apart from :class:`~nas.latency.table.LatencyTable`: samplers and the initial design predict tens of
thousands of archs per second this way (``np.add.reduceat``), with the same calibration, floor and measured
networks as one-at-a-time prediction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from nas.arch import Arch


class Table(Protocol):
    """What bulk prediction reads of a table (:class:`nas.latency.table.LatencyTable` is one; typed structurally
    because the table module builds compiled tables)."""

    entries: dict
    calibration: tuple[float, float]
    overhead_ms: float
    measured_networks: dict[str, float]

    def contribution(self, key: str) -> float: ...

    def check_positive(self, ms: float) -> float: ...


class CompiledTable:
    """Entries as a numpy vector; archs as index lists; prediction as one ``np.add.reduceat``."""

    def __init__(self, table: Table, keys: list[str], floor: float) -> None:
        self.table = table
        self.floor = floor
        """No prediction below this share of an arch's uncalibrated sum (the table's ``PREDICTION_FLOOR``)."""
        self.index = {key: i for i, key in enumerate(keys)}
        self.values = np.array([table.contribution(k) for k in keys] + [np.nan])
        self.raw = np.array([table.entries[k].ms for k in keys] + [np.nan])

    def encode(self, archs: Sequence[Arch]) -> tuple[np.ndarray, np.ndarray]:
        """Flat key indices of all archs and the start offset of each arch."""
        missing = len(self.values) - 1
        flat: list[int] = []
        starts = np.empty(len(archs), dtype=np.int64)
        get = self.index.get
        for i, arch in enumerate(archs):
            starts[i] = len(flat)
            flat.extend(get(k, missing) for k in arch.keys())
        return np.asarray(flat, dtype=np.int64), starts

    def predict_encoded(self, flat: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """Predicted ms per arch; NaN where a key is missing."""
        scale, offset = self.table.calibration
        if not len(starts):
            return np.empty(0)
        calibrated = offset + scale * self.table.overhead_ms + np.add.reduceat(self.values[flat], starts)
        finite = calibrated[np.isfinite(calibrated)]
        if len(finite) and finite.min() <= 0:
            self.table.check_positive(float(finite.min()))
        floor = self.floor * (self.table.overhead_ms + np.add.reduceat(self.raw[flat], starts))
        return np.maximum(calibrated, floor)  # NaN (a missing key) stays NaN

    def predict_many(self, archs: Sequence[Arch]) -> np.ndarray:
        predicted = self.predict_encoded(*self.encode(archs))
        measured = self.table.measured_networks
        if measured:
            for i, arch in enumerate(archs):
                if str(arch) in measured and np.isfinite(predicted[i]):
                    predicted[i] = measured[str(arch)]
        return predicted
