"""``nas latency bundle / import / import-hwnasbench / adapt / transfer``: tables for devices other than this host.

A board measures with the bundle's torch-free runner and its results are imported; a device nobody here has is
imported from published numbers, adapted from a few whole-network timings, or transferred from a measured table.
"""

from __future__ import annotations

import argparse

from nas.cli.common import bounded, spaces_arg
from nas.errors import NasError


def register(lat: argparse._SubParsersAction) -> None:
    """Tables for other devices: bundle + runner + import, published numbers, adaptation, transfer."""
    p = lat.add_parser("bundle", help="ONNX files + a torch-free runner for measuring on another device")
    p.add_argument("--space", action="append", help="space (repeatable; default: every space)")
    p.add_argument("--out", required=True, help="folder to write")
    p.add_argument("--no-baselines", action="store_true", help="leave out the hand-designed baselines' layers")
    p.add_argument("--networks", type=bounded(0, 1000), default=10, help="whole networks sampled from the spaces that the runner "
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
    p.add_argument("--host-networks", type=bounded(3, 500), default=None,
                   help="instead of a file: time N networks sampled from the spaces on this host (ONNX Runtime CPU, "
                        "1 thread, batch 1) and adapt to them; 100 take about 90 s and fit a weight per layer kind")
    p.add_argument("--from", dest="source", action="append", help="source table (repeatable; default: every table "
                                                                 "that holds 90 %% of the measured networks' layers)")
    p.add_argument("--space", action="append", help="spaces the table covers (repeatable; default: every space)")
    p.set_defaults(handler=cmd_latency_adapt)

    p = lat.add_parser("transfer", help="predict a device's missing entries from a measured source table")
    p.add_argument("--from", dest="source", required=True, help="source table, e.g. cpu_x86")
    p.add_argument("--to", dest="target", required=True, help="target table with some measured/imported entries")
    p.add_argument("--space", action="append", help="spaces to cover (default: every space)")
    p.add_argument("--measurements", default=None, help="a bundle runner's results.json to import first")
    p.add_argument("--bundle", default=None, help="the bundle folder of --measurements")
    p.add_argument("--cache-mb", type=bounded(0.01, 4096, float), default=None,
                   help="the target's last-level cache in MB (default: the table's, else 1; a Pi 4 has 1)")
    p.set_defaults(handler=cmd_latency_transfer)


def cmd_latency_bundle(args: argparse.Namespace) -> int:
    from pathlib import Path

    from nas.latency.build import layers_for
    from nas.latency.bundle import sample_networks, write_bundle

    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise NasError(f"--out {args.out} is a file: give a folder for the bundle")
    spaces = spaces_arg(args.space)
    if args.networks < 0:
        raise NasError(f"--networks must be >= 0, got {args.networks}")
    manifest = write_bundle(layers_for(spaces, not args.no_baselines), args.out, spaces,
                            networks=sample_networks(spaces, args.networks))
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
    from nas.latency.table import load_table, user_reports_dir
    from nas.latency.transfer_model import transfer

    source, target = load_table(args.source), load_table(args.target)
    spaces = spaces_arg(args.space)
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


SOURCE_COVERAGE = 0.9
"""A table is a source by default when it holds this share of the measured networks' distinct layers: a layer it
lacks (a 100-class head, a grouped block) counts as its work-term stand-in, labelled extrapolated
(:class:`nas.latency.layer_work.StandIn`)."""


def cmd_latency_adapt(args: argparse.Namespace) -> int:
    """A device table from a few whole-network measurements, with the shipped tables as sources (nas.latency.adapt)."""
    from nas.latency.adapt import adapt_table, read_measurements
    from nas.latency.build import layers_for
    from nas.latency.table import check_device_name, load_table, readable_tables, table_path, user_table_path

    check_device_name(args.device)
    if bool(args.measurements) == bool(args.host_networks):
        raise NasError("give --measurements FILE (networks timed on the device) or --host-networks N (time N sampled "
                       "networks on this host), one of the two")
    probe_ms = None
    if args.measurements:
        measurements = read_measurements(args.measurements)
    else:
        measurements, probe_ms = _time_host_networks(args)
    candidates = ({name: load_table(name) for name in args.source} if args.source
                  else readable_tables(skip=args.device))
    sources = []
    measured_keys = {k for a, _ in measurements for k in a.keys()}
    for table in candidates.values():
        if not args.source and "adapted" in table.meta and "fitted" not in table.meta:
            continue  # a table adapted from a few networks is built from the others: a source of nothing new
        if args.source or len(table.missing(measured_keys)) <= (1 - SOURCE_COVERAGE) * len(measured_keys):
            sources.append(table)
    if not sources:
        raise NasError(f"no table holds {SOURCE_COVERAGE:.0%} of the layers of the networks in {args.measurements}; "
                       "name sources with --from")
    existing_path = table_path(args.device)
    if existing_path.exists():
        existing = load_table(existing_path)
        if any(e.origin != "adapted" for e in existing.entries.values()):
            raise NasError(f"table {args.device!r} holds measured, imported or predicted entries; adapt into another "
                           "--device name (an adapted table is replaced whole)")
    table, model = adapt_table(args.device, measurements, sources, layers_for(spaces_arg(args.space), True))
    table.meta["spaces"] = sorted(spaces_arg(args.space))
    if probe_ms is not None:  # later host timings against this probe latency are in the table's units (0015)
        from nas.latency.measure import REFERENCE_LAYER

        table.meta["adapted"]["host_probe"] = {"layer": REFERENCE_LAYER, "ms": probe_ms}
    path = table.save(user_table_path(args.device))  # the user's folder, never the shipped one (decision 0010)
    print(f"{path}: {len(table.entries)} adapted entries from {model.fitted_on} networks and "
          f"{', '.join(s.device for s in sources)}; model {model.describe()}: "
          f"{' + '.join(f'{w:.3g} {n}' for n, w in model.weights().items() if w)}")
    print(f"held out (leave one network out): MAPE {model.loo_mape_pct:.1f}%, {model.loo_within_10pct:.0f}% within 10%; "
          "every entry carries this error, and the measured networks predict exactly their measurements")
    return 0


def _time_host_networks(args: argparse.Namespace) -> tuple[list, float]:
    """N archs sampled over the spaces, timed end to end here, and the probe latency they are in units of; kept as a
    CSV beside the tables' reports."""
    import csv
    import io

    from nas.fileio import atomic_write_text
    from nas.latency.host import HostTimer
    from nas.latency.table import user_reports_dir
    from nas.space import load_space

    if args.host_networks < 3:
        raise NasError(f"--host-networks must be at least 3 (about 100 fit this host per layer kind), got {args.host_networks}")
    spaces = spaces_arg(args.space)
    per_space = [load_space(name).sample_random(-(-args.host_networks // len(spaces)), seed=1000 + i)
                 for i, name in enumerate(spaces)]
    archs = [a for round_ in zip(*per_space) for a in round_][:args.host_networks]  # every space before any twice
    timer = HostTimer()
    measured = list(zip(archs, timer.time(archs)))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["arch", "ms"])
    writer.writerows((str(a), f"{ms:.6f}") for a, ms in measured)
    path = user_reports_dir() / f"adapt_{args.device}_networks.csv"
    atomic_write_text(path, buffer.getvalue())
    print(f"timed {len(measured)} networks on this host -> {path}")
    return measured, timer.reference_ms
