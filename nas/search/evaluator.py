"""The run's accuracy sources behind one interface: training at the run's fidelities (:class:`Evaluator`), or a
published table looked up (:class:`TabularEvaluator`); :func:`make_evaluator` picks by the config's ``accuracy``.

Both answer ``evaluate``, ``evaluate_many`` and ``accuracy_source``, journal every result, and say what the search
may do with them: whether they need CIFAR-10 (``needs_data``) and whether a hand-designed baseline can be judged
alike (``compares_baselines``: a table holds only its own space's networks). Why apart from the latency look-ups and
the journal: export retrains one arch and confirmation trains a few; both need the trained evaluator alone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from nas.arch import Arch, parse_arch
from nas.cost import arch_cost
from nas.data import Dataset, load_cifar10
from nas.progress import progress
from nas.search.config import SearchConfig
from nas.search.drivers import RemoteExecutor
from nas.search.journal import Evaluation, EvaluationJournal
from nas.search.pool import TrainingPool, default_threads
from nas.search.run_folder import RunFolder
from nas.train import EpochCallback, Fidelity, save_weights, train

log = logging.getLogger(__name__)

Request = tuple[str, int, int]
"""(arch string, rung, seed): one training."""


class Evaluator:
    """Trains (arch, rung, seed) once each; every finished training goes to the journal the moment it ends."""

    needs_data = True
    compares_baselines = True

    def __init__(self, config: SearchConfig, journal: EvaluationJournal, data: Dataset | None = None,
                 remote: Callable[[], RemoteExecutor] | None = None) -> None:
        """``remote``: where a distributed backend trains (:meth:`SearchContext.remote`), instead of local workers."""
        self.config = config
        self._remote = remote
        self.journal = journal
        self.folder = RunFolder(config.run_dir)
        self.fidelities = config.fidelities
        self._data = data
        self.training_seconds = 0.0
        self.diverged = 0
        self.last_divergence = ""
        self._pool: TrainingPool | None = None

    def trainings(self, arch: Arch) -> int | None:
        """How many distinct trainings of ``arch`` there can be: as many as seeds asked for (None: no limit)."""
        return None

    @property
    def data(self) -> Dataset:
        if self._data is None:
            self._data = load_cifar10(self.config.data)
        return self._data

    def accuracy_source(self) -> str:
        """What every accuracy of the run is, in words: named in pareto.json, the console and the report."""
        return "trained: short CIFAR-10 trainings at the rungs' fidelities, validation split"

    def evaluate(self, arch: Arch, rung: int, seed: int | None = None, callback: EpochCallback | None = None,
                 fidelity: Fidelity | None = None, keep_weights: bool = False) -> Evaluation:
        """Train ``arch`` at a rung in this process (cached); the accuracy is on the held-out validation split."""
        seed = self.config.seed if seed is None else seed
        cached = self.journal.get((str(arch), rung, seed))
        if cached is not None:
            return cached
        fidelity = fidelity or self.fidelities[rung]
        started = time.perf_counter()
        result, model = train(arch, self.data, fidelity, seed=seed, callback=callback)
        self.training_seconds += time.perf_counter() - started
        self._note_divergence(result.diverged)
        weights = self._weights_to_keep(arch, rung, seed, keep_weights)
        if weights and not result.stopped_early:
            save_weights(model, weights)
        return self._record(Evaluation(str(arch), rung, seed, result.accuracy, fidelity.label(), result.seconds,
                                       result.history), result.stopped_early)

    def evaluate_many(self, requests: list[tuple[Arch, int, int]], desc: str = "",
                      show_progress: bool = False) -> list[Evaluation]:
        """Train several (arch, rung, seed) at once on the run's workers; results in request order.

        With ``workers`` > 1 every training of the run goes to the worker processes (:mod:`nas.search.pool`), or
        with a distributed backend to its tasks (:class:`~nas.search.drivers.RemoteExecutor`), even a lone one, so
        that its result never depends on how the work happened to be scheduled; each
        is recorded the moment it finishes. With one worker they run here, one after the other. Repeated
        or cached requests are trained once.
        """
        todo = list(dict.fromkeys((str(a), r, s) for a, r, s in requests if (str(a), r, s) not in self.journal))
        results: dict[Request, Evaluation] = {}  # also those stopped early, which are not journalled
        if self.config.workers == 1 and self._remote is None:
            for arch_text, rung, seed in progress(todo, len(todo), desc, show_progress and bool(todo)):
                results[(arch_text, rung, seed)] = self.evaluate(parse_arch(arch_text), rung, seed)
        elif todo:
            results = self._evaluate_in_pool(todo, desc, show_progress)
        return [self.journal.get((str(a), r, s)) or results[(str(a), r, s)] for a, r, s in requests]

    def _evaluate_in_pool(self, todo: list[Request], desc: str, show_progress: bool) -> dict[Request, Evaluation]:
        pool = self.pool()
        started = time.perf_counter()
        futures = {}
        results = {}
        for arch_text, rung, seed in sorted(todo, key=lambda request: -self._training_cost(*request)):  # longest first
            weights = self._weights_to_keep(parse_arch(arch_text), rung, seed, False)
            futures[pool.submit(arch_text, self.fidelities[rung], seed, weights)] = (arch_text, rung, seed)
        try:
            for (arch_text, rung, seed), outcome in pool.completed(futures, desc, show_progress):
                self._note_divergence(outcome.get("diverged"))
                results[(arch_text, rung, seed)] = self._record(
                    Evaluation(arch_text, rung, seed, outcome["accuracy"], self.fidelities[rung].label(),
                               outcome["seconds"], outcome["history"]), outcome["stopped_early"])
        finally:
            self.training_seconds += time.perf_counter() - started  # wall time spent waiting on the trainings
        return results

    def _note_divergence(self, why: str | None) -> None:
        """Count diverged trainings, so that a run where all of them diverged says why instead of ending empty."""
        if why:
            self.diverged += 1
            self.last_divergence = why
            log.warning("a training diverged: %s", why)

    def _training_cost(self, arch_text: str, rung: int, seed: int) -> float:
        """Roughly proportional to a training's time: MACs at the trained resolution x images seen."""
        arch, fidelity = parse_arch(arch_text), self.fidelities[rung]
        resolution = fidelity.resolution or arch.resolution
        return arch_cost(arch).macs * (resolution / arch.resolution) ** 2 * fidelity.epochs * (fidelity.subset or 50_000)

    def pool(self) -> TrainingPool | RemoteExecutor:
        """The run's worker processes, started on first use (they load the data once each), or the backend's tasks."""
        if self._remote is not None:
            return self._remote()
        if self._pool is None:
            threads = self.config.threads or default_threads(self.config.workers)
            self._pool = TrainingPool(self.data, self.config.workers, threads)
            log.info("training on %d worker processes, %d torch thread(s) each", self.config.workers, threads)
        return self._pool

    def close(self) -> None:
        """Stop the worker processes (a training still running is abandoned; finished ones are on disk)."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def _weights_to_keep(self, arch: Arch, rung: int, seed: int, keep_weights: bool) -> Path | None:
        """Weights are kept for top-rung trainings (export reuses them) or when asked."""
        return self.folder.weights_path(arch, rung, seed) if keep_weights or rung == len(self.fidelities) - 1 else None

    def _record(self, evaluation: Evaluation, stopped_early: bool) -> Evaluation:
        """A finished training goes to the journal; one stopped early (pruned) does not."""
        if not stopped_early:
            self.journal.record(evaluation)
        log.info("trained %s at %s: %.4f in %.0fs", parse_arch(evaluation.arch).id, evaluation.fidelity,
                 evaluation.accuracy, evaluation.seconds)
        return evaluation


class TabularEvaluator:
    """Looks accuracies up in the space's published table (:mod:`nas.accuracy.tabular`) instead of training; every
    look-up is journalled like a training, with a fidelity that says looked up or predicted."""

    needs_data = False
    compares_baselines = False
    training_seconds = 0.0
    diverged = 0
    last_divergence = ""

    def __init__(self, config: SearchConfig, journal: EvaluationJournal) -> None:
        from nas.accuracy.tabular import table_source

        self.config = config
        self.journal = journal
        self.table = table_source(Path(config.space).stem)
        self._data: Dataset | None = None

    @property
    def data(self) -> Dataset:
        """CIFAR-10, loaded on first use: nothing is trained, but the default algorithm's zero-cost screen scores
        the candidates on its images."""
        if self._data is None:
            self._data = load_cifar10(self.config.data)
        return self._data

    def accuracy_source(self) -> str:
        from nas.accuracy.tabular import TABLES

        return f"tabular: {TABLES[Path(self.config.space).stem]} (not trained)"

    def evaluate(self, arch: Arch, rung: int, seed: int | None = None, **_: object) -> Evaluation:
        seed = self.config.seed if seed is None else seed
        return self.journal.get((str(arch), rung, seed)) or self._look_up(str(arch), rung, seed)

    def evaluate_many(self, requests: list[tuple[Arch, int, int]], desc: str = "",
                      show_progress: bool = False) -> list[Evaluation]:
        return [self.evaluate(arch, rung, seed) for arch, rung, seed in requests]

    def trainings(self, arch: Arch) -> int:
        """How many distinct published trainings the table holds for ``arch``: a seed beyond them repeats one."""
        return len(self.table.seeds(arch))  # type: ignore[attr-defined]

    def _look_up(self, arch_text: str, rung: int, seed: int) -> Evaluation:
        """The table's accuracy for an arch: seed ``s`` is its ``s``-th published training (NAS-Bench-Macro has 3 per
        code), so seeds still differ as real trainings do, and the run's noise estimate stays meaningful."""
        arch = parse_arch(arch_text)
        seeds = self.table.seeds(arch)  # type: ignore[attr-defined]
        label = "tabular" if self.table.kind(arch) == "looked up" else "tabular (predicted by the surrogate)"  # type: ignore[attr-defined]
        evaluation = Evaluation(arch_text, rung, seed, seeds[seed % len(seeds)], label, 0.0)
        self.journal.record(evaluation)
        return evaluation

    def close(self) -> None:
        """Nothing runs in the background."""


def make_evaluator(config: SearchConfig, journal: EvaluationJournal, data: Dataset | None = None,
                   remote: Callable[[], RemoteExecutor] | None = None) -> Evaluator | TabularEvaluator:
    """The run's accuracy source: a table when the config says ``accuracy: tabular`` (looked up here, whatever the
    backend), else training (on ``remote`` when given)."""
    if config.accuracy == "tabular":
        return TabularEvaluator(config, journal)
    return Evaluator(config, journal, data, remote)
