"""Accuracy estimators behind one interface (:class:`~nas.accuracy.estimator.Estimator`), by name.

| name | cost | what |
| --- | --- | --- |
| ``macs``, ``params`` | free | counts from the arch |
| ``naswot``, ``synflow``, ``grad_norm``, ``snip``, ``jacov`` | zero-cost | untrained-net proxies on a fixed minibatch |
| ``rung0``, ``rung1`` | training | the default search's rungs (``nas.train.DEFAULT_RUNGS``) |
| ``tabular`` | tabular | NAS-Bench-Macro's published 50-epoch accuracy |

Combinations (:mod:`nas.accuracy.combined`) are built from these. Add an estimator: a class with
``name``, ``cost`` and ``score(arch)`` in its own module, and one line in :func:`make_estimator`.
"""

from __future__ import annotations

import numpy as np
import torch

from nas.accuracy.estimator import COSTS, Estimator, Score

FREE = ("macs", "params")
ZERO_COST = ("naswot", "synflow", "grad_norm", "snip", "jacov")
TRAINING = ("rung0", "rung1")
ESTIMATORS = (*FREE, *ZERO_COST, *TRAINING, "tabular")
PROXY_BATCH = 64


def proxy_batch(data, size: int = PROXY_BATCH, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:  # noqa: ANN001
    """A class-balanced minibatch of training images, normalised at 32 px, the same for every arch."""
    from nas.train import balanced_indices, to_input

    index = balanced_indices(data.train_y, size, np.random.default_rng(seed))
    images = torch.from_numpy(np.ascontiguousarray(data.train_x[index]))
    return to_input(images, images.shape[-1]).contiguous(), torch.from_numpy(data.train_y[index]).long()


def make_estimator(name: str, data=None, seed: int = 0) -> Estimator:  # noqa: ANN001 (Dataset, torch-backed)
    """The estimator called ``name``; zero-cost and training ones need ``data`` (a CIFAR-10 Dataset)."""
    if name == "macs":
        from nas.accuracy.counts import MacsEstimator

        return MacsEstimator()
    if name == "params":
        from nas.accuracy.counts import ParamsEstimator

        return ParamsEstimator()
    if name == "tabular":
        from nas.accuracy.tabular import TabularEstimator

        return TabularEstimator()
    if name not in ESTIMATORS:
        raise ValueError(f"unknown estimator {name!r}; known: {', '.join(ESTIMATORS)}")
    if data is None:
        raise ValueError(f"estimator {name!r} needs CIFAR-10 data")
    if name in ZERO_COST:
        from nas.accuracy.zero_cost import ZeroCostEstimator

        images, labels = proxy_batch(data, seed=seed)
        return ZeroCostEstimator(name, images, labels, seed)
    from nas.accuracy.trained import TrainedEstimator
    from nas.train import DEFAULT_RUNGS

    return TrainedEstimator(name, data, DEFAULT_RUNGS[TRAINING.index(name)], seed)


__all__ = ["COSTS", "ESTIMATORS", "Estimator", "Score", "make_estimator", "proxy_batch"]
