"""What every accuracy estimator is: a name, what it costs, and ``score(arch)`` with its fidelity.

Why one interface: the search spends nearly all its time deciding which candidates to train, and the
estimates it decides by range from free counts (MACs) through zero-cost proxies and short trainings to
a published table. Behind one interface, ``bench/accuracy_fidelity.py`` ranks them all against the same
ground truth, and the search can take whichever the bench shows best. Every score carries its fidelity,
so no estimate is ever read as a trained accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from nas.arch import Arch

COSTS = ("free", "zero-cost", "training", "tabular", "combined")
"""free: counted from the arch; zero-cost: one untrained forward/backward; training: a short training;
tabular: looked up in a published table; combined: built from others."""


@dataclass(frozen=True)
class Score:
    """An estimate: larger means more accurate expected; ``fidelity`` says how it was obtained."""

    value: float
    fidelity: str
    seconds: float = 0.0


class Estimator(Protocol):
    """Ranks archs by expected accuracy. ``name`` is unique in the registry; ``cost`` is one of :data:`COSTS`."""

    name: str
    cost: str

    def score(self, arch: Arch) -> Score: ...
