"""The Optuna driver: ask/tell over a persistent study (SQLite in the run folder by default).

Each trial samples an arch define-by-run (:meth:`SearchSpace.sample_trial`), looks its latency up,
and sets the constraint ``latency - budget`` (``trial.set_constraint``, Optuna 5's replacement for
``constraints_func``), which NSGA-II and TPE use to prefer feasible trials. Their first trials (NSGA-II's
first generation, TPE's start-up trials) are feasible archs spread evenly over the latency range
(:mod:`nas.search.initial`); the random sampler, the control, stays random. An infeasible trial is
told at once, untrained, with accuracy 0; it costs milliseconds and does not count towards
``trials``. Trials left RUNNING by a killed process are marked FAIL on resume; everything finished
is kept (SQLite commits each tell, the trainings are in ``evaluations.jsonl``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import optuna

from nas.arch import Arch, parse_arch
from nas.errors import NasError
from nas.search.config import SearchConfig
from nas.search.context import SearchContext, baseline_strings
from nas.search.initial import capacity_front, latency_stratified
from nas.search.run_folder import RunFolder

log = logging.getLogger(__name__)
MAX_INFEASIBLE_PER_TRIAL = 200


def startup_trials(config: SearchConfig) -> int:
    """The sampler's start-up trials, taken from the initial design (:mod:`nas.search.samplers`)."""
    from nas.search.samplers import sampler_entry

    return sampler_entry(config.sampler).startup(config)


def make_sampler(config: SearchConfig, offset: int = 0) -> optuna.samplers.BaseSampler:
    """The registry's sampler for the run; a resumed run's offset continues its random stream."""
    from nas.search.samplers import sampler_entry

    return sampler_entry(config.sampler).make(config, config.seed + 1_000_003 * offset)


def initial_design(config: SearchConfig, context: SearchContext) -> list[dict]:
    """Trial parameters for the sampler's first trials: with screening and a ``prescreen_pool``, every screened
    candidate, the archs with the most MACs for their latency (:func:`~nas.search.initial.capacity_front`); else
    latency-stratified feasible archs."""
    oracle = context.oracle
    if config.screener != "none" and config.prescreen_pool:
        universe = None
        if config.candidates == "table":
            from nas.accuracy.tabular import table_archs

            universe = table_archs(Path(config.space).stem)
        return capacity_front(context.space, oracle.compiled, oracle.budget_ms, config.screened, config.seed,
                              config.prescreen_pool, universe, config.prescreen_signal)
    return latency_stratified(context.space, oracle.compiled, oracle.budget_ms, startup_trials(config), config.seed)


def _check_sqlite_file(url: str) -> None:
    """An existing study file must be an SQLite database before anything opens it: SQLite would otherwise create
    its shared-memory file beside the damaged one and keep it locked by a connection that failed, so the
    study could not be started afresh after the file is moved away, in this process or another."""
    from sqlalchemy.engine import make_url

    try:
        database = make_url(url).database
    except Exception:  # noqa: BLE001 (a malformed URL is create_study's to report, in one line)
        return
    if not database:
        return
    path = Path(database)
    if path.is_file() and path.stat().st_size:
        with open(path, "rb") as handle:
            if handle.read(16) != b"SQLite format 3\x00":
                raise NasError(f"{path} is not an SQLite database")


def make_storage(url: str) -> optuna.storages.BaseStorage | str:
    """The study storage; SQLite gets write-ahead logging with ``synchronous=NORMAL``.

    Optuna writes every suggested parameter in its own transaction, and SQLite's default journal
    fsyncs each one: about 0.9 s per ghost_mbv2 trial (73 parameters) here, 3-5 % of a default search.
    WAL with NORMAL sync costs 0.29 s and still survives a killed process (a committed transaction is
    in the log before the call returns); only a power cut can lose the last few commits.
    """
    if not url.startswith("sqlite:"):
        return url
    _check_sqlite_file(url)
    from sqlalchemy import event

    storage = optuna.storages.RDBStorage(url)

    def _pragmas(connection, _record) -> None:  # noqa: ANN001
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    event.listen(storage.engine, "connect", _pragmas)
    storage.engine.dispose()  # connections opened before the listener existed are dropped
    return storage


DRIVERS = {"postgresql": "psycopg2-binary", "mysql": "PyMySQL (and a mysql+pymysql:// URL)"}
"""The pip package SQLAlchemy needs for a storage URL's database (SQLite needs none)."""


