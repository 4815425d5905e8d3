"""``nas search``, ``nas export``, ``nas confirm``, ``nas report``: a search run and what is done with it."""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import Counter
from collections.abc import Sequence

from nas.cli.common import SEED_MAX, bounded, print_table
from nas.errors import NasError


def register(sub: argparse._SubParsersAction) -> None:
    """This group's commands and their options."""
    p = sub.add_parser("search", help="budget-constrained search: most accurate archs under a latency budget")
    p.add_argument("--space", default=None, help="search space (default ghost_mbv2)")
    p.add_argument("--device", default=None, help="latency table to budget against (default rpi4)")
    p.add_argument("--budget", default=None, help="latency budget with unit, e.g. 30ms, 0.03s (default 30ms)")
    p.add_argument("--trials", type=bounded(1, 10_000), default=None, help="feasible candidates trained at rung 0 (default 16)")
    from nas.search.samplers import SAMPLERS

    p.add_argument("--sampler", default=None,
                   help="; ".join(f"{name}: {entry.summary}" for name, entry in SAMPLERS.items()))
    p.add_argument("--seed", type=bounded(0, SEED_MAX), default=None, help="seed of the sampler and of every training; "
                   "the same seed and config give the same run (default 0)")
    from nas.search.drivers import DRIVERS

    p.add_argument("--backend", default=None,
                   help="; ".join(f"{name}: {entry.summary}" for name, entry in DRIVERS.items()))
    p.add_argument("--workers", type=bounded(1, 1024), default=None,
                   help="trainings (and screening scores) side by side: worker processes (optuna) or Ray tasks at once "
                        "(default 2)")
    p.add_argument("--address", default=None, help="existing Ray cluster address (ray backend; default: a local cluster)")
    p.add_argument("--cpus-per-trial", type=bounded(1, 1024), default=None,
                   help="CPUs each Ray task asks for, and its torch threads (ray backend; default --threads, else 1)")
    p.add_argument("--gpus-per-trial", type=bounded(0, 64, float), default=None,
                   help="GPUs each Ray training asks for (ray backend; default 1 when the cluster has GPUs, else 0)")
    p.add_argument("--storage", default=None, help="Optuna storage URL (default: SQLite in the run folder)")
    p.add_argument("--name", default=None, help="run name (default: space_device_budget_sampler_time)")
    p.add_argument("--runs-dir", default=None, help="where runs live (default runs/)")
    p.add_argument("--data", default=None, help="CIFAR-10 location (default $NAS_DATA, then the cache)")
    p.add_argument("--eta", type=bounded(2, 64), default=None, help="successive-halving reduction factor (default 4)")
    p.add_argument("--threads", type=bounded(1, 1024), default=None,
                   help="torch threads per training (default: the cores shared out over the workers)")
    p.add_argument("--accuracy", default=None, choices=("train", "tabular"),
                   help="train (default): short CIFAR-10 trainings; tabular: look up the space's published trained "
                        "accuracies instead (spaces nas_bench_macro, accel_nasbench): judges the search algorithm "
                        "against published ground truth")
    from nas.accuracy.registry import ESTIMATORS, screening_names

    p.add_argument("--screen", default=None,
                   help="cheap estimator that scores candidates before any training; only the best --trials of "
                        "them are trained: auto (default: the space's own, naswot unless its YAML names another), "
                        + ", ".join(f"{n} ({ESTIMATORS[n].cost})" for n in screening_names())
                        + ", or none (train every sampled candidate)")
    p.add_argument("--screen-factor", type=bounded(1, 100), default=None,
                   help="candidates screened per trained one (default 4: 64 screened for 16 trained)")
    p.add_argument("--prescreen-pool", type=bounded(0, 1_000_000), default=None,
                   help="random archs whose MACs and latency (free) choose what is screened: those with the most "
                        "MACs for their latency (default 2048; 0: the sampler proposes every screened candidate)")
    p.add_argument("--prescreen", default=None, choices=("auto", "macs", "params"),
                   help="the free signal whose most for the latency chooses what is screened: auto (default: the "
                        "space's choice, MACs unless its YAML names another), macs or params")
    p.add_argument("--candidates", default=None, choices=("space", "table"),
                   help="where the pre-screen pool is drawn from: space (default), random networks of the whole space; "
                        "table, the networks the space's table measured, so every accuracy is looked up (spaces "
                        "nas_bench_macro, accel_nasbench)")
    p.add_argument("--screen-weight", type=bounded(0, 1, float), default=None,
                   help="weight of the screening score's percentile, beside the trained accuracy's, when promoting "
                        "to the next rung (0-1; default from bench/accuracy_fidelity.py)")
    p.add_argument("--config", default=None, help="rerun from a run's config.yaml")
    p.add_argument("--resume", default=None, help="continue the run of this name (or folder)")
    p.set_defaults(handler=cmd_search)
    _register_after_search(sub)


