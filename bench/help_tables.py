"""Ship a latency table for each of HELP's 14 real device settings, at the per-layer ceiling of its networks.

For each device column of ``data/help_fbnet`` (GTX 1080 Ti, RTX 2080 Ti and Titan RTX at batch 1/32/64, two
Xeons, three phones), the 5,000 networks are split with a fixed seed: 2,500 fit every FBNet layer key its own
non-negative cost plus a per-network overhead (:mod:`nas.latency.whole_networks`), and the other 2,500, never used
in fitting, judge it (Spearman, MAPE, share within +-10 %, in ``meta.validation`` and
``latency_tables/reports/<name>_help.json``).

The table also covers the layers of every other space (Ghost, SE, Shuffle blocks, other widths and resolutions),
which no HELP network has. Those entries come from ``nas latency adapt``'s few-shot model
(:func:`nas.latency.adapt.adapt_table`: the shipped ``rpi4`` and ``pixel3`` tables plus work terms, fitted on 20 of
the fitting networks) and are labelled ``extrapolated``: their error is unknown, and an arch with one has no error
bar. That model's own held-out figures on the same 2,500 networks are reported beside the table's, as what
adapting from 20 networks achieves: the adaptation's quality, not the shipped table's.

HELP's networks have a 100-class head; the tables' networks have 10 classes (the spaces' head): the networks are
written with their 10-class arch, whose MACs differ by 0.15-0.35 %. Batch 32/64 tables predict the time of a whole
batch (``meta.batch``).

    python bench/help_tables.py            # writes latency_tables/<name>.json and its report

Writes into the shipped folder (its ``main`` sets ``NAS_TABLES`` to it for this process).
"""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path

import numpy as np

from nas.latency.adapt import adapt_table
from nas.latency.build import layers_for
from nas.latency.hwnasbench import OPS, fbnet_arch, read_layers
from nas.latency.table import TABLES_DIR, load_table
from nas.latency.whole_networks import fit_layer_costs
from nas.space import available_spaces
from nas.stats import error_report
from nas.vendored import HELP_FBNET, HW_NAS_BENCH

SOURCES = ("rpi4", "pixel3")
NETWORKS = 20
FIT = 2_500
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


def split(count: int) -> tuple[np.ndarray, np.ndarray]:
    """The fitting networks and the held-out ones: a fixed seed's permutation, first :data:`FIT` and the rest."""
    order = np.random.default_rng(SEED).permutation(count)
    return order[:FIT], order[FIT:]


def main() -> None:
    # this script maintains the shipped tables; set here, not on import: a bench that imports NAMES must keep its own
    os.environ["NAS_TABLES"] = str(TABLES_DIR)
    started = time.perf_counter()
    layers, _ = read_layers(HW_NAS_BENCH)
    with open(HELP_FBNET) as handle:
        rows = list(csv.DictReader(handle))
    archs = [fbnet_arch(layers, [OPS[int(i)] for i in row["op_idx_list"].split()], num_classes=10) for row in rows]
    sources = [load_table(name) for name in SOURCES]
    keys = layers_for(available_spaces(), True)
    keys.update({layer.key: layer for arch in archs for layer in arch.layers()})  # FBNet's grouped blocks too
    fit, held = split(len(rows))
    fbnet_keys = {key for i in fit for key in archs[i].keys()}
    summary = {}
    for column, (name, description) in NAMES.items():
        latency = np.array([float(row[f"{column}_ms"]) for row in rows])
        few = fit[:NETWORKS]  # the few-shot adaptation's networks, drawn from the fitting half
        adapted, model = adapt_table(name, [(archs[i], float(latency[i])) for i in few], sources, keys)
        few_shot = validation(adapted.compile().predict_many([archs[i] for i in held]), latency[held])
        costs, overhead = fit_layer_costs([archs[i] for i in fit], latency[fit])
        table = adapted
        for key, entry in table.entries.items():
            if key in fbnet_keys:
                entry.ms, entry.extra = costs[key], {}
            else:
                entry.extra["extrapolated"] = True
        table.meta.pop("measured_networks", None)
        table.meta["overhead_ms"] = overhead
        table.meta["calibration"] = {"scale": 1.0, "offset_ms": 0.0}
        checked = validation(table.compile().predict_many([archs[i] for i in held]), latency[held])
        for key, entry in table.entries.items():
            if key in fbnet_keys:
                entry.extra["heldout_mape_pct"] = checked["mape_pct"]
        batch = int(column.rsplit("_", 1)[1]) if column.endswith(("_1", "_32", "_64")) else 1
        table.meta.update({
            "device_description": description, "batch": batch,
            "spaces": sorted(space for space in available_spaces()
                             if all(key in table.entries for key in layers_for([space], False))),
            "source": "HELP (Lee et al., NeurIPS 2021): end-to-end FBNet latencies, data/help_fbnet (MIT)",
            "timing": f"FBNet layers: each key's cost fitted on {FIT} of HELP's whole-network measurements (seed "
                      f"{SEED}); other layers: extrapolated by the adaptation model fitted on {NETWORKS} of them; "
                      + ("latency of a batch of " + str(batch) if batch > 1 else "batch 1"),
            "fitted": {"networks": FIT, "seed": SEED, "column": f"{column}_ms"},
            "validation": {**checked, "on": f"the other {len(held)} HELP networks of this device"},
            "few_shot_adaptation": {**few_shot, "fitted_on": NETWORKS, "loo_mape_pct": model.loo_mape_pct},
            "extrapolated": "entries marked extrapolated are layers no HELP network has (HELP's networks cover one "
                            "space, FBNet): their error is unknown"})
        table.meta.get("adapted", {}).pop("heldout_mape_pct", None)
        path = table.save(TABLES_DIR / f"{name}.json")
        extrapolated = sum(1 for e in table.entries.values() if e.extra.get("extrapolated"))
        report = {"device": name, "description": description, "help_column": f"{column}_ms", "fitted_on": FIT,
                  "seed": SEED, "validation": table.meta["validation"], "few_shot_adaptation": few_shot,
                  "few_shot_sources": list(SOURCES), "entries": len(table.entries),
                  "extrapolated_entries": extrapolated}
        REPORTS.mkdir(parents=True, exist_ok=True)
        (REPORTS / f"{name}_help.json").write_text(json.dumps(report, indent=1) + "\n")
        summary[name] = {**checked, "few_shot_20": few_shot}
        print(f"{path.name:24} per-layer rho {checked['spearman']:.3f} MAPE {checked['mape_pct']:5.1f}% within10 "
              f"{checked['within_10pct']:5.1f}% | 20-network adaptation rho {few_shot['spearman']:.3f} MAPE "
              f"{few_shot['mape_pct']:5.1f}%, {extrapolated} extrapolated", flush=True)
    out = Path(__file__).resolve().parent / "results" / "help_tables.json"
    out.write_text(json.dumps({"bench": "help_tables", "date": time.strftime("%Y-%m-%d"), "fit": FIT,
                               "few_shot_networks": NETWORKS, "seed": SEED, "devices": summary,
                               "seconds": time.perf_counter() - started}, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
