"""What a Ray node runs for a search: one training, or one screening score. Plain functions of plain values, so
that a node needs the package and nothing else; the images arrive through Ray's object store.

A result depends on (arch, fidelity, seed, torch threads) only, as in the local worker processes
(:mod:`nas.search.pool`), so the same config gives the same numbers on either backend. Weights the search keeps come
back as bytes and are written by the driver: a worker node's disk is not the run's.
"""

from __future__ import annotations

from typing import Any

from nas.data import Dataset

_ESTIMATORS: dict[tuple, Any] = {}
"""This worker's estimator, by (name, seed, data source): the same images and seed give the same estimator."""


def train_task(arch_text: str, fidelity: dict[str, Any], seed: int, keep_weights: bool, data: Dataset,
               threads: int) -> dict[str, Any]:
    """:func:`nas.search.pool.train_and_report`'s outcome, with the node it ran on and the weights when asked."""
    import io

    import ray
    import torch

    from nas.arch import parse_arch
    from nas.search.pool import training_outcome
    from nas.train import Fidelity, cpu_state_dict, train

    torch.set_num_threads(threads)
    result, model = train(parse_arch(arch_text), data, Fidelity(**fidelity), seed=seed)
    outcome = {**training_outcome(result), "node": ray.get_runtime_context().get_node_id()}
    if keep_weights and not result.stopped_early:
        buffer = io.BytesIO()
        torch.save(cpu_state_dict(model), buffer)
        outcome["weights"] = buffer.getvalue()
    return outcome


def score_task(estimator: str, arch_text: str, seed: int, data: Dataset | None, threads: int) -> dict[str, Any]:
    """One screening score (``score``, ``fidelity`` and ``seconds`` of :class:`nas.accuracy.estimator.Score`)."""
    import ray
    import torch

    from nas.accuracy.registry import estimator_entry
    from nas.arch import parse_arch

    torch.set_num_threads(threads)
    key = (estimator, seed, data.source if data is not None else None)
    if key not in _ESTIMATORS:  # a worker scores many archs of one run: its proxy batch is drawn once
        _ESTIMATORS.clear()  # a long-lived worker serves many runs: it keeps the current run's estimator only
        _ESTIMATORS[key] = estimator_entry(estimator).make(data, seed)
    result = _ESTIMATORS[key].score(parse_arch(arch_text))
    return {"value": result.value, "fidelity": result.fidelity, "seconds": result.seconds,
            "node": ray.get_runtime_context().get_node_id()}
