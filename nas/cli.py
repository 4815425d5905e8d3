"""The ``nas`` command: parses arguments, calls the library, prints.

Every user error (:class:`~nas.errors.NasError`, bad arguments) becomes one line on stderr and exit
status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from nas.errors import NasError

Handler = Callable[[argparse.Namespace], int]


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line (the default prints the whole usage)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see '{self.prog} --help')\n")
        raise SystemExit(2)


def _fmt_count(value: int) -> str:
    return f"{value:,}" if value < 10**9 else f"{value:.3e}"


def cmd_spaces(args: argparse.Namespace) -> int:
    from nas.space import iter_spaces

    rows = [("space", "archs", "MMACs min-max", "params min-max", "layer keys", "description")]
    for space in iter_spaces():
        low, high = space.cost_range()
        rows.append((space.name, _fmt_count(space.size()), f"{low.macs / 1e6:.1f}-{high.macs / 1e6:.1f}",
                     f"{low.params / 1e6:.2f}M-{high.params / 1e6:.2f}M", str(len(space.layers())),
                     space.description))
    _print_table(rows)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from nas.cost import arch_cost, layer_cost
    from nas.space import resolve_arch

    arch = resolve_arch(args.arch)
    print(f"arch  {arch}")
    print(f"id    {arch.id}   resolution {arch.resolution}   width {arch.width:g}   classes {arch.num_classes}")
    rows = [("#", "layer", "in", "out", "MMACs", "params")]
    for i, layer in enumerate(arch.layers()):
        cost = layer_cost(layer)
        name = layer.key.split("|")[0]
        detail = f"k{layer.kernel} s{layer.stride}" + (f" mid{layer.mid}" if layer.mid else "")
        if layer.se:
            detail += f" se{layer.se}"
        if layer.kind == "head":
            detail = f"fc{layer.hidden} -> {layer.classes}" if layer.hidden else f"-> {layer.classes}"
        out = f"{layer.cout}x{layer.hw_out}x{layer.hw_out}" if layer.kind != "head" else f"{layer.classes}"
        rows.append((str(i), f"{name} {detail}", f"{layer.cin}x{layer.hw}x{layer.hw}", out,
                     f"{cost.macs / 1e6:.3f}", f"{cost.params:,}"))
    total = arch_cost(arch)
    rows.append(("", "total", "", "", f"{total.macs / 1e6:.3f}", f"{total.params:,}"))
    _print_table(rows)
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from nas.cost import arch_cost
    from nas.space import load_space

    if args.n < 1:
        raise NasError(f"--n must be at least 1, got {args.n}")
    if args.seed < 0:
        raise NasError(f"--seed must be >= 0, got {args.seed}")
    space = load_space(args.space)
    for arch in space.sample_random(args.n, args.seed):
        cost = arch_cost(arch)
        print(f"{arch.id}  {cost.macs / 1e6:8.2f} MMACs  {cost.params / 1e6:6.3f} M params  {arch}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from nas.arch import arch_to_yaml
    from nas.data import load_cifar10
    from nas.fileio import atomic_write_text
    from nas.space import resolve_arch
    from nas.train import Fidelity, evaluate_test, recommended_recipe, save_weights, set_threads, train

    arch = resolve_arch(args.arch)
    for option in ("threads", "batch_size"):
        if getattr(args, option) is not None and getattr(args, option) < 1:
            raise NasError(f"--{option.replace('_', '-')} must be at least 1, got {getattr(args, option)}")
    if args.seed < 0:
        raise NasError(f"--seed must be >= 0, got {args.seed}")
    data = load_cifar10(args.data, download=not args.no_download)
    subset = args.subset or None
    images = args.epochs * min(subset or len(data.train_y), max(len(data.train_y) - args.val_size, 0))
    batch_size, lr = recommended_recipe(images)
    fidelity = Fidelity(epochs=args.epochs, subset=subset, batch_size=args.batch_size or batch_size,
                        resolution=args.resolution, lr=args.lr if args.lr is not None else lr, val_size=args.val_size)
    set_threads(args.threads)
    result, model = train(arch, data, fidelity, seed=args.seed, progress=True)
    if result.diverged:
        raise NasError(f"training diverged ({result.diverged}); nothing written: lower --lr (the rule for "
                       f"{images:,.0f} images is {lr:g} at batch {batch_size}, see 'nas train --help')")
    if args.test:
        result.test_accuracy = evaluate_test(model, data, fidelity.resolution or arch.resolution)
    out = Path(args.out or f"runs/train_{arch.id}_{fidelity.label()}_s{args.seed}")
    out.mkdir(parents=True, exist_ok=True)
    save_weights(model, out / "weights.pt")
    atomic_write_text(out / "arch.yaml", arch_to_yaml(arch))
    metrics = {**result.to_json(), "data": data.source}
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=1) + "\n")
    test = f", test {result.test_accuracy * 100:.2f}%" if result.test_accuracy is not None else ""
    print(f"val {result.accuracy * 100:.2f}%{test} at {fidelity.label()} in {result.seconds:.0f}s "
          f"({result.images_per_second:.0f} img/s); wrote {out}")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from nas.search.config import SearchConfig
    from nas.search.run import run_search
    from nas.train import set_threads

    resume = False
    if args.resume:
        from pathlib import Path

        run = Path(args.resume) if "/" in args.resume else Path(args.runs_dir or "runs") / args.resume
        if not (run / "config.yaml").is_file():
            raise NasError(f"no run to resume at {run} (no config.yaml there)")
        config = SearchConfig.load_run(run)
        resume = True
    elif args.config:
        config = SearchConfig.load(args.config)
        config.name = args.name  # a rerun gets its own name (default: a fresh time stamp)
    else:
        config = SearchConfig()
    options = {name: getattr(args, name, None) for name in SearchConfig.option_names()}
    for note in config.override(options, resume):
        print(note, file=sys.stderr)
    if (config.backend == "ray" or config.accuracy == "tabular") and args.screen is None and not resume \
            and not args.config:
        config.screen = "none"  # Ray Tune screens by rung-0 training (ASHA); a tabular run looks up in seconds
    set_threads(config.threads)
    result = run_search(config, resume=resume)
    _print_result(result)
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
    rows = [("acc % (mean)", "seeds", "latency ms", "+-ms", "sources", "MMACs", "params", "id", "arch")]
    from nas.cost import arch_cost
    from nas.latency.table import load_table

    table = load_table(config.device)
    from nas.latency.host import is_foreign

    foreign = is_foreign(table)
    for c in result.front:
        cost = arch_cost(c.arch)
        sources = " ".join(f"{origin[:4]} {share * 100:.0f}%" for origin, share in sorted(table.breakdown(c.arch).items()))
        rows.append((f"{c.accuracy[top] * 100:.2f}", str(len(c.samples[top])), f"{c.latency_ms:.3f}",
                     _bar(table.error_bar(c.arch, foreign)), sources, f"{cost.macs / 1e6:.1f}", f"{cost.params / 1e6:.2f}M",
                     c.arch.id, str(c.arch)))
    _print_table(rows)
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


def _bar(value: float | None) -> str:
    """A table cell for an error bar: unknown where an extrapolated layer has no measured error."""
    return "?" if value is None else f"{value:.2f}"


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
    for folder in export_run(args.run, pareto=args.pareto, top=args.top, trial=args.trial,
                             retrain_epochs=args.retrain_epochs, show_progress=True):
        print(folder)
    return 0


def cmd_confirm(args: argparse.Namespace) -> int:
    from nas.search.confirm import format_summary, plan_confirmation, run_confirmation

    if args.workers is not None and args.workers < 1:
        raise NasError(f"--workers must be at least 1, got {args.workers}")
    plan = plan_confirmation(args.run, seeds=args.seeds, top=args.top, epochs=args.epochs, subset=args.subset)
    print(format_summary(run_confirmation(plan, workers=args.workers, threads=args.threads)))
    print(f"-> {plan.run / 'confirm.json'}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from nas.report import write_report

    for path in write_report(args.run):
        print(path)
    return 0


def _spaces_arg(values: list[str] | None) -> list[str]:
    from nas.space import available_spaces, load_space

    names = values or available_spaces()
    for name in names:
        load_space(name)  # fail early, with the list of spaces, on a typo
    return names


def cmd_latency_build(args: argparse.Namespace) -> int:
    from nas.latency.build import build_table
    from nas.latency.measure import Runtime

    if args.threads < 1 or not args.target_seconds > 0:
        raise NasError(f"--threads must be at least 1 and --target-seconds > 0, got {args.threads} and "
                       f"{args.target_seconds}")
    table = build_table(args.device, _spaces_arg(args.space), Runtime(args.runtime, args.threads),
                        baselines=not args.no_baselines, target_s=args.target_seconds, passes=args.passes)
    measured = sum(e.origin == "measured" for e in table.entries.values())
    print(f"{table.path}: {len(table.entries)} entries ({measured} measured); spaces {', '.join(table.meta['spaces'])}")
    return 0


def _print_calibration(calibration: dict, archs: int) -> None:
    errors = calibration.get("relative_se_by_kind", {})
    kinds = ", ".join(f"{k} x{v:.3f}" + (f" (+-{errors[k] * 100:.0f}%)" if k in errors else "")
                      for k, v in calibration["scale_by_kind"].items())
    weight = f"; weights {calibration['ms_per_weight_mb']:.4f} ms/MB" if "ms_per_weight_mb" in calibration else ""
    print(f"calibration fitted on {archs} archs: {kinds}; others x{calibration['scale']:.3f}{weight}; "
          f"offset {calibration['offset_ms']:+.4f} ms")
    loose = sorted(k for k, e in errors.items() if e > 0.25)
    if loose:
        print(f"  poorly determined (standard error > 25 %): {', '.join(loose)}: nearly the same in every arch, so "
              "they trade off against the offset; read them with it, not as costs (docs/DESIGN_NOTES.md, 'Calibration')")


def cmd_latency_calibrate(args: argparse.Namespace) -> int:
    """Fit a table's calibration on end-to-end measurements kept in validation CSVs, with no timing.

    Why: re-fitting after a table changes (or trying a calibration model) should not cost an hour of
    re-measuring archs that are already measured; and a calibration written into a shipped table must
    come from a command, so that anyone can reproduce it. ``--judge`` re-predicts other stored
    measurements with the new calibration (held out: they may share no arch with the fit).
    """
    from nas.latency.table import load_table
    from nas.latency.validate import apply_calibration, fit_calibration, report, repredicted, samples_from_reports
    from nas.space import iter_spaces

    table = load_table(args.device)
    fit = samples_from_reports(table, args.fit_from)
    judged = [(path, samples_from_reports(table, [path])) for path in args.judge or []]
    used = {str(s.arch) for s in fit}
    for path, samples in judged:
        shared = sum(str(s.arch) in used for s in samples)
        if shared:
            raise NasError(f"{path}: {shared} of its archs are also in --fit-from; judge on measurements the fit "
                           "did not see (e.g. the validation CSVs of another --seed)")
    calibration = fit_calibration(table, fit)
    spaces = sorted(space.name for space in iter_spaces() if any(space.contains(s.arch) for s in fit))
    source = "measurements in " + ", ".join(args.fit_from)
    apply_calibration(table, calibration, fit, spaces, source, save=not args.dry_run)
    _print_calibration(calibration, len(fit))
    print(f"{'not written (--dry-run)' if args.dry_run else f'written to {table.path}'}; spaces {', '.join(spaces)}")
    if judged:
        rows = [("judged on", "n", "within 5%", "within 10%", "MAPE %", "RMSE ms", "Kendall tau")]
        for path, samples in judged:
            metrics = report(repredicted(table, samples))
            rows.append((str(path), str(metrics["n"]), f"{metrics['within_5pct']:.1f}", f"{metrics['within_10pct']:.1f}",
                         f"{metrics['mape_pct']:.2f}", f"{metrics['rmse_ms']:.4f}", f"{metrics['kendall_tau']:.3f}"))
        _print_table(rows)
    return 0


def cmd_latency_validate(args: argparse.Namespace) -> int:
    from nas.latency.table import load_table
    from nas.latency.validate import (
        apply_calibration,
        fit_calibration,
        measure_archs,
        report,
        samples_from_reports,
        write_report,
    )
    from nas.space import load_space

    if args.samples < 2:
        raise NasError(f"--samples must be at least 2, got {args.samples}")
    if args.fit and args.fit_from:
        raise NasError("give --fit (measure new archs to fit on) or --fit-from CSV (reuse measurements), not both")
    table = load_table(args.device)
    spaces = _spaces_arg(args.space)
    fresh = {name: load_space(name).sample_random(args.samples, args.seed) for name in spaces}
    fit, source = None, None
    if args.fit:
        fit_archs = [a for name in spaces for a in load_space(name).sample_random(args.fit_samples, args.seed + 10_000)]
        fit, source = measure_archs(table, fit_archs, passes=args.passes), args.seed + 10_000
    elif args.fit_from:
        fit, source = samples_from_reports(table, args.fit_from), "measurements in " + ", ".join(args.fit_from)
        used = {str(s.arch) for s in fit}
        if any(str(a) in used for archs in fresh.values() for a in archs):
            raise NasError(f"--seed {args.seed} draws archs that are in the --fit-from files: pick another --seed "
                           "so the fit is judged on fresh archs")
    if fit is not None:
        calibration = fit_calibration(table, fit)
        apply_calibration(table, calibration, fit, spaces, source)
        _print_calibration(calibration, len(fit))
    rows = [("space", "n", "within 5%", "within 10%", "MAPE %", "RMSE ms", "Kendall tau", "repeat within 5%", "report")]
    for name, archs in fresh.items():
        samples = measure_archs(table, archs, passes=args.passes)
        metrics = report(samples)
        paths = write_report(table, name, samples, {"space": name, "seed": args.seed, "passes": args.passes})
        repeat = f"{metrics['repeat_within_5pct']:.1f}" if "repeat_within_5pct" in metrics else "-"
        rows.append((name, str(metrics["n"]), f"{metrics['within_5pct']:.1f}", f"{metrics['within_10pct']:.1f}",
                     f"{metrics['mape_pct']:.2f}", f"{metrics['rmse_ms']:.4f}", f"{metrics['kendall_tau']:.3f}", repeat,
                     str(paths["json"])))
    _print_table(rows)
    return 0


def cmd_latency_predict(args: argparse.Namespace) -> int:
    from nas.latency.host import warn_if_foreign
    from nas.latency.table import load_table
    from nas.space import resolve_arch

    table = load_table(args.device)
    warn_if_foreign(table)
    arch = resolve_arch(args.arch)
    missing = table.missing(arch.keys())
    if missing:
        from nas.space import iter_spaces

        spaces = [space.name for space in iter_spaces() if space.contains(arch)]
        where = (table.fill_advice(spaces[0]) if spaces else
                 "this arch is in no search space, and tables are built a space at a time: write a space YAML in "
                 f"search_spaces/ that contains it, then {table.fill_advice('YOUR_SPACE')}")
        raise NasError(f"table {table.device!r} has no entry for {len(missing)} of this arch's layers, e.g. "
                       f"{missing[0]!r}; {where}")
    shares = ", ".join(f"{origin} {share * 100:.0f}%" for origin, share in sorted(table.breakdown(arch).items()))
    from nas.latency.host import is_foreign
    from nas.latency.table import error_text

    bar = error_text(table.error_bar(arch, is_foreign(table)))
    print(f"{table.predict(arch):.3f} ms {bar} on {table.device} ({shares})")
    return 0


def cmd_latency_bundle(args: argparse.Namespace) -> int:
    from pathlib import Path

    from nas.latency.build import layers_for
    from nas.latency.bundle import write_bundle

    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise NasError(f"--out {args.out} is a file: give a folder for the bundle")
    spaces = _spaces_arg(args.space)
    if args.networks < 0:
        raise NasError(f"--networks must be >= 0, got {args.networks}")
    from nas.space import load_space

    networks = [a for i, name in enumerate(spaces)
                for a in load_space(name).sample_random(-(-args.networks // len(spaces)), seed=2000 + i)][:args.networks]
    manifest = write_bundle(layers_for(spaces, not args.no_baselines), args.out, spaces, networks=networks)
    print(f"wrote {manifest.parent} ({manifest.parent / 'runner.py'}); on the device: python3 runner.py --out results.json")
    return 0


def cmd_latency_import(args: argparse.Namespace) -> int:
    from nas.latency.bundle import import_results

    table = import_results(args.results, args.device, args.bundle)
    print(f"{table.path}: {len(table.entries)} entries")
    return 0


def cmd_latency_import_hwnasbench(args: argparse.Namespace) -> int:
    from pathlib import Path

    from nas.latency.hwnasbench import DEVICES, import_table, merge_published
    from nas.latency.table import load_table, table_path
    from nas.vendored import HW_NAS_BENCH

    folder = Path(args.data) if args.data else HW_NAS_BENCH
    if not (folder / "fbnet_cifar100_block_latency_delta.csv").is_file():
        raise NasError(f"no HW-NAS-Bench FBNet files in {folder} (expected fbnet_cifar100_block_latency_delta.csv, "
                       "fbnet_cifar100_constants.json)")
    for device in args.device or sorted(DEVICES):
        if device not in DEVICES:
            raise NasError(f"HW-NAS-Bench has no device {device!r} here; allowed: {', '.join(sorted(DEVICES))}")
        table = import_table(folder, device)
        table.meta["spaces"] = ["mbv2 (width 1.0)"]
        kept = 0
        if table_path(device).is_file():  # never lose what a user measured on the device, or the predictions
            existing = load_table(device)
            kept = merge_published(existing, table)
            table = existing
        path = table.save(table_path(device))
        print(f"{path}: {sum(e.origin == 'imported' for e in table.entries.values())} imported entries"
              + (f"; kept {kept} measured/predicted entries already there (refresh predictions with "
                 f"nas latency transfer --from cpu_x86 --to {device})" if kept else ""))
    return 0


def cmd_latency_transfer(args: argparse.Namespace) -> int:
    import json

    from nas.fileio import atomic_write_text
    from nas.latency.build import layers_for
    from nas.latency.predict import transfer
    from nas.latency.table import load_table, user_reports_dir

    source, target = load_table(args.source), load_table(args.target)
    spaces = _spaces_arg(args.space)
    if args.measurements:
        from nas.latency.bundle import import_results

        target = import_results(args.measurements, args.target, args.bundle)
    try:
        report = transfer(source, target, layers_for(spaces, True), args.cache_mb)
    except ValueError as exc:
        raise NasError(str(exc)) from None
    target.meta["spaces"] = sorted(set(spaces))
    target.save()
    atomic_write_text(user_reports_dir() / f"transfer_{args.source}_to_{args.target}.json",
                      json.dumps(report, indent=1) + "\n")
    held = report["held_out_all"]
    print(f"{target.path}: {report['filled']} entries predicted from {args.source}; held out (leave-shape-out, "
          f"{held['n_keys']} keys): MAPE {held['mape_pct']:.1f}%, {held['within_10pct']:.0f}% within 10%, "
          f"Spearman {held['spearman_rho']:.3f} ({held['mape_if_shape_level_known_pct']:.1f}% if each held-out "
          f"shape's level were known)")
    for n, m in report["held_out_by_samples"].items():
        print(f"  from {n:>3} target keys: MAPE {m['mape_pct']:.1f}%, {m['within_10pct']:.0f}% within 10%, "
              f"Spearman {m['spearman_rho']:.3f}")
    ends = report["ends_factor"]
    if ends["anchors"]:
        print(f"  predicted stems and heads x{ends['factor']:.3f}: the level of the target's own "
              f"({', '.join(ends['anchors'])}: {ends['target_ms']:.3f} ms, the model says {ends['model_ms']:.3f} ms)")
    return 0


def cmd_latency_adapt(args: argparse.Namespace) -> int:
    """A device table from a few whole-network measurements, with the shipped tables as sources (nas.latency.adapt)."""
    from nas.latency.adapt import adapt_table, read_measurements
    from nas.latency.build import layers_for
    from nas.latency.table import available_devices, check_device_name, load_table, table_path

    check_device_name(args.device)
    if bool(args.measurements) == bool(args.host_networks):
        raise NasError("give --measurements FILE (networks timed on the device) or --host-networks N (time N sampled "
                       "networks on this host), one of the two")
    if args.measurements:
        measurements = read_measurements(args.measurements)
    else:
        measurements = _time_host_networks(args)
    names = args.source or [d for d in available_devices() if d != args.device]
    sources = []
    for name in names:
        table = load_table(name)
        if not args.source and "adapted" in table.meta:
            continue  # an adapted table is built from the others: a source of nothing new
        if args.source or not any(table.missing(a.keys()) for a, _ in measurements):
            sources.append(table)
    if not sources:
        raise NasError(f"no table covers every network in {args.measurements}; name sources with --from")
    path = table_path(args.device)
    if path.exists():
        existing = load_table(path)
        if any(e.origin != "adapted" for e in existing.entries.values()):
            raise NasError(f"table {args.device!r} holds measured, imported or predicted entries; adapt into another "
                           "--device name (an adapted table is replaced whole)")
    table, model = adapt_table(args.device, measurements, sources, layers_for(_spaces_arg(args.space), True))
    table.meta["spaces"] = sorted(_spaces_arg(args.space))
    path = table.save(path)
    print(f"{path}: {len(table.entries)} adapted entries from {model.fitted_on} networks and "
          f"{', '.join(s.device for s in sources)}; model {' + '.join(f'{w:.3g} {n}' for n, w in model.weights().items())}")
    print(f"held out (leave one network out): MAPE {model.loo_mape_pct:.1f}%, {model.loo_within_10pct:.0f}% within 10%; "
          "every entry carries this error, and the measured networks predict exactly their measurements")
    return 0


def _time_host_networks(args: argparse.Namespace) -> list:
    """N archs sampled over the spaces, timed end to end here; kept as a CSV beside the tables' reports."""
    import csv
    import io

    from nas.fileio import atomic_write_text
    from nas.latency.host import time_networks_here
    from nas.latency.table import user_reports_dir
    from nas.space import load_space

    if args.host_networks < 3:
        raise NasError(f"--host-networks must be at least 3 (about 10 gives a useful error), got {args.host_networks}")
    spaces = _spaces_arg(args.space)
    archs = [a for i, name in enumerate(spaces)
             for a in load_space(name).sample_random(-(-args.host_networks // len(spaces)), seed=1000 + i)]
    archs = archs[:args.host_networks]
    measured = list(zip(archs, time_networks_here(archs)))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["arch", "ms"])
    writer.writerows((str(a), f"{ms:.6f}") for a, ms in measured)
    path = user_reports_dir() / f"adapt_{args.device}_networks.csv"
    atomic_write_text(path, buffer.getvalue())
    print(f"timed {len(measured)} networks on this host -> {path}")
    return measured


def cmd_devices(args: argparse.Namespace) -> int:
    from nas.latency.table import available_devices, load_table, table_home, user_tables_dir

    rows = [("device", "table", "entries", "origins", "held-out error", "source or runtime", "threads", "processor",
             "calibration", "spaces")]
    for device in available_devices():
        table = load_table(device)
        origins: dict[str, int] = {}
        for entry in table.entries.values():
            origins[entry.origin] = origins.get(entry.origin, 0) + 1
        scale, offset = table.calibration
        meta = table.meta
        rows.append((device, table_home(device), str(len(table.entries)),
                     " ".join(f"{k}:{v}" for k, v in sorted(origins.items())), table.heldout_summary(),
                     str(meta.get("source", f"{meta.get('runtime')} {meta.get('runtime_version', '')}")).split(":")[0],
                     str(meta.get("threads")),
                     str(meta.get("processor", meta.get("device_description", ""))), f"x{scale:.3f} {offset:+.3f}ms",
                     ",".join(meta.get("spaces", []))))
    _print_table(rows)
    print(f"user tables (built, fitted, adapted or imported here; they shadow shipped ones): {user_tables_dir()}")
    return 0


def _print_table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="nas", description="Hardware-aware neural architecture search for small CNNs.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("spaces", help="list the search spaces with their sizes and cost ranges")
    p.set_defaults(handler=cmd_spaces)

    p = sub.add_parser("show", help="blocks, FLOPs and params of an arch")
    p.add_argument("arch", help="arch string, arch YAML file, or baseline name (e.g. mobilenet_v2_1.0)")
    p.set_defaults(handler=cmd_show)

    p = sub.add_parser("sample", help="draw random archs from a space")
    p.add_argument("--space", required=True, help="space name or YAML path")
    p.add_argument("--n", type=int, default=5, help="how many archs (default 5)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(handler=cmd_sample)

    p = sub.add_parser("train", help="train one arch on CIFAR-10 (the evaluator the search uses)")
    p.add_argument("arch", help="arch string, arch YAML file or baseline name")
    p.add_argument("--epochs", type=float, default=1.0, help="passes over the training subset (default 1)")
    p.add_argument("--subset", type=int, default=10_000, help="training images (class-balanced); 0 = all")
    p.add_argument("--batch-size", type=int, default=None,
                   help="default by run length, like the search's rungs: 32 up to 32,000 images seen (epochs x "
                        "subset), else 128")
    p.add_argument("--lr", type=float, default=None,
                   help="peak learning rate; default by run length: 0.03 up to 32,000 images seen, else 0.1 "
                        "(short runs diverge at long-run rates; a diverged run stops and says so)")
    p.add_argument("--resolution", type=int, default=None, help="override the arch's input resolution")
    p.add_argument("--val-size", type=int, default=2_000, help="validation images held out of the training set")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights, data order and augmentation (default 0)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    p.add_argument("--data", default=None, help="CIFAR-10 folder or archive (default: $NAS_DATA, then the cache); "
                                               "'synthetic' for the test set")
    p.add_argument("--no-download", action="store_true", help="never try to download CIFAR-10")
    p.add_argument("--test", action="store_true", help="also report accuracy on the official test set")
    p.add_argument("--out", default=None, help="output folder (default runs/train_<id>_<fidelity>_s<seed>)")
    p.set_defaults(handler=cmd_train)

    p = sub.add_parser("search", help="budget-constrained search: most accurate archs under a latency budget")
    p.add_argument("--space", default=None, help="search space (default ghost_mbv2)")
    p.add_argument("--device", default=None, help="latency table to budget against (default rpi4)")
    p.add_argument("--budget", default=None, help="latency budget with unit, e.g. 30ms, 0.03s (default 30ms)")
    p.add_argument("--trials", type=int, default=None, help="feasible candidates trained at rung 0 (default 16)")
    p.add_argument("--sampler", default=None, help="nsga2 (default), tpe, random")
    p.add_argument("--seed", type=int, default=None, help="seed of the sampler and of every training; "
                   "the same seed and config give the same run (default 0)")
    p.add_argument("--backend", default=None, help="optuna (default) or ray")
    p.add_argument("--workers", type=int, default=None,
                   help="trainings side by side: worker processes (optuna) or parallel Ray trials (default 2)")
    p.add_argument("--address", default=None, help="existing Ray cluster address (ray backend)")
    p.add_argument("--storage", default=None, help="Optuna storage URL (default: SQLite in the run folder)")
    p.add_argument("--name", default=None, help="run name (default: space_device_budget_sampler_time)")
    p.add_argument("--runs-dir", default=None, help="where runs live (default runs/)")
    p.add_argument("--data", default=None, help="CIFAR-10 location (default $NAS_DATA, then the cache)")
    p.add_argument("--eta", type=int, default=None, help="successive-halving reduction factor (default 4)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads per training (default: the cores shared out over the workers)")
    p.add_argument("--accuracy", default=None, choices=("train", "tabular"),
                   help="train (default): short CIFAR-10 trainings; tabular: look up the space's published trained "
                        "accuracies instead (space nas_bench_macro): benchmarks a search algorithm in seconds")
    p.add_argument("--screen", default=None,
                   help="cheap estimator that scores candidates before any training; only the best --trials of "
                        "them are trained: naswot (default), macs, params, synflow, grad_norm, snip, jacov, or none "
                        "(train every sampled candidate, the Ray backend's way)")
    p.add_argument("--screen-factor", type=int, default=None,
                   help="candidates screened per trained one (default 4: 64 screened for 16 trained)")
    p.add_argument("--screen-weight", type=float, default=None,
                   help="weight of the screening score's percentile, beside the trained accuracy's, when promoting "
                        "to the next rung (0-1; default from bench/accuracy_fidelity.py)")
    p.add_argument("--config", default=None, help="rerun from a run's config.yaml")
    p.add_argument("--resume", default=None, help="continue the run of this name (or folder)")
    p.set_defaults(handler=cmd_search)

    p = sub.add_parser("export", help="export a run's archs (default: its Pareto front): ONNX, weights, arch.yaml, "
                                      "metrics.json")
    p.add_argument("run", help="run folder (runs/<name>)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--pareto", action="store_true", help="every arch on the front (default)")
    group.add_argument("--top", type=int, default=None, help="the K most accurate archs under the budget")
    group.add_argument("--trial", default=None, help="one arch by its id")
    p.add_argument("--retrain-epochs", type=float, default=None, help="retrain longer before exporting")
    p.set_defaults(handler=cmd_export)

    p = sub.add_parser("confirm", help="retrain a run's best arch and its baseline with fresh seeds: test-set gap "
                                       "with a 95 %% interval")
    p.add_argument("run", help="run folder (runs/<name>)")
    p.add_argument("--seeds", type=int, default=8, help="fresh seeds per arch (default 8; more seeds can be added later)")
    p.add_argument("--top", type=int, default=1, help="confirm the front's K most accurate archs (default 1)")
    p.add_argument("--epochs", type=float, default=None, help="train longer than the run's top rung")
    p.add_argument("--subset", type=int, default=None, help="train on more images than the run's top rung")
    p.add_argument("--workers", type=int, default=None, help="trainings at once (default: the run's)")
    p.add_argument("--threads", type=int, default=None, help="torch threads per training (default: cores shared out)")
    p.set_defaults(handler=cmd_confirm)

    p = sub.add_parser("report", help="pareto.png and a self-contained report.html for a run")
    p.add_argument("run", help="run folder (runs/<name>)")
    p.set_defaults(handler=cmd_report)

    p = sub.add_parser("devices", help="the latency tables and where their numbers come from")
    p.set_defaults(handler=cmd_devices)

    lat = sub.add_parser("latency", help="build, validate, bundle and import latency tables").add_subparsers(
        dest="latency_command", required=True, parser_class=_Parser)
    p = lat.add_parser("build", help="measure a space's layers on this host into latency_tables/DEVICE.json")
    p.add_argument("--device", required=True, help="table name, e.g. cpu_x86")
    p.add_argument("--space", action="append", help="space to cover (repeatable; default: every space)")
    p.add_argument("--runtime", default="ort-cpu", help="ort-cpu (default), ort-cuda, torch-cpu, torch-cuda")
    p.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1: the stable choice)")
    p.add_argument("--target-seconds", type=float, default=0.3, help="timing per layer (default 0.3)")
    p.add_argument("--no-baselines", action="store_true", help="do not add the baselines' layers")
    p.add_argument("--passes", type=int, default=2, choices=(1, 2),
                   help="2 (default): every key in two sweeps minutes apart, a third where they disagree by > 3 %%; "
                        "1: one sweep, about 40 %% of the timing, less steady on a shared machine "
                        "(docs/DESIGN_NOTES.md, 'Per-key stability')")
    p.set_defaults(handler=cmd_latency_build)

    p = lat.add_parser("validate", help="compare predictions with end-to-end measurement of random archs")
    p.add_argument("--device", required=True, help="a table measured on this host, e.g. cpu_x86")
    p.add_argument("--space", action="append", help="space (repeatable; default: every space)")
    p.add_argument("--samples", type=int, default=100, help="archs per space (default 100)")
    p.add_argument("--seed", type=int, default=0, help="seed of the archs drawn for checking (default 0; "
                   "--fit draws its own with seed + 10000)")
    p.add_argument("--passes", type=int, default=1, help="measure each arch this many times (median)")
    p.add_argument("--fit", action="store_true", help="first fit the calibration on other random archs")
    p.add_argument("--fit-samples", type=int, default=30, help="archs per space for --fit (default 30)")
    p.add_argument("--fit-from", nargs="+", metavar="CSV", help="first fit the calibration on end-to-end "
                   "measurements kept in earlier validation CSVs (no re-measuring); then validate on --seed")
    p.set_defaults(handler=cmd_latency_validate)

    p = lat.add_parser("calibrate", help="fit a table's calibration on stored end-to-end measurements (no timing)")
    p.add_argument("--device", required=True, help="the table to calibrate, e.g. cpu_x86")
    p.add_argument("--fit-from", nargs="+", required=True, metavar="CSV",
                   help="validation CSVs written by 'nas latency validate' on this host (measured_ms column)")
    p.add_argument("--judge", nargs="+", metavar="CSV", help="other validation CSVs to re-predict with the new "
                   "calibration (held-out figures; nothing is re-measured and the CSVs are not rewritten)")
    p.add_argument("--dry-run", action="store_true", help="print the fit and the judged figures, leave the table as is")
    p.set_defaults(handler=cmd_latency_calibrate)

    p = lat.add_parser("predict", help="predicted latency of one arch")
    p.add_argument("--device", required=True, help="latency table, e.g. rpi4 (nas devices lists them)")
    p.add_argument("arch", help="arch string, arch YAML file or baseline name")
    p.set_defaults(handler=cmd_latency_predict)

    p = lat.add_parser("bundle", help="ONNX files + a torch-free runner for measuring on another device")
    p.add_argument("--space", action="append", help="space (repeatable; default: every space)")
    p.add_argument("--out", required=True, help="folder to write")
    p.add_argument("--no-baselines", action="store_true", help="leave out the hand-designed baselines' layers")
    p.add_argument("--networks", type=int, default=10, help="whole networks sampled from the spaces that the runner "
                   "also times; on import they calibrate the table (default 10; 0: none)")
    p.set_defaults(handler=cmd_latency_bundle)

    p = lat.add_parser("import", help="turn a bundle runner's results into a table")
    p.add_argument("results", help="results.json written by runner.py")
    p.add_argument("--device", required=True, help="table to create or update")
    p.add_argument("--bundle", required=True, help="the bundle folder the results were measured from")
    p.set_defaults(handler=cmd_latency_import)

    p = lat.add_parser("import-hwnasbench", help="tables of the published Raspberry Pi 4 / Pixel 3 FBNet latencies")
    p.add_argument("--data", default=None, help="folder of the HW-NAS-Bench FBNet files (default: the copy in "
                                               "the repository's data/hw_nas_bench)")
    p.add_argument("--device", action="append", help="rpi4 and/or pixel3 (default both)")
    p.set_defaults(handler=cmd_latency_import_hwnasbench)

    p = lat.add_parser("adapt", help="a device table from ~10 whole-network measurements (CSV or JSON: arch, ms)")
    p.add_argument("--device", required=True, help="name of the table to write, e.g. myboard")
    p.add_argument("--measurements", default=None, help="CSV with columns arch,ms (or JSON [{arch, ms}]); arch is "
                                                         "an arch string or a baseline name")
    p.add_argument("--host-networks", type=int, default=None,
                   help="instead of a file: time N networks sampled from the spaces on this host (ONNX Runtime CPU, "
                        "1 thread, batch 1) and adapt to them; about 10 take a minute")
    p.add_argument("--from", dest="source", action="append", help="source table (repeatable; default: every table "
                                                                 "that covers all measured networks)")
    p.add_argument("--space", action="append", help="spaces the table covers (repeatable; default: every space)")
    p.set_defaults(handler=cmd_latency_adapt)

    p = lat.add_parser("transfer", help="predict a device's missing entries from a measured source table")
    p.add_argument("--from", dest="source", required=True, help="source table, e.g. cpu_x86")
    p.add_argument("--to", dest="target", required=True, help="target table with some measured/imported entries")
    p.add_argument("--space", action="append", help="spaces to cover (default: every space)")
    p.add_argument("--measurements", default=None, help="a bundle runner's results.json to import first")
    p.add_argument("--bundle", default=None, help="the bundle folder of --measurements")
    p.add_argument("--cache-mb", type=float, default=None,
                   help="the target's last-level cache in MB (default: the table's, else 1; a Pi 4 has 1)")
    p.set_defaults(handler=cmd_latency_transfer)
    return parser


def _exit_within(seconds: float, status: int) -> None:
    """Exit at the latest ``seconds`` from now: an interrupt can land while worker processes start or stop, and the
    interpreter's shutdown would then wait on their pipes for ever. Every finished training is already on disk."""
    import os
    import threading

    timer = threading.Timer(seconds, os._exit, (status,))
    timer.daemon = True
    timer.start()


def _terminate_like_interrupt() -> None:
    """SIGTERM ends the command like Ctrl-C: through the same cleanup (workers stopped, journals intact), one line."""
    import signal

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread (called as a library from a thread): leave the handler alone
        pass


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    console = logging.StreamHandler()
    console.setLevel(logging.INFO if args.verbose else logging.WARNING)
    console.setFormatter(logging.Formatter("%(message)s"))
    logging.getLogger().addHandler(console)
    if argv is None:  # the program, not a call from Python: SIGTERM is ours to handle
        _terminate_like_interrupt()
    handler: Handler = args.handler
    try:
        return handler(args)
    except NasError as exc:
        sys.stderr.write(f"nas: error: {exc}\n")
        return 2
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        sys.stderr.write("nas: interrupted (finished work is kept; a search resumes with --resume)\n")
        if argv is None:  # run as the program, not called from Python: nothing else lives in this process
            _exit_within(20.0, 130)
        return 130
    except OSError as exc:  # disk full, a read-only folder: the system's word, in one line
        where = f"{exc.filename}: " if exc.filename else ""
        sys.stderr.write(f"nas: error: {where}{exc.strerror or exc}; free space or pick a writable folder, "
                         "then run again (finished work is kept)\n")
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
