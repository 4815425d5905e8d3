"""``nas devices`` and ``nas latency ...``: the latency tables, measured, imported, adapted, checked."""

from __future__ import annotations

import argparse

from nas.cli.boards import register as register_board_commands
from nas.cli.common import SEED_MAX, OneLineParser, bounded, print_table, spaces_arg
from nas.errors import NasError
from nas.latency.runtimes import RUNTIMES


def register(sub: argparse._SubParsersAction) -> None:
    """This group's commands and their options."""
    p = sub.add_parser("devices", help="the latency tables and where their numbers come from")
    p.add_argument("device", nargs="?", default=None, help="one table: every detail of it, a line each")
    p.add_argument("--long", action="store_true", help="every column (wide); the default fits 100 columns")
    p.set_defaults(handler=cmd_devices)

    lat = sub.add_parser("latency", help="build, validate, bundle and import latency tables").add_subparsers(
        dest="latency_command", required=True, parser_class=OneLineParser)
    _register_host_commands(lat)
    register_board_commands(lat)


def _register_host_commands(lat: argparse._SubParsersAction) -> None:
    """Tables measured on this host: build, validate, calibrate; and predict from any table."""
    p = lat.add_parser("build", help="measure a space's layers on this host into latency_tables/DEVICE.json")
    p.add_argument("--device", required=True, help="table name, e.g. cpu_x86")
    p.add_argument("--space", action="append", help="space to cover (repeatable; default: every space)")
    p.add_argument("--runtime", default="ort-cpu",
                   help=f"one of {', '.join(RUNTIMES)} (default ort-cpu: the steadiest on a CPU)")
    p.add_argument("--threads", type=bounded(1, 1024), default=1, help="intra-op threads (default 1: the stable choice)")
    p.add_argument("--target-seconds", type=bounded(0.001, 60, float), default=0.3, help="timing per layer (default 0.3)")
    p.add_argument("--no-baselines", action="store_true", help="do not add the baselines' layers")
    p.add_argument("--passes", type=bounded(1, 100), default=2, choices=(1, 2),
                   help="2 (default): every key in two sweeps minutes apart, a third where they disagree by > 3 %%; "
                        "1: one sweep, about 40 %% of the timing, less steady on a shared machine "
                        "(docs/decisions/0016)")
    p.set_defaults(handler=cmd_latency_build)

    p = lat.add_parser("validate", help="compare predictions with end-to-end measurement of random archs")
    p.add_argument("--device", required=True, help="a table measured on this host, e.g. cpu_x86")
    p.add_argument("--space", action="append", help="space (repeatable; default: every space)")
    p.add_argument("--samples", type=bounded(1, 100_000), default=100, help="archs per space (default 100)")
    p.add_argument("--seed", type=bounded(0, SEED_MAX), default=0, help="seed of the archs drawn for checking (default 0; "
                   "--fit draws its own with seed + 10000)")
    p.add_argument("--passes", type=bounded(1, 100), default=1, help="measure each arch this many times (median)")
    p.add_argument("--fit", action="store_true", help="first fit the calibration on other random archs")
    p.add_argument("--fit-samples", type=bounded(1, 10_000), default=30, help="archs per space for --fit (default 30)")
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


def cmd_devices(args: argparse.Namespace) -> int:
    from nas.latency.table import load_table, readable_tables, user_tables_dir

    if args.device:
        for label, value in _device_details(args.device, load_table(args.device)):
            print(f"{label + ':':<19} {value}")
        return 0
    rows = [("device", "table", "entries", "held-out error", "source or runtime")]
    long_rows = [("device", "table", "entries", "origins", "held-out error", "source or runtime", "threads", "processor",
                  "calibration", "spaces")]
    for device, table in readable_tables().items():
        details = dict(_device_details(device, table))
        error = details["held-out error"].replace(" within 10%", " <10%").replace(" nets held out", " held out")
        rows.append((device, details["table"], details["entries"], _short(error, 36),
                     _short(details["source or runtime"], 24)))
        long_rows.append((device, details["table"], details["entries"], details["origins"], details["held-out error"],
                          details["source or runtime"], details["threads"], details["processor"],
                          details["calibration"], details["spaces"]))
    print_table(long_rows if args.long else rows)
    if not args.long:
        print("details: nas devices NAME, or every column: nas devices --long")
    print(f"user tables (they shadow shipped ones): {user_tables_dir()}")
    return 0


def _device_details(device: str, table: object) -> list[tuple[str, str]]:
    """What ``nas devices`` shows of one table, label and text."""
    from nas.latency.table import table_home

    origins: dict[str, int] = {}
    for entry in table.entries.values():  # type: ignore[attr-defined]
        origins[entry.origin] = origins.get(entry.origin, 0) + 1
    scale, offset = table.calibration  # type: ignore[attr-defined]
    meta = table.meta  # type: ignore[attr-defined]
    return [("table", table_home(device)), ("entries", str(len(table.entries))),  # type: ignore[attr-defined]
            ("origins", " ".join(f"{k}:{v}" for k, v in sorted(origins.items()))),
            ("held-out error", table.heldout_summary()),  # type: ignore[attr-defined]
            ("source or runtime",
             str(meta.get("source", f"{meta.get('runtime')} {meta.get('runtime_version', '')}")).split(":")[0].strip()),
            ("threads", str(meta.get("threads"))),
            ("processor", str(meta.get("processor", meta.get("device_description", "")))),
            ("calibration", f"x{scale:.3f} {offset:+.3f}ms"), ("spaces", ",".join(meta.get("spaces", [])))]


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 3] + "..."


def cmd_latency_build(args: argparse.Namespace) -> int:
    from nas.latency.build import build_table
    from nas.latency.measure import Runtime

    if args.threads < 1 or not args.target_seconds > 0:
        raise NasError(f"--threads must be at least 1 and --target-seconds > 0, got {args.threads} and "
                       f"{args.target_seconds}")
    table = build_table(args.device, spaces_arg(args.space), Runtime(args.runtime, args.threads),
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
              "they trade off against the offset; read them with it, not as costs (docs/decisions/0017)")


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
        print_table(rows)
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
    spaces = spaces_arg(args.space)
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
    print_table(rows)
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
    from nas.latency.provenance import describe_prediction

    print(describe_prediction(table, arch))
    return 0
