"""A training rung as an estimator: the validation accuracy after a short CIFAR-10 training."""

from __future__ import annotations

import time

from nas.accuracy.estimator import Score
from nas.arch import Arch
from nas.data import Dataset
from nas.train import Fidelity, train


class TrainedEstimator:
    """``name`` (e.g. ``rung1``) trains each arch at ``fidelity`` with ``seed``; the score is its validation accuracy."""

    cost = "training"

    def __init__(self, name: str, data: Dataset, fidelity: Fidelity, seed: int = 0) -> None:
        self.name = name
        self.data = data
        self.fidelity = fidelity
        self.seed = seed

    def score(self, arch: Arch) -> Score:
        started = time.process_time()
        result, _ = train(arch, self.data, self.fidelity, seed=self.seed)
        return Score(result.accuracy, f"trained: {self.fidelity.label()}, seed {self.seed}",
                     time.process_time() - started)


def make(name: str, data: Dataset, seed: int = 0) -> TrainedEstimator:
    """The registry's factory: ``rungN`` is the default search's rung N (:data:`nas.train.DEFAULT_RUNGS`)."""
    from nas.train import DEFAULT_RUNGS

    return TrainedEstimator(name, data, DEFAULT_RUNGS[int(name.removeprefix("rung"))], seed)
