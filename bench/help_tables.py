"""Ship a latency table for each of HELP's 14 real device settings, adapted from 20 of its networks.

For each device column of ``data/help_fbnet`` (GTX 1080 Ti, RTX 2080 Ti and Titan RTX at batch 1/32/64,
two Xeons, three phones), 20 networks drawn with a fixed seed are the measurements: ``nas latency adapt``'s
model (``nas.latency.adapt.adapt_table``) turns the shipped ``rpi4`` and ``pixel3`` tables plus work terms
into a per-layer table for the device. The other 4,980 networks judge it: Spearman, MAPE and the share
within +-10 %, written into the table's ``meta.validation`` and into ``latency_tables/reports/<name>_help.json``.

Labels:

* every entry is ``adapted`` and carries the model's leave-one-network-out error;
* an entry for a layer that none of the device's 5,000 networks has (Ghost, SE, Shuffle blocks, other
  widths and resolutions) is also ``extrapolated``: its error is unknown, and an arch with one has no
  error bar (``LatencyTable.error_bar`` returns None);
* the networks HELP timed have a 100-class head; the table's networks have 10 classes (the spaces' head):
  the 20 measured networks are recorded under their 10-class arch, whose MACs differ by 0.15-0.35 %.

Batch 32/64 tables predict the time of a whole batch (``meta.batch``).

    python bench/help_tables.py            # writes latency_tables/<name>.json and its report

Writes into the shipped folder (it sets ``NAS_TABLES`` to it for this process).
"""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path

import numpy as np

from nas.latency.table import TABLES_DIR

os.environ["NAS_TABLES"] = str(TABLES_DIR)  # this script maintains the shipped tables

from nas.latency.adapt import adapt_table  # noqa: E402
from nas.latency.build import layers_for  # noqa: E402
from nas.latency.hwnasbench import OPS, fbnet_arch, read_layers  # noqa: E402
from nas.latency.table import load_table  # noqa: E402
from nas.space import available_spaces  # noqa: E402
from nas.stats import error_report  # noqa: E402
from nas.vendored import HELP_FBNET, HW_NAS_BENCH  # noqa: E402

SOURCES = ("rpi4", "pixel3")
NETWORKS = 20
SEED = 0
NAMES = {
    "1080ti_1": ("gtx1080ti", "NVIDIA GTX 1080 Ti, batch 1"), "1080ti_32": ("gtx1080ti_b32", "NVIDIA GTX 1080 Ti, batch 32"),
    "1080ti_64": ("gtx1080ti_b64", "NVIDIA GTX 1080 Ti, batch 64"), "2080ti_1": ("rtx2080ti", "NVIDIA RTX 2080 Ti, batch 1"),
    "2080ti_32": ("rtx2080ti_b32", "NVIDIA RTX 2080 Ti, batch 32"),
    "2080ti_64": ("rtx2080ti_b64", "NVIDIA RTX 2080 Ti, batch 64"),
    "titan_rtx_1": ("titan_rtx", "NVIDIA Titan RTX, batch 1"), "titan_rtx_32": ("titan_rtx_b32", "NVIDIA Titan RTX, batch 32"),
    "titan_rtx_64": ("titan_rtx_b64", "NVIDIA Titan RTX, batch 64"),
    "silver_4114": ("xeon_silver_4114", "Intel Xeon Silver 4114"), "gold_6226": ("xeon_gold_6226", "Intel Xeon Gold 6226"),
    "samsung_a50": ("samsung_a50", "Samsung Galaxy A50 (phone)"), "pixel2": ("pixel2", "Google Pixel 2 (phone)"),
    "essential_ph_1": ("essential_ph1", "Essential PH-1 (phone)"),
}
REPORTS = TABLES_DIR / "reports"


def validation(predicted: np.ndarray, measured: np.ndarray) -> dict[str, float]:
    report = error_report(predicted, measured)
    return {"networks": report["n"], "spearman": round(report["spearman_rho"], 4),
            "mape_pct": round(report["mape_pct"], 2), "within_10pct": round(report["within_10pct"], 1)}


def main() -> None:
    started = time.perf_counter()
    layers, _ = read_layers(HW_NAS_BENCH)
    with open(HELP_FBNET) as handle:
        rows = list(csv.DictReader(handle))
    archs = [fbnet_arch(layers, [OPS[int(i)] for i in row["op_idx_list"].split()], num_classes=10) for row in rows]
    seen_keys = {key for arch in archs for key in arch.keys()}
    sources = [load_table(name) for name in SOURCES]
    keys = layers_for(available_spaces(), True)
    keys.update({layer.key: layer for arch in archs for layer in arch.layers()})  # FBNet's grouped blocks too
    summary = {}
    for column, (name, description) in NAMES.items():
        latency = np.array([float(row[f"{column}_ms"]) for row in rows])
        chosen = np.random.default_rng(SEED).choice(len(rows), NETWORKS, replace=False)
        rest = np.setdiff1d(np.arange(len(rows)), chosen)
        table, model = adapt_table(name, [(archs[i], float(latency[i])) for i in chosen], sources, keys)
        for key, entry in table.entries.items():
            if key not in seen_keys:
                entry.extra["extrapolated"] = True
        predicted = table.compile().predict([archs[i] for i in rest])
        checked = validation(predicted, latency[rest])
        batch = int(column.rsplit("_", 1)[1]) if column.endswith(("_1", "_32", "_64")) else 1
        table.meta.update({
            "device_description": description, "batch": batch, "spaces": sorted(available_spaces()),
            "source": "HELP (Lee et al., NeurIPS 2021): end-to-end FBNet latencies, data/help_fbnet (MIT)",
            "timing": f"adapted from {NETWORKS} of HELP's whole-network measurements (seed {SEED}); "
                      + ("latency of a batch of " + str(batch) if batch > 1 else "batch 1"),
            "validation": {**checked, "on": f"the other {len(rest)} HELP networks of this device"},
            "extrapolated": "entries marked extrapolated are layers no measured network of this device had (HELP's "
                            "networks cover one space, FBNet): their error is unknown"})
        path = table.save(TABLES_DIR / f"{name}.json")
        extrapolated = sum(1 for e in table.entries.values() if e.extra.get("extrapolated"))
        report = {"device": name, "description": description, "help_column": f"{column}_ms", "fitted_on": NETWORKS,
                  "seed": SEED, "sources": list(SOURCES), "model": model.weights(),
                  "heldout_loo_mape_pct": model.loo_mape_pct, "validation": table.meta["validation"],
                  "entries": len(table.entries), "extrapolated_entries": extrapolated}
        REPORTS.mkdir(parents=True, exist_ok=True)
        (REPORTS / f"{name}_help.json").write_text(json.dumps(report, indent=1) + "\n")
        summary[name] = checked
        print(f"{path.name:24} rho {checked['spearman']:.3f} MAPE {checked['mape_pct']:5.1f}% within10 "
              f"{checked['within_10pct']:5.1f}% (LOO on 20: {model.loo_mape_pct:.1f}%), {extrapolated} extrapolated",
              flush=True)
    out = Path(__file__).resolve().parent / "results" / "help_tables.json"
    out.write_text(json.dumps({"bench": "help_tables", "date": time.strftime("%Y-%m-%d"), "networks": NETWORKS,
                               "seed": SEED, "devices": summary, "seconds": time.perf_counter() - started},
                              indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