def _driver_hint(url: str) -> str:
    dialect = url.split(":", 1)[0].split("+", 1)[0]
    package = DRIVERS.get(dialect)
    return f"pip install {package}" if package else "install the SQLAlchemy driver for that database"


def storage_error(url: str, exc: Exception) -> NasError:
    """One line for a storage that cannot be opened; a missing driver names the package to install."""
    if isinstance(exc, ImportError):  # SQLAlchemy found no driver for the URL's database
        return NasError(f"cannot open study storage {url!r}: its database driver is not installed; {_driver_hint(url)}")
    return NasError(f"cannot open study storage {url!r}: {exc.__class__.__name__}: "
                    f"{str(exc).splitlines()[0] if str(exc) else ''}")


def check_storage(url: str) -> None:
    """Open a user-given storage once, so that a URL that cannot work fails before a run folder exists."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        optuna.storages.RDBStorage(url)  # connects and creates the schema; open_study opens it for good
    except Exception as exc:  # noqa: BLE001 (reported as one line, see storage_error)
        raise storage_error(url, exc) from None


def open_study(config: SearchConfig) -> optuna.Study:
    from nas.search.study_record import adopt_sampler_study, sampler_study_name

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        storage = make_storage(config.storage_url())
        assert config.name is not None
        adopt_sampler_study(storage, config.name)
        study = optuna.create_study(storage=storage, study_name=sampler_study_name(config.name),
                                    directions=["maximize", "minimize"], sampler=make_sampler(config),
                                    load_if_exists=True)
        if study.trials:  # resuming: continue the random stream instead of replaying it from the seed
            study.sampler = make_sampler(config, offset=len(study.trials))
    except Exception as exc:  # storage backends raise many types (sqlalchemy, OSError, ...)
        folder = RunFolder(config.run_dir)
        if not config.storage and folder.study_path.is_file():
            raise NasError(f"{folder.study_path} is unreadable ({exc.__class__.__name__}); move it away and resume: "
                           f"every finished training is in {folder.journal_path} and is kept, and the sampler "
                           "starts afresh from them") from None
        raise storage_error(config.storage_url(), exc) from None
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study._storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
        log.info("marked trial %d (left running by an interrupted process) as failed", trial.number)
    return study


def _feasible_archs(study: optuna.Study) -> set[str]:
    """Distinct feasible archs told so far: the unit ``trials`` counts (a re-sampled arch is free)."""
    return {t.user_attrs["arch"] for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
            if t.user_attrs.get("feasible")}


def _infeasible_count(study: optuna.Study) -> int:
    """Over-budget samples told so far (they were never trained)."""
    return sum(1 for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
               if t.user_attrs.get("feasible") is False)


class Objective:
    """What the sampler is told for a feasible arch: its rung-0 accuracy, or its screening score.

    ``known`` are the archs measured so far, told or not: a killed batch can finish measurements before
    their trials are told (those trials are then marked failed); they count towards the target like any
    other, so a resumed run does not measure that many more. The sampler learns of them only if it
    proposes them again.
    """

    def __init__(self, context: SearchContext) -> None:
        self.context = context
        self.screening = context.screening
        self.attr = f"screen_{self.screening.name}" if self.screening else "accuracy_rung0"
        self.unit = f"{self.screening.name} scores" if self.screening else "rung 0 trials"

    def known(self) -> set[str]:
        baselines = baseline_strings()
        archs = self.screening.scores if self.screening else {e.arch for e in self.context.journal.evaluations(0)}
        return {a for a in archs if a not in baselines and self.context.oracle.feasible(parse_arch(a))}

    def measure(self, archs: list[Arch]) -> list[float]:
        if self.screening:
            return self.screening.score(archs)
        return [e.accuracy for e in self.context.evaluator.evaluate_many([(arch, 0, self.context.config.seed) for arch in archs])]


def sample_with_optuna(config: SearchConfig, context: SearchContext, show_progress: bool = True) -> int:
    """See :func:`_sample`; a study database that cannot be written (a full disk) is one line, not Optuna's traceback."""
    try:
        return _sample(config, context, show_progress)
    except optuna.exceptions.StorageInternalError as exc:
        cause = str(exc.__cause__ or exc).splitlines()[0]
        raise NasError(f"cannot write the study database {config.storage_url()} ({cause}); free space (or fix the "
                       "storage) and run the command again (with --resume if trainings had finished: they are kept)") from None


