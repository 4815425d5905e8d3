"""``nas confirm``: is a run's searched arch really ahead of its hand-designed baseline?

Why this exists: a search picks its best arch as the maximum of one- or two-seed accuracies on a
1,000-image validation split, at a training budget where the same arch moves by 2-4 points between
seeds. The run's own verdict is judged against that noise, and with two seeds a side it can rarely
tell a few points apart. Confirmation retrains the front's most accurate archs and the run's baseline
at the run's top fidelity (or a longer one) with fresh seeds that the search never trained, so the
winner's curse is gone, and scores them on the official 10,000-image test set (0.5 points of sampling
noise instead of 1.5). A final report is what the test set is for; nothing is chosen by it.

The gap is a paired mean over seeds: one seed gives both archs the same data order and augmentation.
Its Student-t 95 % interval decides the verdict: "ahead" only when the whole interval is above zero.

Every finished training is appended (fsynced) to ``confirm.jsonl`` in the run folder, so an
interrupted confirmation resumes where it stopped, and more seeds can be added later; the summary is
written atomically to ``confirm.json``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from nas.arch import Arch, parse_arch
from nas.errors import NasError
from nas.fileio import append_line, read_journal
from nas.progress import progress
from nas.search.config import SearchConfig
from nas.search.run_folder import RunFolder
from nas.stats import mean_interval_95, pooled_sd
from nas.train import Fidelity

SEED_OFFSET = 1000
"""Confirmation seeds are ``config.seed + 1000 + i``: none of them is a seed the search trained with."""


@dataclass(frozen=True)
class Contender:
    role: str  # "searched" or "baseline"
    name: str
    arch: Arch
    latency_ms: float


@dataclass(frozen=True)
class Plan:
    run: RunFolder
    config: SearchConfig
    contenders: list[Contender]
    fidelity: Fidelity
    seeds: list[int]


def plan_confirmation(run: str | Path, seeds: int = 8, top: int = 1, epochs: float | None = None,
                      subset: int | None = None) -> Plan:
    """What to train: the run's best arch and the front's next ``top - 1`` most accurate, and the run's baseline,
    ``seeds`` fresh seeds each."""
    folder = RunFolder(Path(run))
    folder.require_finished(f"finish it with nas search --resume {folder.name}")
    if seeds < 2:
        raise NasError(f"--seeds must be at least 2 (an interval needs two), got {seeds}")
    if top < 1:
        raise NasError(f"--top must be at least 1, got {top}")
    config = folder.config()
    pareto = folder.pareto(("front", "baseline"))
    baseline = pareto.get("baseline")
    if not baseline:
        raise NasError(f"no hand-designed baseline fits the budget of {run}: there is nothing to confirm against")
    best = pareto.get("best_id")  # the search's finalist (ties within the noise go to the screening merit)
    front = sorted(pareto["front"], key=lambda c: (c["id"] != best, -c["accuracy"]))[:top]
    if not front:
        raise NasError(f"{run} has an empty front: nothing to confirm")
    contenders = [Contender("searched", f"searched #{i + 1} {item['id']}", parse_arch(item["arch"]),
                            float(item["latency_ms"])) for i, item in enumerate(front)]
    contenders.append(Contender("baseline", f"baseline {baseline['name']}", parse_arch(baseline["arch"]),
                                float(baseline["latency_ms"])))
    fidelity = config.fidelities[pareto.get("judged_at_rung", len(config.fidelities) - 1)]
    if epochs is not None:
        fidelity = replace(fidelity, epochs=epochs)
    if subset is not None:
        fidelity = replace(fidelity, subset=subset)
    return Plan(folder, config, contenders, fidelity, [config.seed + SEED_OFFSET + i for i in range(seeds)])


def _key(arch_text: str, fidelity_label: str, seed: int) -> tuple[str, str, int]:
    return arch_text, fidelity_label, seed


def load_records(path: Path) -> dict[tuple[str, str, int], dict[str, Any]]:
    """Finished confirmation trainings (a line torn by a kill mid-write is skipped)."""
    records = {}
    for record in read_journal(path):
        try:
            records[_key(record["arch"], record["fidelity"], int(record["seed"]))] = record
        except (KeyError, TypeError, ValueError):
            continue
    return records


def run_confirmation(plan: Plan, workers: int | None = None, threads: int | None = None,
                     show_progress: bool = True) -> dict[str, Any]:
    """Train what the plan lacks (on ``workers`` processes, default the run's), then summarise and write it."""
    from nas.data import load_cifar10

    path = plan.run.confirm_journal_path
    records = load_records(path)
    label = plan.fidelity.label()
    todo = [(c.arch, seed) for seed in plan.seeds for c in plan.contenders  # seed by seed: pairs finish together
            if _key(str(c.arch), label, seed) not in records]
    if todo:
        data = load_cifar10(plan.config.data)
        for arch_text, seed, outcome in _train(todo, data, plan.fidelity, workers or plan.config.workers,
                                               threads or plan.config.threads, show_progress):
            record = {"arch": arch_text, "fidelity": label, "seed": seed, "accuracy": outcome["accuracy"],
                      "test_accuracy": outcome["test_accuracy"], "seconds": outcome["seconds"],
                      "stopped_early": outcome["stopped_early"]}
            append_line(path, json.dumps(record))
            records[_key(arch_text, label, seed)] = record
    summary = summarise(plan, records)
    plan.run.write_confirm(summary)
    return summary


def _train(todo: list[tuple[Arch, int]], data: Any, fidelity: Fidelity, workers: int, threads: int | None,
           show_progress: bool):  # noqa: ANN202 (a generator of (arch text, seed, outcome))
    import torch

    from nas.search.pool import TrainingPool, default_threads, train_and_report
    from nas.train import set_threads

    if workers == 1:  # here, at the run's thread count (the caller's is restored after)
        caller_threads = torch.get_num_threads()
        set_threads(threads)
        try:
            for arch, seed in progress(todo, len(todo), "confirm", show_progress):
                yield str(arch), seed, train_and_report(str(arch), data, fidelity, seed, test=True)
        finally:
            torch.set_num_threads(caller_threads)
        return
    pool = TrainingPool(data, workers, threads or default_threads(workers))
    try:
        futures = {pool.submit(str(arch), fidelity, seed, None, test=True): (str(arch), seed) for arch, seed in todo}
        for (arch_text, seed), outcome in pool.completed(futures, "confirm", show_progress):
            yield arch_text, seed, outcome
    finally:
        pool.close()


def summarise(plan: Plan, records: dict[tuple[str, str, int], dict[str, Any]]) -> dict[str, Any]:
    """Per contender: accuracies by seed; per searched arch: the paired test-set gap to the baseline."""
    label = plan.fidelity.label()
    rows = []
    for contender in plan.contenders:
        found = [records.get(_key(str(contender.arch), label, seed)) for seed in plan.seeds]
        rows.append({"role": contender.role, "name": contender.name, "arch": str(contender.arch),
                     "latency_ms": contender.latency_ms,
                     "test_accuracies": [r["test_accuracy"] if r else None for r in found],
                     "val_accuracies": [r["accuracy"] if r else None for r in found],
                     "seconds": sum(r["seconds"] for r in found if r)})
    baseline = rows[-1]
    comparisons = []
    for row in rows[:-1]:
        gaps = [(a - b) * 100 for a, b in zip(row["test_accuracies"], baseline["test_accuracies"])
                if a is not None and b is not None]
        comparison: dict[str, Any] = {"searched": row["name"], "baseline": baseline["name"], "paired_seeds": len(gaps),
                                      "latency_ratio": row["latency_ms"] / baseline["latency_ms"]}
        if len(gaps) >= 2:
            gap, low, high = mean_interval_95(gaps)
            verdict = "ahead" if low > 0 else "behind" if high < 0 else "tied (the interval spans zero)"
            comparison.update(gap_pts=gap, interval95_pts=[low, high], verdict=verdict)
        comparisons.append(comparison)
    return {"run": plan.run.name, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "fidelity": label,
            "seeds": plan.seeds, "scored_on": "official CIFAR-10 test set (10,000 images)", "contenders": rows,
            "comparisons": comparisons}


def format_summary(summary: dict[str, Any]) -> str:
    """The table ``nas confirm`` prints."""
    lines = [f"confirmation at {summary['fidelity']}, seeds {summary['seeds'][0]}-{summary['seeds'][-1]}, "
             f"scored on the {summary['scored_on']}",
             f"{'':34} {'latency ms':>10} {'test accuracy %':>22} {'val %':>6}"]
    for row in summary["contenders"]:
        tests = [a * 100 for a in row["test_accuracies"] if a is not None]
        vals = [a * 100 for a in row["val_accuracies"] if a is not None]
        spread = f"{sum(tests) / len(tests):5.1f} (sd {pooled_sd([tests]) or 0.0:.1f}, n {len(tests)})" if tests else "-"
        val = f"{sum(vals) / len(vals):6.1f}" if vals else "-"
        lines.append(f"{row['name'][:34]:34} {row['latency_ms']:10.1f} {spread:>22} {val:>6}")
    for c in summary["comparisons"]:
        if "gap_pts" in c:
            low, high = c["interval95_pts"]
            lines.append(f"{c['searched']} vs {c['baseline']}: {c['gap_pts']:+.2f} pts on the test set, 95 % interval "
                         f"[{low:+.2f}, {high:+.2f}] over {c['paired_seeds']} paired seeds, at "
                         f"{c['latency_ratio']:.2f}x its latency: {c['verdict']}")
    return "\n".join(lines)

