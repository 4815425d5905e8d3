"""A search run from start to result: screen, train the survivors, promote, judge at the top rung, compare.

1. **Sampling and screening** (the Optuna driver's, on either backend): every candidate's latency is looked up first; one over
   the budget is told to the sampler as infeasible (a constraint) at no cost and does not count. With a
   ``prescreen_pool`` (the default), the study starts from the candidates to screen: of that many random
   feasible archs, those with the most MACs for their latency (free; :func:`nas.search.initial.capacity_front`).
   A feasible one is scored by the screening estimator (``screen``, NASWOT by default: about a second) and
   the sampler is told (score, latency), until ``trials x screen_factor`` are screened. The ``trials``
   best by non-dominated rank of (score, latency) are trained at rung 0. With ``screen: none`` every
   sampled feasible candidate is trained at rung 0 instead, until ``trials``. Scores and trainings run on
   the backend's workers: local processes, or Ray tasks (:mod:`nas.search.ray_executor`).
2. **Promotion** (successive halving): the best ``1/eta`` of the rung's candidates, by non-dominated
   rank of (merit, latency), are trained at each next rung. Merit is the rung's accuracy blended with
   the screening score (``screen_weight`` of each one's percentile), or the accuracy alone.
3. **Baseline**: the slowest hand-designed baseline that still fits the budget (the most capacity
   within it) is trained at the top rung with ``baseline_seeds`` seeds; the spread of those seeds is
   the run's measured noise.
4. **Finalist**: the front's most accurate arch (when the run screens, of the archs within the seed noise
   of the most accurate, the one the screening merit ranks highest: a short training does not order them,
   :func:`nas.search.pareto.pareto_front`) was picked as the maximum of several one-seed
   accuracies, so its accuracy is biased upwards (the winner's curse). It is trained again with
   ``finalist_seeds`` seeds in all and judged by their mean, like the baseline; if the mean drops it
   below another front member, that one is confirmed in turn. Workers it leaves idle confirm the next
   most accurate archs at the same time. Their seeds also add to the noise.
5. **Result**: the Pareto front at the top rung, where accuracy differences within the noise are
   ties that go to the higher screening merit (without screening, to the lower latency); written to
   ``pareto.json`` (``best_id`` names the finalist) and ``trials.csv``.
"""

from __future__ import annotations

import logging
import math
import time
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

from nas.accuracy.registry import estimator_entry
from nas.arch import Arch, parse_arch
from nas.fileio import FolderLock
from nas.progress import Stages
from nas.search.config import ConfigError, SearchConfig
from nas.search.context import SearchContext, baseline_strings
from nas.search.drivers import backend, search_driver
from nas.search.outputs import cost_fields, write_outputs
from nas.search.pareto import Point, front_best, nondominated_ranks, pareto_front
from nas.search.run_folder import RunFolder
from nas.search.screening import best_screened, blended
from nas.space import available_baselines, resolve_arch

log = logging.getLogger(__name__)


@dataclass
class Candidate:
    arch: Arch
    latency_ms: float
    samples: dict[int, dict[int, float]] = field(default_factory=dict)  # rung -> seed -> accuracy

    def record(self, rung: int, seed: int, accuracy: float) -> None:
        self.samples.setdefault(rung, {})[seed] = accuracy

    @property
    def accuracy(self) -> dict[int, float]:
        """rung -> mean accuracy over the seeds trained at that rung."""
        return {rung: sum(by_seed.values()) / len(by_seed) for rung, by_seed in self.samples.items()}

    def top(self) -> tuple[int, float]:
        rung = max(self.samples)
        return rung, self.accuracy[rung]


@dataclass
class SearchResult:
    config: SearchConfig
    candidates: list[Candidate]
    front: list[Candidate]
    baseline: dict[str, Any] | None
    noise: float | None
    seconds: float
    training_seconds: float
    infeasible: int
    accuracy_source: str = ""
    best: Candidate | None = None
    """The finalist: the front's most accurate arch, ties within the noise going to the higher merit when the run
    screens (:func:`nas.search.pareto.front_best`)."""


