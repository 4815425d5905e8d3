"""What a finished search writes: ``trials.csv``, ``pareto.json`` and the record study (:mod:`nas.search.study_record`).

Why apart from the search loop (:mod:`nas.search.run`): the loop decides, this module records; a resumed run that
only re-judges rewrites all three from the journal through here. ``result`` is a
:class:`nas.search.run.SearchResult` (read structurally: the loop imports this module).
"""

from __future__ import annotations

import csv
import io
from typing import Any

from nas.arch import Arch
from nas.cost import arch_cost
from nas.search.config import ConfigError
from nas.search.context import SearchContext
from nas.search.pareto import Point, hypervolume, ties_kept
from nas.search.screening import stage_estimators, tie_rule


def cost_fields(arch: Arch) -> dict[str, int]:
    cost = arch_cost(arch)
    return {"macs": cost.macs, "params": cost.params}


def write_outputs(result: Any, context: SearchContext) -> None:
    """trials.csv (every trained candidate), pareto.json (front, baseline, noise, fidelities)."""
    devices = [result.config.device, *context.oracle.other_tables]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    rungs = range(len(context.config.fidelities))
    writer.writerow(["id", "arch", *[f"accuracy_rung{r}" for r in rungs], *[f"latency_ms_{d}" for d in devices],
                     "macs", "params", "on_front", "seconds"])
    front_ids = {c.arch.id for c in result.front}
    for c in sorted(result.candidates, key=lambda c: c.latency_ms):
        latencies = context.oracle.latencies(c.arch)
        seconds = sum(e.seconds for e in context.journal.all() if e.arch == str(c.arch))
        writer.writerow([c.arch.id, str(c.arch), *[f"{c.accuracy[r]:.4f}" if r in c.accuracy else "" for r in rungs],
                         *[f"{latencies[d]:.4f}" for d in devices], cost_fields(c.arch)["macs"], cost_fields(c.arch)["params"],
                         int(c.arch.id in front_ids), f"{seconds:.1f}"])
    context.folder.write_trials(buffer.getvalue())
    top = len(context.config.fidelities) - 1
    points = [Point(str(c.arch), c.accuracy[0], c.latency_ms) for c in result.candidates]
    tied = ties_kept([Point(c.arch.id, c.accuracy[top], c.latency_ms) for c in result.front])
    best_id = result.best.arch.id if result.best else None
    document = {
        "run": result.config.name, "space": result.config.space, "device": result.config.device,
        "budget_ms": context.oracle.budget_ms, "fastest_in_space_ms": context.oracle.fastest_ms,
        "accuracy_source": context.evaluator.accuracy_source(), "estimators": stage_estimators(result.config),
        "screened": len(context.screening.scores) if context.screening else None,
        "fidelities": [f.label() for f in context.config.fidelities], "judged_at_rung": top,
        "noise_sd": result.noise, "best_id": result.best.arch.id if result.best else None,
        "hypervolume_rung0": hypervolume(points, context.oracle.budget_ms),
        "front": [{"id": c.arch.id, "arch": str(c.arch), "accuracy": c.accuracy[top],
                   "accuracies": [c.samples[top][seed] for seed in sorted(c.samples[top])], "latency_ms": c.latency_ms,
                   "latency_ms_by_device": context.oracle.latencies(c.arch), **cost_fields(c.arch),
                   "latency_sources": context.oracle.table.breakdown(c.arch),
                   "latency_error_bar_ms": context.oracle.error_bar(c.arch),
                   "finalist": c.arch.id == best_id, "tied_with": tied[c.arch.id],
                   "accuracy_kind": _accuracy_kind(context, c, top)}
                  for c in result.front],
        "tie_rule": tie_rule(context.config.screener, context.config.screen_weight), "verdict": _verdict(result),
        "baseline": result.baseline, "candidates": len(result.candidates), "infeasible_rejected": result.infeasible,
        "seconds": result.seconds, "training_seconds": result.training_seconds,
        "overhead_fraction": max(0.0, 1 - result.training_seconds / result.seconds) if result.seconds else 0.0,
    }
    context.folder.write_pareto(document)
    write_study_record(result, context)


def _accuracy_kind(context: SearchContext, candidate: Any, rung: int) -> str:
    """'trained', 'looked up' or 'predicted': what the front point's accuracy is (a tabular source may predict a
    network its table does not hold; the label is the journalled evaluation's fidelity)."""
    labels = [evaluation.fidelity for seed in candidate.samples[rung]
              if (evaluation := context.journal.get((str(candidate.arch), rung, seed))) is not None]
    if not any(label.startswith("tabular") for label in labels):
        return "trained"
    return "predicted" if any("predicted" in label for label in labels) else "looked up"


def _verdict(result: Any) -> dict[str, Any] | None:
    """The finalist against the baseline (means over seeds, judged against the gap's seed noise), or None."""
    if result.best is None or result.baseline is None:
        return None
    from nas.search.pareto import compare_to_baseline

    top = max(result.best.samples)
    return compare_to_baseline(list(result.best.samples[top].values()), result.baseline["accuracies"], result.noise)


def write_study_record(result: Any, context: SearchContext) -> None:
    """The run's record study in its storage (:mod:`nas.search.study_record`); a storage that cannot be written is
    one line, and pareto.json and trials.csv are already written."""
    import optuna

    from nas.search.optuna_driver import make_storage
    from nas.search.study_record import write_record

    url = result.config.storage_url()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        write_record(result, context, make_storage(url))
    except (optuna.exceptions.StorageInternalError, OSError) as exc:
        cause = str(getattr(exc, "__cause__", None) or exc).splitlines()[0]
        raise ConfigError(f"cannot write the study {url} ({cause}); pareto.json and trials.csv are written, and "
                          f"--resume {result.config.name} writes the study again") from None