def _sample(config: SearchConfig, context: SearchContext, show_progress: bool = True) -> int:
    """Run trials until ``config.screened`` feasible archs are measured (screened, or else trained at rung 0);
    returns the infeasible count.

    Trials are asked in batches of feasible, not yet measured archs, measured side by side
    (:meth:`SearchContext.evaluate_many`) and told in the order they were asked. Synchronous batches
    keep a run reproducible: what the sampler is told, and when, does not depend on which training
    happened to finish first. A batch waits for its slowest training, so with several workers it holds
    two archs per worker, which the pool packs longest first.
    """
    study = open_study(config)
    if not study.trials:  # a new study; a resumed one already holds its design (enqueued trials are stored)
        for params in initial_design(config, context):
            study.enqueue_trial(params, skip_if_exists=True)
    objective = Objective(context)
    seen = _feasible_archs(study) | objective.known()
    done = len(seen)
    infeasible = _infeasible_count(study)  # a resumed run goes on counting where it stopped
    bar = None
    if show_progress:
        from nas.progress import bar as progress_bar

        bar = progress_bar(config.screened, objective.unit, "arch", initial=done)
    try:
        while done < config.screened:
            size = min(config.workers if config.workers == 1 else 2 * config.workers, config.screened - done)
            batch, repeats, infeasible = _ask_batch(study, config, context, objective, seen, size, infeasible)
            values = objective.measure([arch for _, arch, _ in batch])
            for (trial, arch, latency), value in zip(batch, values):
                trial.set_user_attr(objective.attr, value)
                study.tell(trial, [value, latency])
                seen.add(str(arch))
                done += 1
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(value=f"{value:.3g}", ms=f"{latency:.2f}", rejected=infeasible)
            for trial, arch, latency in repeats:  # an arch asked twice in one batch: told once it is measured
                value = objective.measure([arch])[0]
                trial.set_user_attr(objective.attr, value)
                study.tell(trial, [value, latency])
    finally:  # closed before any error is printed, so the error is the last line
        if bar is not None:
            bar.close()
    return infeasible


Asked = tuple[optuna.trial.Trial, Arch, float]


def _ask_batch(study: optuna.Study, config: SearchConfig, context: SearchContext, objective: Objective,
               seen: set[str], size: int, infeasible: int) -> tuple[list[Asked], list[Asked], int]:
    """Ask until ``size`` new feasible archs are found. Over-budget archs are told at once (infeasible, unmeasured),
    an arch already measured is told its known value; neither counts. Returns the new ones, repeats of them
    and the run's infeasible count so far."""
    batch: list[Asked] = []
    repeats: list[Asked] = []
    while len(batch) < size:
        trial = study.ask()
        arch = context.space.sample_trial(trial)
        latency = context.oracle.latency(arch)
        trial.set_user_attr("arch", str(arch))
        trial.set_user_attr("latency_ms", latency)
        trial.set_constraint("latency_over_budget_ms", latency - context.oracle.budget_ms)
        if latency > context.oracle.budget_ms:
            trial.set_user_attr("feasible", False)
            study.tell(trial, [0.0, latency])
            infeasible += 1
            if infeasible > MAX_INFEASIBLE_PER_TRIAL * config.trials:
                raise NasError(f"{infeasible} sampled archs were over the {context.oracle.budget_ms:g} ms budget; "
                               f"the budget is too tight for this space (fastest: {context.oracle.fastest_ms:.3f} ms)")
            continue
        trial.set_user_attr("feasible", True)
        if str(arch) in seen:
            value = objective.measure([arch])[0]  # known: measured earlier
            trial.set_user_attr(objective.attr, value)
            study.tell(trial, [value, latency])
        elif any(str(arch) == str(other) for _, other, _ in batch):
            repeats.append((trial, arch, latency))
        else:
            batch.append((trial, arch, latency))
    return batch, repeats, infeasible


def check(config: SearchConfig) -> None:
    """Before a run folder exists: a user-given study database must open."""
    if config.storage:
        check_storage(config.storage)


def sample(config: SearchConfig, context: SearchContext, show_progress: bool = True) -> int:
    """The driver interface (:mod:`nas.search.drivers`)."""
    return sample_with_optuna(config, context, show_progress)