def run_search(config: SearchConfig, resume: bool = False, show_progress: bool = True) -> SearchResult:
    """Run (or resume) a search; every finished training survives an interruption.

    A new run's folder is made by this call or the run is refused: a folder the tool did not make (a user's notes,
    another tool's output) is never written into or deleted. If the new run ends before any work finished, the
    files it made are removed again; finished work (a screening score, a training) is always kept for --resume."""
    config.validate()
    folder = RunFolder(config.run_dir)
    run_dir = folder.path
    if resume and not folder.has_config():
        raise ConfigError(f"no run to resume at {run_dir} (no config.yaml there)")
    if not resume and folder.has_config():
        raise ConfigError(f"run {run_dir} already exists: resume it with --resume {config.name} or pick another --name")
    if not resume and (run_dir.exists() or run_dir.is_symlink()):
        raise ConfigError(f"{run_dir} exists but is no run of this tool (no config.yaml): a search makes its own "
                          "folder; pick another --name, or move that folder away")
    if resume:
        folder.check_links()
    search_driver(config.backend).check(config)
    context = SearchContext(config)
    with closing(context):  # closed on every way out: worker processes stopped, a cluster left
        if context.evaluator.needs_data:
            context.evaluator.data  # type: ignore[union-attr]  # noqa: B018 (fail on missing data before creating anything)
        if backend(config.backend).distributed:
            context.remote()  # joins and checks the cluster: a refusal leaves no folder behind
        if not resume:
            run_dir.parent.mkdir(parents=True, exist_ok=True)
            try:
                run_dir.mkdir()  # not exist_ok: this process makes the folder, or another did and this run is refused
            except FileExistsError:
                raise ConfigError(f"{run_dir} was made by another process meanwhile: pick another --name") from None
        with FolderLock(run_dir, ConfigError):
            try:
                return _locked_search(config, context, show_progress)
            except BaseException:
                if not resume:
                    remove_unfinished_run(folder)
                raise


RUN_FILES = ("config.yaml", "search.log", "study.db", "study.db-wal", "study.db-shm", "study.db-journal",
             "evaluations.jsonl", "screening.jsonl", ".lock")
"""What a new run writes before its first finished work: all :func:`remove_unfinished_run` may remove."""


def remove_unfinished_run(folder: RunFolder) -> None:
    """Remove a new run that finished nothing: only the files a run writes (:data:`RUN_FILES`), then the folder if
    that empties it. A run with a finished screening score or training is kept whole, to be resumed.

    Interrupts are held back meanwhile: a second Ctrl-C must not leave half a cleanup (config.yaml, what makes the
    folder resumable, goes last)."""
    from nas.fileio import read_journal
    from nas.search.pool import hold_interrupts, release_interrupts

    if read_journal(folder.journal_path) or read_journal(folder.screening_path):
        return
    held = hold_interrupts()
    try:
        for name in sorted(RUN_FILES, key=lambda n: n == "config.yaml"):
            path = folder.path / name
            if path.is_file() and not path.is_symlink():
                path.unlink(missing_ok=True)
        for weights in (folder.path / "weights").glob("*.pt"):
            weights.unlink(missing_ok=True)
        for empty in (folder.path / "weights", folder.path):
            try:
                empty.rmdir()  # only if empty: anything else in it is not this run's to delete
            except OSError:
                pass
    finally:
        release_interrupts(held)


