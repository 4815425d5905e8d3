"""The estimator registry: every accuracy estimator by name, with its capabilities as data.

An entry says what an estimator costs, whether it needs CIFAR-10 images, whether it may screen candidates before
any training, what it is, and where its factory lives (``module:function``, imported only when the estimator is
made, so that reading the registry needs no torch). The search's ``--screen`` choices and help, the config's
validation, whether a search loads CIFAR-10 for its screen, and the README's estimator table are all read from
here.

To add an estimator: write its module (a class with ``name``, ``cost`` and ``score(arch)``, and a factory
``make(name, data, seed)``), and add one :class:`EstimatorEntry` line to :data:`REGISTERED`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from nas.accuracy.estimator import COSTS, Estimator
from nas.errors import NasError


@dataclass(frozen=True)
class EstimatorEntry:
    """One estimator and what it can do."""

    name: str
    cost: str
    """One of :data:`nas.accuracy.estimator.COSTS`: free, zero-cost, training, tabular."""
    needs_data: bool
    """Whether making it needs a CIFAR-10 dataset (its images or its trainings)."""
    can_screen: bool
    """Whether ``nas search --screen`` may use it: seconds per arch at most, and defined for any space."""
    summary: str
    factory: str
    """``module:function``; the function takes ``(name, data, seed)`` and returns an :class:`Estimator`."""
    seconds: str = ""
    """What one score costs, as a bench measured it (for help texts)."""

    def make(self, data: Any = None, seed: int = 0) -> Estimator:  # noqa: ANN401 (a Dataset, torch-backed)
        if self.needs_data and data is None:
            raise NasError(f"estimator {self.name!r} needs CIFAR-10 data")
        module, function = self.factory.split(":")
        return getattr(importlib.import_module(module), function)(self.name, data, seed)


ZERO_COST_BENCH = "1-2 CPU-s per 32 px ghost_mbv2 network on 2 cores (bench/accuracy_fidelity.py)"

REGISTERED: tuple[EstimatorEntry, ...] = (
    EstimatorEntry("macs", "free", False, True, "multiply-accumulates, counted from the arch",
                   "nas.accuracy.counts:make", "microseconds"),
    EstimatorEntry("params", "free", False, True, "learnable parameters, counted from the arch",
                   "nas.accuracy.counts:make", "microseconds"),
    EstimatorEntry("naswot", "zero-cost", True, True, "NASWOT (Mellor et al. 2021): how differently an untrained "
                   "net's ReLUs split one minibatch", "nas.accuracy.zero_cost:make", ZERO_COST_BENCH),
    EstimatorEntry("synflow", "zero-cost", True, True, "synflow (Tanaka et al. 2020): data-free synaptic flow",
                   "nas.accuracy.zero_cost:make", ZERO_COST_BENCH),
    EstimatorEntry("grad_norm", "zero-cost", True, True, "the summed norm of one minibatch's loss gradients",
                   "nas.accuracy.zero_cost:make", ZERO_COST_BENCH),
    EstimatorEntry("snip", "zero-cost", True, True, "SNIP saliency |w x dL/dw| of one minibatch",
                   "nas.accuracy.zero_cost:make", ZERO_COST_BENCH),
    EstimatorEntry("jacov", "zero-cost", True, True, "how uncorrelated a minibatch's input Jacobians are",
                   "nas.accuracy.zero_cost:make", ZERO_COST_BENCH),
    EstimatorEntry("meco", "zero-cost", True, True, "MeCo (Jiang et al. 2023): the smallest eigenvalue of each "
                   "conv's channel correlation, summed", "nas.accuracy.meco:make", "under a second per 32 px network"),
    EstimatorEntry("rung0", "training", True, False, "the default search's rung 0: a short training at 16 px",
                   "nas.accuracy.trained:make", "about 20-40 s"),
    EstimatorEntry("rung1", "training", True, False, "the default search's rung 1: a short training at 32 px",
                   "nas.accuracy.trained:make", "about 1-2 min"),
    EstimatorEntry("tabular", "tabular", False, False, "NAS-Bench-Macro's published 50-epoch accuracy, looked up",
                   "nas.accuracy.tabular:make", "microseconds"),
)

ESTIMATORS: dict[str, EstimatorEntry] = {entry.name: entry for entry in REGISTERED}
for _entry in REGISTERED:
    assert _entry.cost in COSTS, f"{_entry.name}: cost {_entry.cost!r} is not one of {COSTS}"


def estimator_entry(name: str) -> EstimatorEntry:
    """The entry called ``name``; one error line naming the known ones otherwise."""
    try:
        return ESTIMATORS[name]
    except KeyError:
        raise NasError(f"unknown estimator {name!r}; known: {', '.join(ESTIMATORS)}") from None


def screening_names() -> tuple[str, ...]:
    """Estimators ``--screen`` accepts, in registry order."""
    return tuple(entry.name for entry in ESTIMATORS.values() if entry.can_screen)


def names_by_cost(cost: str) -> tuple[str, ...]:
    return tuple(entry.name for entry in ESTIMATORS.values() if entry.cost == cost)


def markdown_table() -> str:
    """The README's estimator table, generated (a test keeps the README's copy equal to it)."""
    rows = ["| name | cost | needs CIFAR-10 | can screen | what |", "| --- | --- | --- | --- | --- |"]
    rows += [f"| `{e.name}` | {e.cost} | {'yes' if e.needs_data else 'no'} | {'yes' if e.can_screen else 'no'} | "
             f"{e.summary} |" for e in ESTIMATORS.values()]
    return "\n".join(rows)
