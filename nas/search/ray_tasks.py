"""What a Ray node runs for a search: one training, or one screening score. Plain functions of plain values, so
that a node needs the package and nothing else; the images arrive through Ray's object store.

A result depends on (arch, fidelity, seed, torch threads) only, as in the local worker processes
(:mod:`nas.search.pool`), so the same config gives the same numbers on either backend. Weights the search keeps come
back as bytes and are written by the driver: a worker node's disk is not the run's.
"""

from __future__ import annotations

from typing import Any

from nas.data import Dataset


def train_task(arch_text: str, fidelity: dict[str, Any], seed: int, keep_weights: bool, data: Dataset,
               threads: int) -> dict[str, Any]:
    """:func:`nas.search.pool.train_and_report`'s outcome, with the node it ran on and the weights when asked."""
    import io

    import ray
    import torch

    from nas.arch import parse_arch
    from nas.train import Fidelity, train

    torch.set_num_threads(threads)
    result, model = train(parse_arch(arch_text), data, Fidelity(**fidelity), seed=seed)
    outcome: dict[str, Any] = {"accuracy": result.accuracy, "seconds": result.seconds, "history": list(result.history),
                               "stopped_early": result.stopped_early, "diverged": result.diverged,
                               "node": ray.get_runtime_context().get_node_id()}
    if keep_weights and not result.stopped_early:
        buffer = io.BytesIO()
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buffer)
        outcome["weights"] = buffer.getvalue()
    return outcome


def score_task(estimator: str, arch_text: str, seed: int, data: Dataset | None, threads: int) -> dict[str, Any]:
    """One screening score (``score``, ``fidelity`` and ``seconds`` of :class:`nas.accuracy.estimator.Score`)."""
    import ray
    import torch

    from nas.accuracy.registry import estimator_entry
    from nas.arch import parse_arch

    torch.set_num_threads(threads)
    result = estimator_entry(estimator).make(data, seed).score(parse_arch(arch_text))
    return {"value": result.value, "fidelity": result.fidelity, "seconds": result.seconds,
            "node": ray.get_runtime_context().get_node_id()}
