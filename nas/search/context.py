"""One run's parts, whatever drives the search: the space, its latency oracle, its journal, its evaluator, its screen.

Each part has one job and its own module: :class:`~nas.search.latency_oracle.LatencyOracle` (how fast, does it
fit), :class:`~nas.search.journal.EvaluationJournal` (every finished training, on disk),
:class:`~nas.search.evaluator.Evaluator` (training into the journal) and, when the run screens,
:class:`~nas.search.screening.ScreeningJournal`. Drivers and outputs take what they need from here.
"""

from __future__ import annotations

import logging

from nas.data import Dataset
from nas.search.config import SearchConfig
from nas.search.drivers import RemoteExecutor, backend, search_driver
from nas.search.evaluator import make_evaluator
from nas.search.latency_oracle import LatencyOracle
from nas.search.run_folder import RunFolder
from nas.space import load_space

log = logging.getLogger(__name__)


class SearchContext:
    """The parts of one run, built (and checked: table coverage, budget) before anything is trained."""

    def __init__(self, config: SearchConfig, data: Dataset | None = None) -> None:
        self.config = config
        self.folder = RunFolder(config.run_dir)
        self.space = load_space(config.space)
        self.oracle = LatencyOracle(self.space, config.space, config.device, config.budget_ms)
        fixed = sorted({f.resolution for f in config.fidelities if f.resolution})
        if len(self.space.resolutions) > 1 and fixed:
            log.warning("rungs train every arch at %s px, so the space's input resolutions %s are judged by latency "
                        "alone; set rungs[].resolution to null in config.yaml to train each arch at its own",
                        "/".join(map(str, fixed)), list(self.space.resolutions))
        self.journal = self.folder.journal()
        self._executor: RemoteExecutor | None = None
        remote = self.remote if backend(config.backend).distributed else None
        self.evaluator = make_evaluator(config, self.journal, data, remote)
        self.screening = None
        if config.screener != "none":
            from nas.search.screening import ScreeningJournal

            self.screening = ScreeningJournal(config.screener, self.folder.screening_path,
                                              lambda: self.evaluator.data, config.seed, self.space.screen_resolution,
                                              remote)

    def remote(self) -> RemoteExecutor:
        """Where a distributed backend runs the trainings and scores (its driver's ``executor``), started on first
        use: connecting checks the cluster, so a search calls this before it makes its run folder."""
        if self._executor is None:
            self._executor = search_driver(self.config.backend).executor(self.config, lambda: self.evaluator.data)
        return self._executor

    def close(self) -> None:
        """Stop the evaluator's worker processes, or leave the cluster (finished trainings are already on disk)."""
        self.evaluator.close()
        if self._executor is not None:
            self._executor.close()
            self._executor = None


def baseline_strings() -> set[str]:
    """The hand-designed baselines' arch strings: a run trains them for comparison, never as candidates."""
    from nas.space import available_baselines, resolve_arch

    return {str(resolve_arch(name)) for name in available_baselines()}
