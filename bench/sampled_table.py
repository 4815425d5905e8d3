"""Would a designed sample of measured keys, plus a predictor for the rest, do instead of measuring every key?

Measuring a sample of keys is the obvious shortcut when measuring every key is slow. This bench judges it
from data already on disk, with no timing (so it is not at the mercy of the machine's noise): the measured cpu_x86 table
plays the device, a designed sample of its keys plays the measurements, and the rest are predicted.

* Predictor: per block group (kind, SE, stride, residual), a non-negative linear model on the work
  terms of :func:`nas.latency.transfer_model.features` (dense and depthwise MACs, activation and weight
  megabytes, a constant), fitted on relative error: :class:`nas.latency.transfer_model.TransferModel`
  without the source-device term.
* Designed sample: in every group, keys evenly spaced over its range of MACs (at least 6 per group,
  one per model term and one more), with a seeded jitter; ``--draws`` samples per fraction.
* Judged twice: per key, held-out MAPE and % within +-5/10 % against the measured entries; end to end,
  the stored validation measurements (``latency_tables/reports/cpu_x86_<space>.csv``, 100 archs per
  space) predicted through the table with its predicted entries swapped in, beside the full table.

    python bench/sampled_table.py [--fractions 0.1 0.2 0.3 0.5] [--draws 5]

Writes bench/results/sampled_table.json.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np

from nas.arch import Layer
from nas.latency.build import layers_for
from nas.latency.table import Entry, LatencyTable, load_table
from nas.latency.transfer_model import ENDS, FEATURES, TransferModel, features
from nas.latency.validate import REPORTS_DIR, report, samples_from_reports
from nas.space import available_spaces

RESULTS = Path(__file__).resolve().parent / "results"
TERMS = [FEATURES.index(name) for name in ("dense_mmacs", "depthwise_mmacs", "activation_mb", "weight_mb", "per_block")]
MIN_PER_GROUP = 6


def block_group(layer: Layer) -> str:
    """Keys whose latency one linear model can describe: same op graph, different sizes."""
    residual = layer.stride == 1 and layer.cin == layer.cout
    return f"{layer.kind}{'_se' if layer.se else ''}|s{layer.stride}|{'res' if residual else 'nores'}|g{layer.groups}"


def designed_sample(groups: np.ndarray, work: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Indices: per group, keys evenly spaced (with jitter) over the group's sorted work."""
    chosen: list[int] = []
    for group in sorted(set(groups)):
        members = np.flatnonzero(groups == group)
        count = max(MIN_PER_GROUP, int(round(fraction * len(members))))
        if count >= len(members):
            chosen.extend(members)
            continue
        ordered = members[np.argsort(work[members], kind="stable")]
        positions = np.linspace(0, len(ordered) - 1, count) + (rng.random(count) - 0.5) * len(ordered) / count
        chosen.extend(ordered[np.clip(np.round(positions), 0, len(ordered) - 1).astype(int)])
    return np.unique(chosen)


def predict_rest(x: np.ndarray, y: np.ndarray, groups: np.ndarray, measured: np.ndarray) -> np.ndarray:
    """Predictions for every index not in ``measured``, from per-group models fitted on ``measured``."""
    rest = np.setdiff1d(np.arange(len(y)), measured)
    predicted = np.empty(len(rest))
    for group in set(groups[rest]):
        train = measured[groups[measured] == group]
        where = groups[rest] == group
        predicted[where] = TransferModel.fit(x[train], y[train]).ms_from_features(x[rest[where]])
    return predicted


def end_to_end(table: LatencyTable, spaces: list[str]) -> dict[str, dict[str, float]]:
    out = {}
    for space in spaces:
        path = REPORTS_DIR / f"cpu_x86_{space}.csv"
        if path.exists():
            metrics = report(samples_from_reports(table, [path]))
            out[space] = {k: metrics[k] for k in ("within_10pct", "within_5pct", "kendall_tau", "mape_pct")}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.1, 0.2, 0.3, 0.5])
    parser.add_argument("--draws", type=int, default=5)
    args = parser.parse_args()
    table = load_table("cpu_x86")
    spaces = available_spaces()
    layers = layers_for(spaces, True)
    keys = sorted(k for k in layers if k in table.entries and table.entries[k].origin == "measured"
                  and layers[k].kind not in ENDS)  # a handful each: always measured
    x = np.array([features(layers[k], 0.0)[TERMS] for k in keys])
    y = np.array([table.entries[k].ms for k in keys])
    groups = np.array([block_group(layers[k]) for k in keys])
    work = x[:, 0] + x[:, 1]
    full = end_to_end(table, spaces)
    rows = [{"fraction": 1.0, "measured_keys": len(keys), "end_to_end": full}]
    print(f"{len(keys)} block keys in {len(set(groups))} groups (stem and head keys always measured)")
    print(f"{'measured':>9} {'keys':>5} {'key MAPE %':>10} {'<=5%':>5} {'<=10%':>6}   end to end <=10 % / tau per space")
    print(f"{'all':>9} {len(keys):5d} {'':>10} {'':>5} {'':>6}   "
          + "  ".join(f"{s} {m['within_10pct']:.0f}/{m['kendall_tau']:.3f}" for s, m in full.items()))
    for fraction in args.fractions:
        rng = np.random.default_rng(0)
        draws = []
        for _ in range(args.draws):
            measured = designed_sample(groups, work, fraction, rng)
            rest = np.setdiff1d(np.arange(len(keys)), measured)
            predicted = predict_rest(x, y, groups, measured)
            error = np.abs(predicted / y[rest] - 1)
            sampled = copy.deepcopy(table)
            for index, value in zip(rest, predicted):
                sampled.entries[keys[index]] = Entry(float(value), 0.0, 0, "predicted", {})
            draws.append({"measured_keys": len(measured), "key_mape_pct": float(error.mean() * 100),
                          "key_within_5pct": float((error <= 0.05).mean() * 100),
                          "key_within_10pct": float((error <= 0.10).mean() * 100),
                          "end_to_end": end_to_end(sampled, spaces)})
        mean = {k: float(np.mean([d[k] for d in draws])) for k in ("measured_keys", "key_mape_pct", "key_within_5pct",
                                                                    "key_within_10pct")}
        e2e = {s: {m: float(np.mean([d["end_to_end"][s][m] for d in draws])) for m in full[s]} for s in full}
        rows.append({"fraction": fraction, **mean, "end_to_end": e2e, "draws": draws})
        print(f"{fraction:9.0%} {mean['measured_keys']:5.0f} {mean['key_mape_pct']:10.1f} {mean['key_within_5pct']:5.0f} "
              f"{mean['key_within_10pct']:6.0f}   "
              + "  ".join(f"{s} {m['within_10pct']:.0f}/{m['kendall_tau']:.3f}" for s, m in e2e.items()))
    RESULTS.mkdir(exist_ok=True)
    document = {"bench": "sampled_table", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "table": "cpu_x86", "table_updated": table.meta.get("updated"), "draws_per_fraction": args.draws,
                "predictor": "per block group non-negative linear model on MACs (dense, depthwise), activation MB, "
                             "weight MB, constant; relative error", "rows": rows}
    (RESULTS / "sampled_table.json").write_text(json.dumps(document, indent=1) + "\n")
    print("-> bench/results/sampled_table.json")


if __name__ == "__main__":
    main()
