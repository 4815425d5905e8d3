"""Search drivers: the table from a backend name to the module that samples and trains rung 0.

A driver module has two functions:

* ``check(config)``: anything that can fail before a run folder is created (a Ray address that does not
  answer, a study database that cannot be opened), as one :class:`~nas.errors.NasError` line;
* ``sample(config, context, show_progress) -> int``: propose archs, reject those over the budget
  (``context.oracle``), train or screen the rest into the run's journal (``context.evaluator``,
  ``context.screening``) until ``config.trials`` feasible candidates exist; returns the infeasible samples.

To add a backend, write such a module and add it here; ``--backend`` accepts its name.
"""

from __future__ import annotations

import importlib
from types import ModuleType

DRIVERS = {"optuna": "nas.search.optuna_driver", "ray": "nas.search.ray_driver"}
"""Backend name -> driver module (imported on use: Ray is heavy and optional)."""


def search_driver(backend: str) -> ModuleType:
    """The driver module of ``backend`` (validated by :meth:`SearchConfig.validate` before this is called)."""
    return importlib.import_module(DRIVERS[backend])
