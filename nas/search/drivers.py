"""Search backends: a registry from a backend's name to its driver module and what the backend can do.

A driver module has two functions:

* ``check(config)``: anything that can fail before a run folder is created (a Ray address that does not
  answer, a study database that cannot be opened), as one :class:`~nas.errors.NasError` line;
* ``sample(config, context, show_progress) -> int``: propose archs, reject those over the budget
  (``context.oracle``), train or screen the rest into the run's journal (``context.evaluator``,
  ``context.screening``) until ``config.trials`` feasible candidates exist; returns the infeasible samples.

A distributed backend's module has a third, ``executor(config, load_data)``: where the trainings and screening scores
run instead of this machine's worker processes (a :class:`RemoteExecutor`). The algorithm stays the driver's.

Its capabilities are data on its entry: whether it can screen with a cheap estimator, look accuracies up from a
table, keep its study in a user-given ``--storage``, and spread work over machines. The config's validation and
``--screen auto`` read them, so a backend's policy lives with the backend. To add one: its driver module, and one
:class:`Backend` line in :data:`REGISTERED`.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol


class RemoteExecutor(Protocol):
    """Runs a search's trainings (the local pool's ``submit`` / ``completed``) and screening scores elsewhere."""

    def submit(self, arch_text: str, fidelity: Any, seed: int, weights: Path | None,  # noqa: ANN401 (a Fidelity)
               test: bool = False) -> Any: ...  # noqa: ANN401

    def completed(self, jobs: dict[Any, Any], desc: str = "",
                  show_progress: bool = False) -> Iterator[tuple[Any, dict]]: ...

    def score_many(self, estimator: str, arch_texts: list[str], seed: int,
                   needs_data: bool) -> Iterator[tuple[str, dict]]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Backend:
    name: str
    module: str
    summary: str
    can_screen: bool
    """Whether it runs a cheap estimator's screen before training (else it screens by rung-0 training)."""
    tabular: bool
    """Whether it can look accuracies up from a table (``--accuracy tabular``) instead of training."""
    storage: bool
    """Whether ``--storage`` (an Optuna database URL) is where it keeps its sampler's study."""
    distributed: bool
    """Whether its trainings and scores run on several machines (its module then has ``executor``)."""
    why_not: str = ""
    """What to do instead, where it lacks a capability (said in the one error line)."""

    def refusal(self, config: Any) -> str | None:  # noqa: ANN401 (a SearchConfig; config.py imports this module)
        """The one line a config gets when it asks for what this backend cannot do (its capabilities above), or
        None: the backend's policy, read by :meth:`SearchConfig.validate`."""
        if config.accuracy == "tabular" and not self.tabular:
            return (f"--accuracy tabular looks accuracies up instead of training, which backend {self.name} does not "
                    f"({self.why_not}); drop --backend {self.name}")
        if config.screener != "none" and not self.can_screen:
            return f"--backend {self.name} does not screen with a cheap estimator ({self.why_not}): add --screen none"
        if config.storage and not self.storage:
            return (f"--storage is an Optuna study database, which backend {self.name} does not keep ({self.why_not}; "
                    "resume with --resume): drop --storage")
        for option in ("cpus_per_trial", "gpus_per_trial"):
            if getattr(config, option) is not None and not self.distributed:
                return (f"--{option.replace('_', '-')} is a resource request of a distributed backend, and backend "
                        f"{self.name} trains on this machine (--workers, --threads): add --backend ray, or drop it")
        return None


REGISTERED: tuple[Backend, ...] = (
    Backend("optuna", "nas.search.optuna_driver", "Optuna ask/tell on this machine, worker processes (the default)",
            can_screen=True, tabular=True, storage=True, distributed=False),
    Backend("ray", "nas.search.ray_driver", "the same search with its trainings and screening as Ray tasks, on a local "
            "Ray cluster or an existing one (--address)", can_screen=True, tabular=True, storage=True, distributed=True),
)
DRIVERS: dict[str, Backend] = {backend.name: backend for backend in REGISTERED}
"""Backend name -> its entry (the driver module is imported on use: Ray is heavy and optional)."""


def backend(name: str) -> Backend:
    return DRIVERS[name]


def search_driver(name: str) -> ModuleType:
    """The driver module of backend ``name`` (validated by :meth:`SearchConfig.validate` before this is called)."""
    return importlib.import_module(DRIVERS[name].module)
