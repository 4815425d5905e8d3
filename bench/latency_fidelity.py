"""Latency-table figures: fidelity vs end-to-end measurement, stability, prediction speed.

* Fidelity: the validation reports written by ``nas latency validate`` (100 fresh random archs per
  space, end to end on this host, compared with the table's calibrated prediction). ``--measure``
  re-runs that validation first (about 3-4 minutes per space on 2 cores).
* Stability: two fresh processes re-measure the same ``--stability-keys`` random entries, in the
  table's units, as two rebuilds would (steady-state protocol of :mod:`nas.latency.ortbench`), once
  with the default two-sweep build and once with a one-sweep build (``nas latency build --passes 1``),
  interleaved in the same run; counts how many agree within +-5 % (target: >= 95 %), and also compares
  the one-sweep measurements with the stored entries (the shipped table is a one-sweep build).
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


def measure_keys(device: str, keys: list[str], target_s: float, passes: int) -> list[float]:
    """Per-layer ms of ``keys`` now, in the table's units: what ``nas latency build --passes P`` would store."""
    from nas.latency.build import layers_for, measure_into
    from nas.latency.table import LatencyTable

    stored = load_table(device)
    layers = {key: layer for key, layer in layers_for(stored.meta["spaces"], True).items() if key in keys}
    fresh = LatencyTable(dict(stored.meta), {}, None)
    timer = Runtime("ort-cpu", int(stored.meta["threads"])).timer(stored.meta["reference_ms"])
    measure_into(fresh, timer, layers, keys, target_s, passes)
    return [fresh.entries[key].ms for key in keys]


def _agreement(new: np.ndarray, old: np.ndarray) -> dict[str, float]:
    ratios = np.where(old > 0, new / np.maximum(old, 1e-12), 1.0)
    return {"within_5pct": float(np.mean(np.abs(ratios - 1) <= 0.05) * 100),
            "within_10pct": float(np.mean(np.abs(ratios - 1) <= 0.10) * 100),
            "median_abs_change_pct": float(np.median(np.abs(ratios - 1)) * 100),
            "median_signed_change_pct": float(np.median(ratios - 1) * 100),
            "within_5pct_after_removing_median_shift": float(np.mean(np.abs(ratios / np.median(ratios) - 1) <= 0.05) * 100)}


def stability(device: str, count: int, seed: int, target_s: float) -> dict:
    """Two fresh processes each re-measure the same random keys, as two rebuilds would.

    ``rebuild_vs_rebuild_two_sweeps`` is the issue's stability (two default rebuilds on this machine,
    now); ``rebuild_vs_rebuild`` the same with one sweep (``--passes 1``; the key name predates the
    two-sweep default and is kept so results stay comparable);
    ``rebuild_vs_table`` compares with the stored entries, measured when the table was built (the VM may
    have moved since: that drift is reported, not hidden).
    """
    from nas.latency.build import layers_for

    table = load_table(device)
    layers = layers_for(table.meta["spaces"], True)
    rng = np.random.default_rng(seed)
    keys = sorted(rng.choice(sorted(k for k in layers if k in table.entries), count, replace=False))
    rebuilds: dict[int, list[np.ndarray]] = {1: [], 2: []}
    for _ in range(2):  # interleaved, so that both protocols meet the same machine
        for sweeps in rebuilds:
            out = subprocess.run([sys.executable, __file__, "--device", device, "--measure-keys", ",".join(keys),
                                  "--target-seconds", str(target_s), "--passes", str(sweeps)],
                                 check=True, capture_output=True, text=True)
            rebuilds[sweeps].append(np.array(json.loads(out.stdout.strip().splitlines()[-1])))
    stored = np.array([table.entries[k].ms for k in keys])
    return {"keys": count, "target_seconds_per_key": target_s,
            "rebuild_vs_rebuild": _agreement(rebuilds[1][1], rebuilds[1][0]),
            "rebuild_vs_rebuild_two_sweeps": _agreement(rebuilds[2][1], rebuilds[2][0]),
            "rebuild_vs_table": _agreement(rebuilds[1][0], stored), "table_updated": table.meta.get("updated")}


def prediction_speed(device: str, count: int) -> dict:
    table = load_table(device)
    space = load_space("ghost_mbv2")
    archs = space.sample_random(count, seed=7)
    compiled = table.compile()
    start = time.perf_counter()
    values = compiled.predict_many(archs)
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
    parser.add_argument("--target-seconds", type=float, default=0.3, help="timing per key (the build's default: 0.3)")
    parser.add_argument("--measure-keys", help=argparse.SUPPRESS)  # internal: one stability pass in a fresh process
    parser.add_argument("--passes", type=int, default=1, help=argparse.SUPPRESS)  # with --measure-keys
    parser.add_argument("--skip-stability", action="store_true", help="only fidelity and prediction speed")
    args = parser.parse_args()
    if args.measure_keys:
        print(json.dumps(measure_keys(args.device, args.measure_keys.split(","), args.target_seconds, args.passes)))
        return
    if args.measure:
        subprocess.run([sys.executable, "-m", "nas", "latency", "validate", "--device", args.device], check=True)
    fidelity = {}
    for space in available_spaces():
        path = REPORTS_DIR / f"{args.device}_{space}.json"
        if path.is_file():
            fidelity[space] = json.loads(path.read_text())["metrics"]
    speed = prediction_speed(args.device, args.archs)
    stable = {} if args.skip_stability else stability(args.device, args.stability_keys, seed=1,
                                                       target_s=args.target_seconds)
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
    for name, key in (("rebuild vs rebuild, two-sweep build (default)", "rebuild_vs_rebuild_two_sweeps"),
                      ("rebuild vs rebuild, one-sweep build (--passes 1)", "rebuild_vs_rebuild"),
                      ("one-sweep rebuild vs stored table", "rebuild_vs_table")):
        if key not in stable:
            continue
        figures = stable[key]
        print(f"stability, {name}: {figures['within_5pct']:.1f}% of {stable['keys']} keys within +-5%, "
              f"{figures['within_10pct']:.1f}% within +-10% (median change {figures['median_abs_change_pct']:.1f}%, "
              f"shift {figures['median_signed_change_pct']:+.1f}%)")
    print(f"prediction: {speed['archs_per_second']:,.0f} archs/s vectorised; one model build = "
          f"{speed['predictions_per_model_build']:,.0f} predictions")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latency_fidelity.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