def _register_after_search(sub: argparse._SubParsersAction) -> None:
    """What is done with a finished run: export, confirm, report."""
    p = sub.add_parser("export", help="export a run's archs (default: its Pareto front): ONNX, weights, arch.yaml, "
                                      "metrics.json")
    p.add_argument("run", help="run folder (runs/<name>)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--pareto", action="store_true", help="every arch on the front (default)")
    group.add_argument("--top", type=bounded(1, 1000), default=None, help="the K most accurate archs under the budget")
    group.add_argument("--trial", default=None, help="one arch by its id")
    p.add_argument("--retrain-epochs", type=bounded(0.01, 1000, float), default=None, help="retrain longer before exporting")
    p.set_defaults(handler=cmd_export)

    p = sub.add_parser("confirm", help="retrain a run's best arch and its baseline with fresh seeds: test-set gap "
                                       "with a 95 %% interval")
    p.add_argument("run", help="run folder (runs/<name>)")
    p.add_argument("--seeds", type=bounded(1, 1000), default=8,
                   help="fresh seeds per arch (default 8; more seeds can be added later)")
    p.add_argument("--top", type=bounded(1, 1000), default=1, help="confirm the front's K most accurate archs (default 1)")
    p.add_argument("--epochs", type=bounded(0.01, 1000, float), default=None, help="train longer than the run's top rung")
    p.add_argument("--subset", type=bounded(1, 50_000), default=None, help="train on more images than the run's top rung")
    p.add_argument("--workers", type=bounded(1, 1024), default=None, help="trainings at once (default: the run's)")
    p.add_argument("--threads", type=bounded(1, 1024), default=None,
                   help="torch threads per training (default: cores shared out)")
    p.set_defaults(handler=cmd_confirm)

    p = sub.add_parser("report", help="pareto.png and a self-contained report.html for a run")
    p.add_argument("run", help="run folder (runs/<name>)")
    p.set_defaults(handler=cmd_report)


def cmd_search(args: argparse.Namespace) -> int:
    from nas.search.config import SearchConfig
    from nas.search.run import run_search
    from nas.train import set_threads

    resume = False
    if args.resume:
        from pathlib import Path

        from nas.search.run_folder import RunFolder

        folder = RunFolder(Path(args.resume) if "/" in args.resume else Path(args.runs_dir or "runs") / args.resume)
        if not folder.has_config():
            raise NasError(f"no run to resume at {folder.path} (no config.yaml there)")
        config = folder.config()
        resume = True
    elif args.config:
        config = SearchConfig.load(args.config)
        config.name = args.name  # a rerun gets its own name (default: a fresh time stamp)
    else:
        config = SearchConfig()
    options = {name: getattr(args, name, None) for name in SearchConfig.option_names()}
    for note in config.override(options, resume):
        print(note, file=sys.stderr)
    set_threads(config.threads)
    result = run_search(config, resume=resume)
    _print_result(result)
    if config.accuracy == "tabular" and config.screener == "none":
        print("note: this tabular search screens nothing: the sampler proposes every candidate and the table judges "
              "it, which is not the default algorithm (no capacity pre-screen, no screen); drop --screen none to judge "
              "the default", file=sys.stderr)
    return 0


