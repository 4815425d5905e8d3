"""The torch-free board flow end to end, with this host standing in for the board.

``nas latency bundle`` (a space's layers and ``--networks`` whole networks) -> ``runner.py`` -> ``nas latency
import`` into a fresh table, then ``--fresh`` archs the bundle never held are timed end to end here and compared
with the imported table's predictions: before the whole networks calibrate it (per-layer sum only) and after.

    python bench/board_flow.py [--space shufflenet_v2] [--networks 10] [--fresh 100]

Writes bench/results/board_flow.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
OUT = RESULTS / "board_flow.json"


def judge(predicted: np.ndarray, measured: np.ndarray) -> dict[str, float]:
    error = np.abs(predicted - measured) / measured
    return {"within_10pct": float((error <= 0.10).mean() * 100), "mape_pct": float(error.mean() * 100),
            "median_ratio_predicted_to_measured": float(np.median(predicted / measured))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="shufflenet_v2")
    parser.add_argument("--networks", type=int, default=10)
    parser.add_argument("--fresh", type=int, default=100)
    parser.add_argument("--target-seconds", type=float, default=0.3)
    args = parser.parse_args()
    import nas.latency.bundle as bundle_module
    from nas.latency.build import layers_for
    from nas.latency.bundle import import_results, write_bundle
    from nas.latency.host import time_networks_here
    from nas.space import load_space

    started = time.perf_counter()
    space = load_space(args.space)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        networks = space.sample_random(args.networks, seed=2000)
        write_bundle(layers_for([args.space], False), work / "bundle", [args.space], networks=networks)
        bundled = time.perf_counter()
        subprocess.run([sys.executable, str(work / "bundle" / "runner.py"), "--out", str(work / "results.json"),
                        "--target-seconds", str(args.target_seconds)], check=True)
        measured_on_board = time.perf_counter()
        bundle_module.table_path = lambda device: work / f"{device}.json"  # a scratch table, never the shipped ones
        results = json.loads((work / "results.json").read_text())
        uncalibrated = dict(results, networks={})
        (work / "layers_only.json").write_text(json.dumps(uncalibrated))
        before = import_results(work / "layers_only.json", "board_layers_only", work / "bundle")
        after = import_results(work / "results.json", "board", work / "bundle")
        fresh = [a for a in space.sample_random(args.fresh, seed=3000) if str(a) not in after.measured_networks]
        truth = np.array(time_networks_here(fresh))
        document = {
            "bench": "board_flow", "date": time.strftime("%Y-%m-%d"), "space": args.space, "networks": args.networks,
            "fresh_archs": len(fresh), "layers": len(results["results"]),
            "seconds": {"bundle": bundled - started, "runner": measured_on_board - bundled,
                        "total": time.perf_counter() - started},
            "layers_only": judge(before.compile().predict_many(fresh), truth),
            "calibrated_on_networks": judge(after.compile().predict_many(fresh), truth),
            "calibration": after.meta.get("calibration"),
        }
    OUT.write_text(json.dumps(document, indent=1) + "\n")
    print(json.dumps({k: document[k] for k in ("layers_only", "calibrated_on_networks", "seconds")}, indent=1))


if __name__ == "__main__":
    main()
