"""Latency-table figures: fidelity vs end-to-end measurement, stability, prediction speed.

* Fidelity: the validation reports written by ``nas latency validate`` (100 fresh random archs per
  space, end to end on this host, compared with the table's calibrated prediction). ``--measure``
  re-runs that validation first (about 3-4 minutes per space on 2 cores).
* Stability: re-measures ``--stability-keys`` random entries now, in the table's units, and counts how
  many land within +-5 % of the stored median (target: >= 95 %).
* Prediction speed: vectorised prediction of ``--archs`` random ghost_mbv2 archs, against building one
  torch model, in the same run (target >= 100,000 archs/s).

    python bench/latency_fidelity.py [--device cpu_x86] [--measure]

Writes bench/results/latency_fidelity.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from nas.latency.measure import Runtime
from nas.latency.table import load_table
from nas.latency.validate import REPORTS_DIR
from nas.model import build
from nas.space import available_spaces, load_space

RESULTS = Path(__file__).resolve().parent / "results"


def stability(device: str, count: int, seed: int) -> dict:
    from nas.latency.build import layers_for

    table = load_table(device)
    layers = layers_for(table.meta["spaces"], True)
    rng = np.random.default_rng(seed)
    keys = sorted(rng.choice(sorted(k for k in layers if k in table.entries), count, replace=False))
    timer = Runtime("ort-cpu", int(table.meta["threads"])).timer(table.meta["reference_ms"])
    ratios = []
    for key in keys:
        again = max(timer.time_layer(layers[key]).ms - table.overhead_ms, 0.0)
        ratios.append(again / table.entries[key].ms if table.entries[key].ms > 0 else 1.0)
    ratios = np.array(ratios)
    return {"keys": count, "within_5pct": float(np.mean(np.abs(ratios - 1) <= 0.05) * 100),
            "within_10pct": float(np.mean(np.abs(ratios - 1) <= 0.10) * 100),
            "median_abs_change_pct": float(np.median(np.abs(ratios - 1)) * 100),
            "median_signed_change_pct": float(np.median(ratios - 1) * 100),
            "within_5pct_after_removing_median_shift": float(np.mean(np.abs(ratios / np.median(ratios) - 1) <= 0.05) * 100)}


def prediction_speed(device: str, count: int) -> dict:
    table = load_table(device)
    space = load_space("ghost_mbv2")
    archs = space.sample_random(count, seed=7)
    compiled = table.compile()
    start = time.perf_counter()
    values = compiled.predict(archs)
    seconds = time.perf_counter() - start
    assert np.isfinite(values).all()
    start = time.perf_counter()
    for arch in archs[:5]:
        build(arch)
    build_s = (time.perf_counter() - start) / 5
    per_arch = seconds / count
    return {"archs": count, "archs_per_second": count / seconds, "build_one_model_s": build_s,
            "predictions_per_model_build": build_s / per_arch,
            "predicted_ms_percentiles": {str(p): float(np.percentile(values, p)) for p in (0, 5, 50, 95, 100)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu_x86")
    parser.add_argument("--measure", action="store_true", help="re-run nas latency validate first")
    parser.add_argument("--stability-keys", type=int, default=100)
    parser.add_argument("--archs", type=int, default=20_000)
    args = parser.parse_args()
    if args.measure:
        subprocess.run([sys.executable, "-m", "nas", "latency", "validate", "--device", args.device], check=True)
    fidelity = {}
    for space in available_spaces():
        path = REPORTS_DIR / f"{args.device}_{space}.json"
        if path.is_file():
            fidelity[space] = json.loads(path.read_text())["metrics"]
    speed = prediction_speed(args.device, args.archs)
    stable = stability(args.device, args.stability_keys, seed=1)
    table = load_table(args.device)
    result = {"bench": "latency_fidelity", "device": args.device, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "processor": table.meta.get("processor"), "runtime": f"{table.meta.get('runtime')} "
              f"{table.meta.get('runtime_version')} {table.meta.get('provider')}, {table.meta.get('threads')} thread(s)",
              "calibration": table.meta.get("calibration"), "fidelity": fidelity, "stability": stable,
              "prediction": speed}
    print(f"{'space':15} {'n':>4} {'<=5%':>6} {'<=10%':>6} {'MAPE':>6} {'tau':>6}")
    for space, m in fidelity.items():
        print(f"{space:15} {m['n']:4d} {m['within_5pct']:6.1f} {m['within_10pct']:6.1f} {m['mape_pct']:6.2f} "
              f"{m['kendall_tau']:6.3f}")
    print(f"stability: {stable['within_5pct']:.1f}% of {stable['keys']} re-measured keys within +-5% "
          f"(median change {stable['median_abs_change_pct']:.1f}%)")
    print(f"prediction: {speed['archs_per_second']:,.0f} archs/s vectorised; one model build = "
          f"{speed['predictions_per_model_build']:,.0f} predictions")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latency_fidelity.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