def _locked_search(config: SearchConfig, context: SearchContext, show_progress: bool) -> SearchResult:
    """The search proper, once this process holds the run folder's lock."""
    config.save()
    handler = logging.FileHandler(context.folder.log_path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
    logging.getLogger("nas").addHandler(handler)
    logging.getLogger("nas").setLevel(logging.INFO)
    started = time.perf_counter()
    top = len(context.config.fidelities) - 1
    screening = context.screening
    # sampling, rung 0 of the screened survivors, each higher rung (or the baseline), the finalist
    stages = Stages(2 + max(top, 1) + (screening is not None), show_progress)
    try:
        if screening is not None:
            entry = estimator_entry(screening.name)
            stages.begin(f"screening {config.screened} feasible candidates by {screening.name} ({entry.cost}: "
                         f"{entry.seconds} each)")
        else:
            stages.begin(f"screening {config.trials} feasible candidates at rung 0 ({context.config.fidelities[0].label()}) "
                         f"on {config.workers} worker(s)")
        infeasible = search_driver(config.backend).sample(config, context, show_progress)
        if screening is not None:
            _train_survivors(context, stages, show_progress)
        candidates = _candidates(context)
        evaluator = context.evaluator
        if not candidates and evaluator.diverged:
            kept = context.screening is not None and bool(context.screening.scores)
            fix = f"lower the rungs' lr in {context.folder.config_path} and resume (its screening scores are kept)" \
                if kept else "nothing finished, so the run is removed: lower rungs[].lr in a config file (nas search " \
                             "--config FILE) and run it again"
            raise ConfigError(f"every training diverged ({evaluator.diverged} of them, e.g. {evaluator.last_divergence}"
                              f"): {fix}")
        chosen_baseline = _choose_baseline(context)
        _promote(context, candidates, show_progress, _baseline_requests(context, chosen_baseline), stages)
        if top == 0:
            stages.begin("baseline" + (f" {chosen_baseline[1]}" if chosen_baseline else ": none fits the budget"))
        baseline = _baseline(context, chosen_baseline, show_progress)
        stages.begin(f"finalist: the front's most accurate arch judged by up to {config.finalist_seeds} seed(s)")
        front, noise, best = _confirmed_front(context, candidates, show_progress)
        result = SearchResult(config, candidates, front, baseline, noise, time.perf_counter() - started,
                              context.evaluator.training_seconds, infeasible, context.evaluator.accuracy_source(), best)
        write_outputs(result, context)
        return result
    finally:
        context.close()
        logging.getLogger("nas").removeHandler(handler)
        handler.close()


def _train_survivors(context: SearchContext, stages: Stages, show_progress: bool) -> None:
    """Rung 0 for the ``trials`` best screened candidates (:func:`nas.search.screening.best_screened`)."""
    assert context.screening is not None
    baselines = baseline_strings()
    scores = {a: v for a, v in context.screening.scores.items()
              if a not in baselines and context.oracle.feasible(parse_arch(a))}
    chosen = best_screened(scores, {a: context.oracle.latency(parse_arch(a)) for a in scores}, context.config.trials)
    stages.begin(f"rung 0: the best {len(chosen)} of {len(scores)} screened at {context.config.fidelities[0].label()} on "
                 f"{context.config.workers} worker(s)")
    context.evaluator.evaluate_many([(parse_arch(a), 0, context.config.seed) for a in chosen], "rung 0", show_progress)


def _candidates(context: SearchContext) -> list[Candidate]:
    """Every feasible, trained arch with its accuracy per rung (the cache is the source of truth)."""
    by_arch: dict[str, Candidate] = {}
    baselines = baseline_strings()
    for evaluation in context.journal.all():
        if evaluation.arch in baselines:
            continue
        arch = parse_arch(evaluation.arch)
        candidate = by_arch.setdefault(evaluation.arch, Candidate(arch, context.oracle.latency(arch)))
        candidate.record(evaluation.rung, evaluation.seed, evaluation.accuracy)
    return [c for c in by_arch.values() if 0 in c.accuracy and c.latency_ms <= context.oracle.budget_ms]


def _front(candidates: list[Candidate], rung: int, noise: float | None,
           merit: dict[str, float] | None) -> tuple[list[Candidate], Candidate | None]:
    """The noise-aware Pareto front of the candidates judged at ``rung``, by latency, and its best (ties within the
    noise broken by ``merit`` when given: :func:`nas.search.pareto.pareto_front`)."""
    judged = {str(c.arch): c for c in candidates if rung in c.samples}
    points = [Point(key, c.accuracy[rung], c.latency_ms) for key, c in judged.items()]
    front = pareto_front(points, noise or 0.0, merit)
    best = judged[front_best(front, noise or 0.0, merit).key] if front else None
    return sorted((judged[p.key] for p in front), key=lambda c: c.latency_ms), best


def _confirmed_front(context: SearchContext, candidates: list[Candidate],
                     show_progress: bool) -> tuple[list[Candidate], float | None, Candidate | None]:
    """The top-rung front once its best arch is judged by ``finalist_seeds`` seeds (see step 4)."""
    rung = len(context.config.fidelities) - 1
    while True:
        noise = context.journal.noise(rung)
        front, best = _front(candidates, rung, noise, _tie_merit(context, candidates, rung))
        seeds = _finalist_seeds(context, best.arch) if best is not None else []
        if best is None or all(seed in best.samples[rung] for seed in seeds):
            return front, noise, best
        # Workers the finalist leaves idle confirm the next most accurate archs at the rung meanwhile: if
        # the finalist falls, the one handed over to is among them.
        others = sorted((c for c in candidates if rung in c.samples and c is not best), key=lambda c: -c.accuracy[rung])
        requests = [(c, seed) for c in [best, *others] for seed in seeds if seed not in c.samples[rung]]
        requests = requests[:max(context.config.workers, sum(1 for c, _ in requests if c is best))]
        evaluations = context.evaluator.evaluate_many([(c.arch, rung, seed) for c, seed in requests],
                                            f"finalist {best.arch.id}", show_progress)
        for (candidate, seed), evaluation in zip(requests, evaluations):
            candidate.record(rung, seed, evaluation.accuracy)


def _finalist_seeds(context: SearchContext, arch: Arch) -> list[int]:
    """The seeds the finalist is judged by: ``finalist_seeds`` of them, or as many as the table published for it (a
    tabular seed beyond its trainings would repeat one: Accel-NASBench trained each network once)."""
    count = context.config.finalist_seeds
    available = context.evaluator.trainings(arch)
    return [context.config.seed + i for i in range(count if available is None else min(count, available))]


def _tie_merit(context: SearchContext, candidates: list[Candidate], rung: int) -> dict[str, float] | None:
    """What breaks ties within the noise at the top rung: the promotion merit when it holds a screening score
    (:func:`_promotion_merit`), else nothing (the faster arch wins the tie)."""
    if context.screening is None or context.config.screen_weight == 0:
        return None
    judged = [c for c in candidates if rung in c.samples]
    return _promotion_merit(context, judged, rung) if judged else None


def _promote(context: SearchContext, candidates: list[Candidate], show_progress: bool,
             also_at_top: list[tuple[Arch, int, int]], stages: Stages | None = None) -> None:
    """Successive halving over rungs, by non-dominated rank of (accuracy at the rung, latency).

    ``also_at_top`` (the baseline's seeds) is trained together with the top rung's candidates, so that
    the workers are kept busy by one batch instead of two.
    """
    pool = candidates
    top = len(context.config.fidelities) - 1
    for rung in range(1, top + 1):
        keep = max(1, math.ceil(len(pool) / context.config.eta))
        merit = _promotion_merit(context, pool, rung - 1)
        points = [Point(str(c.arch), merit[str(c.arch)], c.latency_ms) for c in pool]
        ordered = [p.key for front in nondominated_ranks(points) for p in sorted(front, key=lambda p: -p.accuracy)]
        chosen = [next(c for c in pool if str(c.arch) == key) for key in ordered[:keep]]
        extra = also_at_top if rung == top else []
        label = f"rung {rung} ({context.config.fidelities[rung].label()})" + (" + baseline" if extra else "")
        if stages is not None:
            stages.begin(f"rung {rung}: the best {len(chosen)} of {len(pool)} at {context.config.fidelities[rung].label()}"
                         + (f", with the baseline's {len(extra)} seed(s)" if extra else ""))
        evaluations = context.evaluator.evaluate_many([(c.arch, rung, context.config.seed) for c in chosen] + extra, label,
                                            show_progress)
        for candidate, evaluation in zip(chosen, evaluations):
            candidate.record(rung, context.config.seed, evaluation.accuracy)
        pool = chosen


def _promotion_merit(context: SearchContext, pool: list[Candidate], rung: int) -> dict[str, float]:
    """What promotes a candidate past ``rung``: its accuracy there, blended with its screening score when the
    run screens (:func:`nas.search.screening.blended`)."""
    trained = {str(c.arch): c.accuracy[rung] for c in pool}
    if context.screening is None or context.config.screen_weight == 0:
        return trained
    screen = dict(zip(trained, context.screening.score([c.arch for c in pool])))
    return blended(screen, trained, context.config.screen_weight)


ChosenBaseline = tuple[float, str, Arch]


def _choose_baseline(context: SearchContext) -> ChosenBaseline | None:
    """The slowest hand-designed baseline that fits the budget (the most capacity within it); none with a table of
    accuracies, which holds only its own space's networks."""
    if not context.evaluator.compares_baselines:
        return None
    fitting = []
    for name in available_baselines():
        arch = resolve_arch(name)
        if context.oracle.table.missing(arch.keys()):
            continue
        latency = context.oracle.latency(arch)
        if latency <= context.oracle.budget_ms:
            fitting.append((latency, name, arch))
    return max(fitting) if fitting else None


def _baseline_requests(context: SearchContext, chosen: ChosenBaseline | None) -> list[tuple[Arch, int, int]]:
    """The baseline's trainings: the top rung with ``baseline_seeds`` seeds."""
    if chosen is None:
        return []
    rung = len(context.config.fidelities) - 1
    return [(chosen[2], rung, context.config.seed + i) for i in range(context.config.baseline_seeds)]


def _baseline(context: SearchContext, chosen: ChosenBaseline | None, show_progress: bool) -> dict[str, Any] | None:
    """The chosen baseline's summary; its top-rung seeds are cached by the top rung's batch (with a one-rung
    ladder there is none, and they are trained here).

    ``accuracy`` is the mean over the seeds, the one definition every output uses for the baseline and the
    front alike (``accuracies`` holds the seeds): a headline seed-0 value beside a searched arch's mean
    would contradict the verdict, which compares means."""
    if chosen is None:
        return None
    latency, name, arch = chosen
    rung = len(context.config.fidelities) - 1
    accuracies = [e.accuracy for e in context.evaluator.evaluate_many(_baseline_requests(context, chosen), f"baseline {name}",
                                                            show_progress)]
    return {"name": name, "arch": str(arch), "latency_ms": latency, "accuracy": sum(accuracies) / len(accuracies),
            "accuracies": accuracies, "rung": rung, **cost_fields(arch)}
