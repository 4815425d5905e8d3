"""The run's answer as Optuna studies: what ``optuna-dashboard runs/NAME/study.db`` and ``optuna.load_study`` show.

A run's storage (``study.db`` by default) holds two studies:

``NAME``
    The record of the search: one trial per trained candidate. A candidate judged at the top rung is a COMPLETE trial
    whose values are its accuracy there (the mean over its seeds) and its predicted latency, with the metric names
    ``accuracy`` and ``latency_ms``. A candidate that promotion stopped at a lower rung is a PRUNED trial (Optuna's
    word for a trial successive halving stopped), with its accuracy at each rung it reached as intermediate values.
    User attributes hold what decided: the seeds' accuracies, the fidelity, the screening score, the latency's error
    bar, and whether the trial is on the run's front (``on_front``) or its finalist (``finalist``). The study's user
    attributes hold the noise, the tie rule and the baseline.

``NAME.sampler``
    What the sampler was told while it proposed candidates: screening scores (or rung-0 accuracies) and latencies,
    infeasible samples included. It is the sampler's state, not the answer, and is named so.

Why two: the dashboard reads a study's values as its objectives. With the sampler's study under the run's name, the
dashboard showed a NASWOT-vs-latency study, and ``best_trials`` returned screening scores, not accuracies.

The front in ``pareto.json`` treats accuracy differences within the seed noise as ties (decision 0025), so it can
keep a point that a plain Pareto front of the means drops, and the reverse; ``on_front`` marks the run's front, and
every trial of the dashboard's plain front is on the run's front or within the noise of a point that is.
"""

from __future__ import annotations

import statistics
import warnings
from typing import TYPE_CHECKING, Any, Protocol

import optuna

from nas.search.screening import tie_rule

if TYPE_CHECKING:
    from nas.search.context import SearchContext


class SearchOutcome(Protocol):
    """What the record reads of a search's result (:class:`nas.search.run.SearchResult`); structural, so that this
    module, which the search imports, need not import it back."""

    candidates: list[Any]
    front: list[Any]
    best: Any
    baseline: dict[str, Any] | None
    noise: float | None

METRICS = ("accuracy", "latency_ms")
SAMPLER_SUFFIX = ".sampler"


def sampler_study_name(run_name: str) -> str:
    """The sampler's study: screening scores and latencies, not the run's answer."""
    return run_name + SAMPLER_SUFFIX


def adopt_sampler_study(storage: optuna.storages.BaseStorage | str, run_name: str) -> None:
    """A run saved when the sampler's study carried the run's name: copy it to :func:`sampler_study_name` and free
    the name for the record, so that such a run resumes where it stopped."""
    names = set(optuna.study.get_all_study_names(storage))
    if run_name not in names or sampler_study_name(run_name) in names:
        return
    old = optuna.load_study(study_name=run_name, storage=storage)
    if old.user_attrs.get("role") == "record":
        return
    optuna.copy_study(from_study_name=run_name, from_storage=storage, to_storage=storage,
                      to_study_name=sampler_study_name(run_name))
    optuna.delete_study(study_name=run_name, storage=storage)


def write_record(result: SearchOutcome, context: SearchContext, storage: optuna.storages.BaseStorage | str) -> None:
    """Replace the run's record study with the trained candidates of ``result`` (see the module docstring)."""
    name = context.config.name
    assert name is not None
    if name in optuna.study.get_all_study_names(storage):
        optuna.delete_study(study_name=name, storage=storage)
    study = optuna.create_study(storage=storage, study_name=name, directions=["maximize", "minimize"])
    with warnings.catch_warnings():  # experimental in Optuna since 3.2, and what the dashboard reads
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(list(METRICS))
    top = len(context.config.fidelities) - 1
    front_ids = [c.arch.id for c in result.front]
    finalist = result.best.arch.id if result.best else None
    attrs: dict[str, Any] = {
        "role": "record", "space": context.config.space, "device": context.config.device,
        "budget_ms": context.oracle.budget_ms, "judged_at": context.config.fidelities[top].label(),
        "noise_sd": result.noise, "front_ids": front_ids, "finalist_id": finalist,
        "tie_rule": tie_rule(context.config.screener, context.config.screen_weight),
        "baseline": result.baseline, "sampler_study": sampler_study_name(name),
    }
    for key, value in attrs.items():
        study.set_user_attr(key, value)
    scores = context.screening.scores if context.screening is not None else {}
    trials = []
    for candidate in sorted(result.candidates, key=lambda c: c.latency_ms):
        rung = max(candidate.samples)
        seeds = candidate.samples[rung]
        mean = sum(seeds.values()) / len(seeds)
        user_attrs = {
            "id": candidate.arch.id, "arch": str(candidate.arch), "rung": rung,
            "fidelity": context.config.fidelities[rung].label(),
            "seeds": {str(seed): accuracy for seed, accuracy in sorted(seeds.items())},
            "accuracy_sd": _sd(list(seeds.values())),
            "latency_error_bar_ms": context.oracle.error_bar(candidate.arch),
            "on_front": candidate.arch.id in front_ids, "finalist": candidate.arch.id == finalist,
        }
        if str(candidate.arch) in scores:
            user_attrs[f"screen_{context.screening.name}"] = scores[str(candidate.arch)]  # type: ignore[union-attr]
        judged = rung == top
        trials.append(optuna.trial.create_trial(
            state=optuna.trial.TrialState.COMPLETE if judged else optuna.trial.TrialState.PRUNED,
            values=[mean, candidate.latency_ms] if judged else None, params={}, distributions={},
            user_attrs=user_attrs, intermediate_values={r: sum(s.values()) / len(s) for r, s in candidate.samples.items()}))
    study.add_trials(trials)


def _sd(values: list[float]) -> float | None:
    """The seeds' sample standard deviation; None for one seed (one seed has no spread to show)."""
    return statistics.stdev(values) if len(values) > 1 else None
