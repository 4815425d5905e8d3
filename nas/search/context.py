"""What every trial needs, whatever drives it: the space, latency tables, data, and an evaluation cache.

Evaluations (one arch trained at one rung with one seed) are appended to
``runs/<name>/evaluations.jsonl`` and flushed to disk as soon as they finish, so a run killed at any
moment (even SIGKILL) keeps every finished training, and a resumed run never trains the same thing
twice. A torn last line from a kill mid-write is ignored.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from nas.arch import Arch, Layer, parse_arch
from nas.cost import arch_cost
from nas.data import Dataset, load_cifar10
from nas.errors import NasError
from nas.fileio import append_line, read_journal
from nas.latency.table import LatencyTable, load_table, other_tables
from nas.progress import progress
from nas.search.config import SearchConfig
from nas.search.pool import TrainingPool, default_threads
from nas.space import SearchSpace, load_space
from nas.stats import pooled_sd
from nas.train import EpochCallback, Fidelity, save_weights, train

log = logging.getLogger(__name__)


@dataclass
class Evaluation:
    arch: str
    rung: int
    seed: int
    accuracy: float
    fidelity: str
    seconds: float
    history: list[float] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.arch, self.rung, self.seed)


def min_latency(space: SearchSpace, table: LatencyTable) -> float:
    """Exact fastest arch of the space on a table: :meth:`SearchSpace.extremes` costed by table entries."""
    def entry(layer: Layer) -> float:
        return table.contribution(layer.key) if layer.key in table.entries else float("inf")

    fastest = [space.extremes(w, r, entry)[0] for w in space.widths for r in space.resolutions]
    return float(table.compile().predict(fastest).min())


class SearchContext:
    """Latency look-ups and cached trainings for one run."""

    def __init__(self, config: SearchConfig, data: Dataset | None = None) -> None:
        self.config = config
        self.space = load_space(config.space)
        self.table = load_table(config.device)
        from nas.latency.host import is_foreign, warn_if_foreign

        warn_if_foreign(self.table)
        self.foreign_table = is_foreign(self.table)
        missing = self.table.missing(self.space.layers())
        if missing:
            raise NasError(f"table {config.device!r} lacks {len(missing)} layer(s) of space {config.space!r}, e.g. "
                           f"{missing[0]!r}; {self.table.fill_advice(config.space)}")
        self.budget_ms = config.budget_ms
        fastest = min_latency(self.space, self.table)
        if fastest > self.budget_ms:
            raise NasError(f"budget {self.budget_ms:g} ms is below the fastest arch of {config.space!r} on "
                           f"{config.device} ({fastest:.3f} ms): raise the budget to at least {fastest:.3f}ms")
        self.fastest_ms = fastest
        layers = self.space.layers()
        self.other_tables = {device: other for device, other in other_tables(config.device).items()
                             if not other.missing(layers)}
        self.compiled = self.table.compile()
        self._data = data
        self.fidelities = config.fidelities
        fixed = sorted({f.resolution for f in self.fidelities if f.resolution})
        if len(self.space.resolutions) > 1 and fixed:
            log.warning("rungs train every arch at %s px, so the space's input resolutions %s are judged by latency "
                        "alone; set rungs[].resolution to null in config.yaml to train each arch at its own",
                        "/".join(map(str, fixed)), list(self.space.resolutions))
        self.tabular = None
        if config.accuracy == "tabular":
            from nas.accuracy.nas_bench_macro import load_benchmark

            self.tabular = load_benchmark()
        self.screening = None
        if config.screener != "none":
            from nas.search.screening import ScreeningJournal

            self.screening = ScreeningJournal(config.screener, config.run_dir / "screening.jsonl", lambda: self.data,
                                              config.seed)
        self.path = config.run_dir / "evaluations.jsonl"
        self.cache: dict[tuple[str, int, int], Evaluation] = {}
        self.training_seconds = 0.0
        self.diverged = 0
        self.last_divergence = ""
        self._pool: TrainingPool | None = None
        self._load_cache()

    @property
    def data(self) -> Dataset:
        if self._data is None:
            self._data = load_cifar10(self.config.data)
        return self._data

    def latency(self, arch: Arch) -> float:
        return self.table.predict(arch)

    def latencies(self, arch: Arch) -> dict[str, float]:
        """Predicted latency on the search's device and every other table that covers the space."""
        out = {self.config.device: self.table.predict(arch)}
        for device, table in self.other_tables.items():
            out[device] = table.predict(arch)
        return out

    def feasible(self, arch: Arch) -> bool:
        return self.latency(arch) <= self.budget_ms

    # -- evaluation cache -------------------------------------------------------------------
    def _load_cache(self) -> None:
        for number, record in enumerate(read_journal(self.path), start=1):
            try:
                evaluation = Evaluation(**record)
            except TypeError:
                continue  # a record of another shape (a torn line is already skipped)
            problem = _malformed(evaluation)
            if problem:
                raise NasError(f"{self.path}: record {number} is malformed ({problem}); delete that line and resume "
                               "(its training is redone)")
            self.cache[evaluation.key] = evaluation

    def _append(self, evaluation: Evaluation) -> None:
        append_line(self.path, json.dumps(evaluation.__dict__))

    def evaluate(self, arch: Arch, rung: int, seed: int | None = None, callback: EpochCallback | None = None,
                 fidelity: Fidelity | None = None, keep_weights: bool = False) -> Evaluation:
        """Train ``arch`` at a rung in this process (cached); the accuracy is on the held-out validation split."""
        seed = self.config.seed if seed is None else seed
        key = (str(arch), rung, seed)
        if key in self.cache:
            return self.cache[key]
        if self.tabular is not None:
            return self._look_up(str(arch), rung, seed)
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

        With ``workers`` > 1 every training of the run goes to the worker processes (:mod:`nas.search.pool`),
        even a lone one, so that its result never depends on how the work happened to be scheduled; each
        is recorded the moment it finishes. With one worker they run here, one after the other. Repeated
        or cached requests are trained once.
        """
        todo = list(dict.fromkeys((str(a), r, s) for a, r, s in requests if (str(a), r, s) not in self.cache))
        results: dict[tuple[str, int, int], Evaluation] = {}  # also those stopped early, which are not cached
        if self.tabular is not None:
            for arch_text, rung, seed in todo:
                results[(arch_text, rung, seed)] = self._look_up(arch_text, rung, seed)
        elif self.config.workers == 1:
            for arch_text, rung, seed in progress(todo, len(todo), desc, show_progress and bool(todo)):
                results[(arch_text, rung, seed)] = self.evaluate(parse_arch(arch_text), rung, seed)
        elif todo:
            results = self._evaluate_in_pool(todo, desc, show_progress)
        return [self.cache.get((str(a), r, s)) or results[(str(a), r, s)] for a, r, s in requests]

    def _evaluate_in_pool(self, todo: list[tuple[str, int, int]], desc: str,
                          show_progress: bool) -> dict[tuple[str, int, int], Evaluation]:
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

    def accuracy_source(self) -> str:
        """What every accuracy of the run is, in words: named in pareto.json, the console and the report."""
        if self.tabular is not None:
            from nas.accuracy.tabular import TABLES

            return f"tabular: {TABLES[self.config.space]} (looked up, not trained)"
        return "trained: short CIFAR-10 trainings at the rungs' fidelities, validation split"

    def _look_up(self, arch_text: str, rung: int, seed: int) -> Evaluation:
        """The table's accuracy for an arch: seed ``s`` is its ``s``-th published training (3 per code), so seeds
        still differ as real trainings do, and the run's noise estimate stays meaningful."""
        assert self.tabular is not None
        seeds = self.tabular.seeds(parse_arch(arch_text))
        return self._record(Evaluation(arch_text, rung, seed, seeds[seed % len(seeds)], "tabular", 0.0), False)

    def _training_cost(self, arch_text: str, rung: int, seed: int) -> float:
        """Roughly proportional to a training's time: MACs at the trained resolution x images seen."""
        arch, fidelity = parse_arch(arch_text), self.fidelities[rung]
        resolution = fidelity.resolution or arch.resolution
        return arch_cost(arch).macs * (resolution / arch.resolution) ** 2 * fidelity.epochs * (fidelity.subset or 50_000)

    def pool(self) -> TrainingPool:
        """The run's worker processes, started on first use (they load the data once each)."""
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
        return self.weights_path(arch, rung, seed) if keep_weights or rung == len(self.fidelities) - 1 else None

    def _record(self, evaluation: Evaluation, stopped_early: bool) -> Evaluation:
        """A finished training goes to the cache and to disk; one stopped early (pruned) to neither."""
        if not stopped_early:
            self._append(evaluation)
            self.cache[evaluation.key] = evaluation
        log.info("trained %s at %s: %.4f in %.0fs", parse_arch(evaluation.arch).id, evaluation.fidelity,
                 evaluation.accuracy, evaluation.seconds)
        return evaluation

    def weights_path(self, arch: Arch, rung: int, seed: int) -> Path:
        return self.config.run_dir / "weights" / f"{arch.id}_r{rung}_s{seed}.pt"

    def evaluations(self, rung: int) -> list[Evaluation]:
        return [e for e in self.cache.values() if e.rung == rung]

    def noise(self, rung: int) -> float | None:
        """Seed noise at a rung: pooled standard deviation over archs trained with several seeds."""
        by_arch: dict[str, list[float]] = {}
        for e in self.evaluations(rung):
            by_arch.setdefault(e.arch, []).append(e.accuracy)
        return pooled_sd(list(by_arch.values()))


def _malformed(e: Evaluation) -> str:
    """What is wrong with a journal record, or '' (a journal is a file a user may have edited)."""
    import math

    def number(value: object) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)

    if not isinstance(e.arch, str) or not isinstance(e.fidelity, str):
        return "arch and fidelity must be text"
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (e.rung, e.seed)):
        return f"rung and seed must be integers >= 0, got {e.rung!r} and {e.seed!r}"
    if not number(e.accuracy) or not 0 <= e.accuracy <= 1:
        return f"accuracy must be a number in [0, 1], got {e.accuracy!r}"
    if not number(e.seconds) or e.seconds < 0:
        return f"seconds must be a number >= 0, got {e.seconds!r}"
    if not isinstance(e.history, list) or not all(number(v) for v in e.history):
        return "history must be a list of numbers"
    return ""


def baseline_strings() -> set[str]:
    """The hand-designed baselines' arch strings: a run trains them for comparison, never as candidates."""
    from nas.space import available_baselines, resolve_arch

    return {str(resolve_arch(name)) for name in available_baselines()}
