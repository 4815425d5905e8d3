"""Adapting to a device from N whole-network measurements, judged on 14 real devices (HELP's FBNet latencies).

For each device of ``data/help_fbnet`` (3 GPUs at batch 1/32/64, 2 Xeons, 3 phones) and N = 5, 10, 20
and 50 networks (``--draws`` random draws each, seeded), ``nas.latency.adapt`` fits its model on the N
networks with the shipped ``rpi4`` and ``pixel3`` tables as sources (``cpu_x86`` lacks the FBNet space's
grouped blocks) and predicts the other networks: Spearman, MAPE and the share within +-10 %.

In the same run, on the same draws:

* ``macs``: a linear fit of latency on MACs (a, b >= 0);
* ``best_other_device``: the other HELP device whose latencies, rescaled by one factor fitted on the N
  networks, fit them best, used to predict the rest (the simple baseline);
* ``ceiling``: an additive per-(layer, op) least-squares fit on 2,500 networks, judged on the other
  2,500: what any per-block model can reach on that device.

Through the user's path (``cli``, N = 10, the same draws): the 10 networks are written to a CSV, ``nas latency adapt
--device X --measurements m.csv`` runs as a user would, with every shipped table but the device's own as a source
(``--from``: the GPUs, Xeons and phones of HELP, each fitted per layer on 2,500 networks, and rpi4, pixel3,
cpu_x86), and the table it writes predicts the other 4,990 networks as measured (CIFAR-100 heads, which no source
holds: extrapolated). ``cli_predicted_pct`` is the share of those networks the written table predicts at all.

Reference: HELP reports a 10-sample Spearman of 0.887 on the Raspberry Pi 4 (its Table 3, FBNet).

    python bench/adapt_fidelity.py [--draws 10]

Writes bench/results/adapt_fidelity.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np

from nas.latency.adapt import WORK_TERMS, feature_matrix, fit_adapted, work_terms
from nas.latency.hwnasbench import OPS, fbnet_arch, read_layers
from nas.latency.table import load_table
from nas.stats import nonnegative_least_squares, spearman_rho
from nas.vendored import HELP_FBNET, HW_NAS_BENCH

RESULTS = Path(__file__).resolve().parent / "results"
OUT = RESULTS / "adapt_fidelity.json"
SOURCES = ("rpi4", "pixel3")
SAMPLES = (5, 10, 20, 50)


def metrics(predicted: np.ndarray, measured: np.ndarray) -> dict[str, float]:
    error = np.abs(predicted - measured) / measured
    rho = spearman_rho(predicted, measured) if np.ptp(predicted) > 0 else 0.0  # a constant prediction ranks nothing
    return {"spearman": rho, "mape_pct": float(error.mean() * 100),
            "within_10pct": float((error <= 0.10).mean() * 100)}


def macs_fit(macs: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray) -> np.ndarray:
    design = np.column_stack([macs, np.ones(len(macs))])
    coef = nonnegative_least_squares(design[train] / y[train, None], np.ones(len(train)))
    return design[test] @ coef


def best_other_device(devices: dict[str, np.ndarray], target: str, train: np.ndarray, test: np.ndarray) -> np.ndarray:
    y = devices[target]
    best = None
    for name, other in devices.items():
        if name == target:
            continue
        scale = float(np.median(y[train] / other[train]))
        error = float(np.mean(np.abs(scale * other[train] - y[train]) / y[train]))
        if best is None or error < best[0]:
            best = (error, scale, name)
    assert best is not None
    return best[1] * devices[best[2]][test]


def through_the_cli(device: str, own_table: str, archs: list, y: np.ndarray, train: np.ndarray,
                    test: np.ndarray, folder: Path) -> tuple[dict[str, float], float]:
    """The adapted table as a user makes it (see the module docstring): its metrics on ``test``, and the share of
    ``test`` it could predict."""
    import contextlib
    import io

    from nas.cli import main as nas_main
    from nas.latency.table_home import TABLES_DIR, user_tables_dir

    assert user_tables_dir().resolve() != TABLES_DIR.resolve(), "the adapted tables must not land among the sources"

    path = folder / f"{device}.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["arch", "ms"])
        writer.writerows((str(archs[i]), f"{y[i]:.6f}") for i in train)
    sources = sorted(p.stem for p in TABLES_DIR.glob("*.json") if p.stem != own_table)
    argv = ["latency", "adapt", "--device", f"bench_{device}", "--measurements", str(path)]
    argv += [arg for name in sources for arg in ("--from", name)]
    user_table = folder / "tables" / f"bench_{device}.json"
    user_table.unlink(missing_ok=True)  # each draw adapts afresh
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
        code = nas_main(argv)
    if code != 0:
        raise RuntimeError(f"nas {' '.join(argv[:6])} ... exited {code}: {err.getvalue()}")
    table = load_table(f"bench_{device}")
    held = [i for i in test if not table.missing(archs[i].keys())]
    return metrics(table.compile().predict_many([archs[i] for i in held]), y[held]), 100 * len(held) / len(test)


def ceiling(onehot: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> dict[str, float]:
    order = rng.permutation(len(y))
    fit, judge = order[: len(y) // 2], order[len(y) // 2:]
    design = np.column_stack([onehot, np.ones(len(y))])
    coef, *_ = np.linalg.lstsq(design[fit], y[fit], rcond=None)
    return metrics(design[judge] @ coef, y[judge])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    started = time.perf_counter()
    layers, _ = read_layers(HW_NAS_BENCH)
    with open(HELP_FBNET) as handle:
        rows = list(csv.DictReader(handle))
    ops = [[OPS[int(i)] for i in row["op_idx_list"].split()] for row in rows]
    as_tables_see = [fbnet_arch(layers, o, num_classes=10) for o in ops]  # the shipped tables hold 10-class heads
    as_measured = [fbnet_arch(layers, o, num_classes=100) for o in ops]
    sources = [load_table(name) for name in SOURCES]
    x = feature_matrix(as_tables_see, sources)
    x[:, len(SOURCES):] = np.array([work_terms(a) for a in as_measured])  # work terms of the measured networks
    names = [*SOURCES, *WORK_TERMS]
    macs = x[:, len(SOURCES) + 1]
    onehot = np.zeros((len(rows), len(ops[0]) * len(OPS)))
    for i, o in enumerate(ops):
        for position, op in enumerate(o):
            onehot[i, position * len(OPS) + OPS.index(op)] = 1.0
    devices = {c[:-3]: np.array([float(r[c]) for r in rows]) for c in rows[0] if c.endswith("_ms")}
    rng = np.random.default_rng(args.seed)
    import os
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="nas-adapt-bench-"))
    os.environ["NAS_TABLES"] = str(folder / "tables")  # the adapted tables go here, never to the user's folder
    from help_tables import NAMES
    document: dict = {"bench": "adapt_fidelity", "date": time.strftime("%Y-%m-%d"), "sources": list(SOURCES),
                      "networks": len(rows), "draws": args.draws, "devices": {},
                      "reference": "HELP, 10 samples, Raspberry Pi 4 (FBNet): Spearman 0.887"}
    for device, y in devices.items():
        result: dict = {"ceiling": ceiling(onehot, y, rng), "by_samples": {}}
        for n in SAMPLES:
            per_arm: dict[str, list[dict[str, float]]] = {"adapted": [], "macs": [], "best_other_device": []}
            if n == 10:
                per_arm["cli"], covered = [], []
            chosen: dict[str, int] = {}
            for _ in range(args.draws):
                train = rng.choice(len(y), n, replace=False)
                test = np.setdiff1d(np.arange(len(y)), train)
                model = fit_adapted(x[train], y[train], names)
                key = "+".join(names[c] for c in model.columns)
                chosen[key] = chosen.get(key, 0) + 1
                per_arm["adapted"].append(metrics(model.ms_from_features(x[test]), y[test]))
                per_arm["macs"].append(metrics(macs_fit(macs, y, train, test), y[test]))
                per_arm["best_other_device"].append(metrics(best_other_device(devices, device, train, test), y[test]))
                if n == 10:
                    judged, share = through_the_cli(device, NAMES[device][0], as_measured, y, train, test, folder)
                    per_arm["cli"].append(judged)
                    covered.append(share)
            result["by_samples"][str(n)] = {
                arm: {k: float(np.median([m[k] for m in runs])) for k in runs[0]} for arm, runs in per_arm.items()}
            result["by_samples"][str(n)]["adapted_models_chosen"] = chosen
            if n == 10:
                result["by_samples"]["10"]["cli_predicted_pct"] = float(np.min(covered))
        document["devices"][device] = result
        ten = result["by_samples"]["10"]
        print(f"{device:16} N=10 cli rho {ten['cli']['spearman']:.3f} within10 {ten['cli']['within_10pct']:5.1f}% "
              f"({ten['cli_predicted_pct']:.0f}% predicted)"
              f" | adapted rho {ten['adapted']['spearman']:.3f} within10 {ten['adapted']['within_10pct']:5.1f}%"
              f" | other device rho {ten['best_other_device']['spearman']:.3f} {ten['best_other_device']['within_10pct']:5.1f}%"
              f" | macs rho {ten['macs']['spearman']:.3f} | ceiling rho {result['ceiling']['spearman']:.3f} "
              f"{result['ceiling']['within_10pct']:5.1f}%", flush=True)
    document["targets"] = {device: {
        "cli_spearman": r["by_samples"]["10"]["cli"]["spearman"],
        "best_other_device_spearman": r["by_samples"]["10"]["best_other_device"]["spearman"],
        "ceiling_spearman": r["ceiling"]["spearman"],
        "ahead_of_best_other_device": r["by_samples"]["10"]["cli"]["spearman"]
        > r["by_samples"]["10"]["best_other_device"]["spearman"],
        "predicted_pct": r["by_samples"]["10"]["cli_predicted_pct"]} for device, r in document["devices"].items()}
    document["seconds"] = time.perf_counter() - started
    OUT.write_text(json.dumps(document, indent=1) + "\n")
    print(f"wrote {OUT} in {document['seconds']:.0f}s")


if __name__ == "__main__":
    main()
