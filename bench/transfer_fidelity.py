"""Few-shot transfer to the Raspberry Pi 4 and Pixel 3: held-out error, and how the budget binds.

For each device: the HW-NAS-Bench table (imported), then the transfer from the measured cpu_x86 table
(``nas latency transfer``), with leave-shape-out held-out MAPE, % within 10 % and Spearman rho from
10, 20, 50 and all target keys, and beside them the MAPE that would be left if each held-out shape's
overall level were known (an oracle rescaling per shape: the floor set by the scatter within shapes).
Then the predicted latency of 10,000 random ghost_mbv2 archs on the shipped table, to show that a
30 ms budget on the Pi 4 binds (histogram written to latency_tables/reports/rpi4_ghost_mbv2_distribution.png).

    python bench/transfer_fidelity.py [--data FOLDER]  (default: data/hw_nas_bench)

Writes bench/results/transfer_fidelity.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from nas.latency.build import layers_for
from nas.latency.hwnasbench import import_table
from nas.latency.table import load_table
from nas.latency.transfer_model import transfer
from nas.latency.validate import REPORTS_DIR
from nas.search.context import min_latency
from nas.space import available_spaces, load_space
from nas.vendored import HW_NAS_BENCH

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(HW_NAS_BENCH))
    args = parser.parse_args()
    source = load_table("cpu_x86")
    layers = layers_for(available_spaces(), True)
    document: dict = {"bench": "transfer_fidelity", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                      "source": "cpu_x86 (measured, ONNX Runtime CPU, 1 thread)", "devices": {}}
    print(f"{'device':7} {'train keys':>10} {'MAPE %':>7} {'<=10%':>6} {'Spearman':>8} {'MAPE % if level known':>22}")
    for device in ("rpi4", "pixel3"):
        report = transfer(source, import_table(Path(args.data), device), layers)
        document["devices"][device] = report
        for label, m in [*report["held_out_by_samples"].items(), ("all", report["held_out_all"])]:
            print(f"{device:7} {label:>10} {m['mape_pct']:7.1f} {m['within_10pct']:6.0f} {m['spearman_rho']:8.3f} "
                  f"{m['mape_if_shape_level_known_pct']:22.1f}")
    shipped = load_table("rpi4")
    space = load_space("ghost_mbv2")
    predicted = shipped.compile().predict_many(space.sample_random(10_000, seed=11))
    distribution = {"archs": 10_000, "fastest_in_space_ms": min_latency(space, shipped),
                    "percentiles_ms": {str(p): float(np.percentile(predicted, p)) for p in (0, 5, 25, 50, 75, 95, 100)},
                    "fraction_under_30ms": float((predicted <= 30).mean())}
    document["rpi4_ghost_mbv2"] = distribution
    print(f"rpi4 ghost_mbv2: fastest {distribution['fastest_in_space_ms']:.1f} ms, median "
          f"{distribution['percentiles_ms']['50']:.1f} ms, max of 10k {distribution['percentiles_ms']['100']:.1f} ms; "
          f"{distribution['fraction_under_30ms'] * 100:.0f}% under 30 ms")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=110)
    ax.hist(predicted, bins=60, color="#4c72b0")
    ax.axvline(30, color="k", ls="--", label="30 ms budget")
    ax.set_xlabel("predicted latency on rpi4 (ms)")
    ax.set_ylabel("archs (of 10,000 random ghost_mbv2)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(REPORTS_DIR / "rpi4_ghost_mbv2_distribution.png")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "transfer_fidelity.json").write_text(json.dumps(document, indent=1) + "\n")


if __name__ == "__main__":
    main()
