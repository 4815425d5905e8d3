"""A user's estimator, as ARCHITECTURE.md says to add one: this one file, plus one registry line (in the test)."""

from __future__ import annotations

from nas.accuracy.estimator import Score
from nas.arch import Arch


class DepthEstimator:
    """Deeper is better: a free count, for the registry test."""

    name = "depth"
    cost = "free"

    def score(self, arch: Arch) -> Score:
        return Score(float(len(arch.blocks)), "free: number of blocks")


def make(name: str, data: object = None, seed: int = 0) -> DepthEstimator:
    return DepthEstimator()
