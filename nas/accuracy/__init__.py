"""Accuracy estimators behind one interface (:class:`~nas.accuracy.estimator.Estimator`), by name.

The estimators, their costs and capabilities are in the registry (:mod:`nas.accuracy.registry`), from which the
search's choices, its help and the README's table are generated. Combinations (:mod:`nas.accuracy.combined`) are
built from these. Importing this package needs no torch: estimators that use it import it when they are made.
"""

from __future__ import annotations

from typing import Any

from nas.accuracy.estimator import COSTS, Estimator, Score
from nas.accuracy.registry import ESTIMATORS, EstimatorEntry, estimator_entry, names_by_cost, screening_names

FREE = names_by_cost("free")
ZERO_COST = names_by_cost("zero-cost")
TRAINING = names_by_cost("training")


def make_estimator(name: str, data: Any = None, seed: int = 0) -> Estimator:  # noqa: ANN401 (Dataset, torch-backed)
    """The estimator called ``name`` (:data:`ESTIMATORS`); those that need it take ``data`` (a CIFAR-10 Dataset)."""
    return estimator_entry(name).make(data, seed)


def proxy_batch(data: Any, size: int | None = None, seed: int = 0) -> Any:  # noqa: ANN401 (torch tensors)
    """A class-balanced minibatch of training images (:func:`nas.accuracy.zero_cost.proxy_batch`)."""
    from nas.accuracy.zero_cost import PROXY_BATCH
    from nas.accuracy.zero_cost import proxy_batch as batch

    return batch(data, size or PROXY_BATCH, seed)


__all__ = ["COSTS", "ESTIMATORS", "FREE", "TRAINING", "ZERO_COST", "Estimator", "EstimatorEntry", "Score",
           "make_estimator", "proxy_batch", "screening_names"]