def _print_result(result) -> None:  # noqa: ANN001 (SearchResult, imported lazily)
    config = result.config
    top = len(config.fidelities) - 1
    label = "the table's accuracies" if config.accuracy == "tabular" else config.fidelities[top].label()
    print(f"\nrun {config.run_dir}: {len(result.candidates)} trained candidates, {result.infeasible} rejected over "
          f"budget from the table; {result.seconds:.0f}s ({result.training_seconds / max(result.seconds, 1e-9) * 100:.0f}% "
          f"training)")
    noise = f"+-{result.noise * 100:.1f} pts (seed sd)" if result.noise is not None else "not measured"
    print(f"Pareto front under {config.budget_ms:g} ms on {config.device}, judged at {label}; noise {noise}")
    print(f"accuracy: {result.accuracy_source}")
    from nas.search.screening import stage_estimators

    for stage in stage_estimators(config):
        print(f"  {stage['stage']}: {stage.get('what', stage['estimator'])} ({stage['ranks']})")
    rows = [("", "acc % (mean)", "seeds", "latency ms", "+-ms", "sources", "MMACs", "params", "id", "arch")]
    from nas.cost import arch_cost
    from nas.latency.table import load_table
    from nas.search.run_folder import RunFolder

    table = load_table(config.device)
    from nas.latency.host import is_foreign

    foreign = is_foreign(table)
    summary = RunFolder(config.run_dir).pareto()  # written by the run: its ties, accuracy kinds and tie rule
    tied = {point["id"]: point.get("tied_with", []) for point in summary["front"]}
    for c in result.front:
        cost = arch_cost(c.arch)
        sources = " ".join(f"{origin[:4]} {share * 100:.0f}%" for origin, share in sorted(table.breakdown(c.arch).items()))
        mark = ("*" if result.best is not None and c is result.best else "") + ("~" if tied[c.arch.id] else "")
        rows.append((mark, f"{c.accuracy[top] * 100:.2f}", _seeds_cell(list(c.samples[top].values())),
                     f"{c.latency_ms:.3f}", _bar(table.error_bar(c.arch, foreign)), sources, f"{cost.macs / 1e6:.1f}",
                     f"{cost.params / 1e6:.2f}M", c.arch.id, str(c.arch)))
    print_table(rows)
    if config.accuracy == "tabular":
        kinds = Counter(point.get("accuracy_kind", "looked up") for point in summary["front"])
        print("front accuracies: " + ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items())))
    print("* the finalist" + ("; ~ kept although a faster point is more accurate: the difference is within the seed "
                              f"noise ({summary['tie_rule']})" if any(tied.values()) else ""))
    best, base = result.best, result.baseline
    if best is not None:
        seeds = [best.samples[top][seed] for seed in sorted(best.samples[top])]
        print(f"best under budget: {_mean_with_seeds(seeds)} at {best.latency_ms:.3f} ms ({best.arch.id})")
    if base is not None:
        print(f"best baseline under budget: {base['name']} {_mean_with_seeds(base['accuracies'])} at "
              f"{base['latency_ms']:.3f} ms, same fidelity")
        if best is not None:
            from nas.search.pareto import compare_to_baseline

            c = compare_to_baseline(list(best.samples[top].values()), base["accuracies"], result.noise)
            print(f"searched vs baseline (means over seeds): {c['gap_pts']:+.2f} pts, {c['verdict']} "
                  f"(95 % seed band +-{c['band_pts']:.1f} pts); latency {best.latency_ms / base['latency_ms']:.2f}x "
                  f"the baseline's")
            if c["verdict"] == "within the seed noise":
                print(f"to settle it with 8 fresh seeds each on the test set: nas confirm {config.run_dir}")
    elif config.accuracy == "tabular":
        print("no baseline: the table holds only its own space's networks")
    else:
        print("no hand-designed baseline fits this budget")


def _seeds_cell(accuracies: list[float]) -> str:
    """Seeds and their spread: '2 +-0.6' (sd, points); one seed says so instead of showing no spread."""
    if len(accuracies) == 1:
        return "1 (no spread)"
    return f"{len(accuracies)} +-{statistics.stdev(accuracies) * 100:.1f}"


def _bar(value: float | None) -> str:
    """A table cell for an error bar: unknown where an extrapolated layer has no measured error."""
    return "?" if value is None else f"{value:.2f}" if value >= 0.1 or value == 0 else f"{value:.2g}"


def _mean_with_seeds(accuracies: Sequence[float]) -> str:
    """'34.65% (mean of 2 seeds: 35.50, 33.80)': every accuracy headline is a mean, with its seeds beside it."""
    if len(accuracies) == 1:
        return f"{accuracies[0] * 100:.2f}% (1 seed)"
    seeds = ", ".join(f"{a * 100:.2f}" for a in accuracies)
    return f"{sum(accuracies) / len(accuracies) * 100:.2f}% (mean of {len(accuracies)} seeds: {seeds})"


def cmd_export(args: argparse.Namespace) -> int:
    from nas.export import export_run

    if args.top is not None and args.top < 1:
        raise NasError(f"--top must be at least 1, got {args.top}")
    folders = export_run(args.run, pareto=args.pareto, top=args.top, trial=args.trial,
                         retrain_epochs=args.retrain_epochs, show_progress=True)
    for folder in folders:
        print(folder)
    from nas.export import export_summary
    from nas.search.run_folder import RunFolder

    print_table(export_summary(folders, RunFolder(args.run).config().device))
    return 0


def cmd_confirm(args: argparse.Namespace) -> int:
    from nas.search.confirm import format_summary, plan_confirmation, run_confirmation

    if args.workers is not None and args.workers < 1:
        raise NasError(f"--workers must be at least 1, got {args.workers}")
    plan = plan_confirmation(args.run, seeds=args.seeds, top=args.top, epochs=args.epochs, subset=args.subset)
    print(format_summary(run_confirmation(plan, workers=args.workers, threads=args.threads)))
    print(f"-> {plan.run.confirm_path}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from nas.report import write_report

    for path in write_report(args.run):
        print(path)
    return 0
