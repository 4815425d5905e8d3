"""Ship latency tables for Accel-NASBench's devices, each fitted on 2,500 of its networks and judged on the rest.

For each device column of ``data/accel_nasbench`` (A100 and TPU v3 throughput, ZCU102 FPGA throughput and batch-1
latency), the networks are split with a fixed seed: 2,500 fit a per-layer table (every layer key its own
non-negative cost plus a per-network overhead, :mod:`nas.latency.whole_networks`), and the rest (about 1,600,
never used in fitting) judge it: Spearman, Kendall, MAPE, share within +-10 %, written into the table's
``meta.validation`` and ``latency_tables/reports/<name>_accel.json``. The additive per-layer model is the ceiling
of any per-layer table on these networks, so its held-out figures are also that ceiling.

Throughput becomes milliseconds per image, 1000 / throughput, at the batch the paper measured it at (the data do
not give the batch; the table's ``meta.batch`` says "throughput batch"); the ZCU102's latency column is batch 1.

    python bench/accel_tables.py      # writes latency_tables/{a100,tpuv3,zcu102,zcu102_tput}.json and reports

Writes into the shipped folder (it sets ``NAS_TABLES`` to it for this process). Writes bench/results/accel_tables.json.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from nas.latency.table import TABLES_DIR

os.environ["NAS_TABLES"] = str(TABLES_DIR)  # this script maintains the shipped tables

from nas.accuracy.accel_nasbench import load_rows, stage_choices_to_arch  # noqa: E402
from nas.latency.whole_networks import layer_table, validate  # noqa: E402
from nas.space import load_space  # noqa: E402

FIT = 2_500
SEED = 0
DEVICES = {  # table: (column, to ms, description, batch)
    "a100": ("throughput_a100", "NVIDIA A100, ms per image at the paper's throughput batch", "throughput batch"),
    "tpuv3": ("throughput_tpuv3", "Google Cloud TPU v3, ms per image at the paper's throughput batch",
              "throughput batch"),
    "zcu102": ("latency_zcu102", "Xilinx ZCU102 FPGA (Vitis AI DPU), batch-1 latency", 1),
    "zcu102_tput": ("throughput_zcu102", "Xilinx ZCU102 FPGA (Vitis AI DPU), ms per image at the paper's throughput "
                    "batch", "throughput batch"),
}
REPORTS = TABLES_DIR / "reports"


def main() -> None:
    started = time.perf_counter()
    rows = load_rows()
    archs = [stage_choices_to_arch(row.stages) for row in rows]
    layers = load_space("accel_nasbench").layers()
    order = np.random.default_rng(SEED).permutation(len(rows))
    summary = {}
    for name, (column, description, batch) in DEVICES.items():
        values = [row.values.get(column) for row in rows]
        ms = [None if v is None else (v if column.startswith("latency") else 1000.0 / v) for v in values]
        fit = [i for i in order[:FIT] if ms[i] is not None]
        held = [i for i in order[FIT:] if ms[i] is not None]
        table = layer_table(name, [archs[i] for i in fit], [ms[i] for i in fit], layers, {
            "device_description": description, "batch": batch, "spaces": ["accel_nasbench"],
            "source": "Accel-NASBench (Ahmad et al., DAC 2024): whole-network measurements, data/accel_nasbench "
                      "(Apache-2.0)",
            "fitted": {"column": column, "networks": len(fit), "seed": SEED}})
        checked = validate(table, [archs[i] for i in held], [ms[i] for i in held])
        table.meta["validation"]["on"] = f"{len(held)} Accel-NASBench networks not used in fitting"
        path = table.save(TABLES_DIR / f"{name}.json")
        REPORTS.mkdir(parents=True, exist_ok=True)
        (REPORTS / f"{name}_accel.json").write_text(json.dumps(
            {"device": name, "column": column, "fitted_on": len(fit), "held_out": len(held), "seed": SEED,
             "overhead_ms": table.meta["overhead_ms"], "validation": checked}, indent=1) + "\n")
        summary[name] = {**checked, "fitted_on": len(fit)}
        print(f"{path.name:18} fitted on {len(fit)}, held out {len(held)}: rho {checked['spearman']:.3f}, MAPE "
              f"{checked['mape_pct']:.2f}%, within 10% {checked['within_10pct']:.1f}%", flush=True)
    out = Path(__file__).resolve().parent / "results" / "accel_tables.json"
    out.write_text(json.dumps({"bench": "accel_tables", "date": time.strftime("%Y-%m-%d"), "fit": FIT, "seed": SEED,
                               "targets": {"spearman": 0.97, "within_10pct": 95.0},
                               "devices": summary, "seconds": time.perf_counter() - started}, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
