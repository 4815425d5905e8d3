"""Rebuild the whole shipped table with ``nas latency build``'s default and compare it with what is shipped.

The stability bench re-measures 100 keys; this one re-measures every key (1,172 on cpu_x86, about an
hour with two sweeps on a noisy 2-core VM), into a copy of the shipped table's metadata so the new
entries are in the same units (same probe ``reference_ms``, same overhead), and reports:

* per key, new vs shipped: % within +-5 / +-10 %, median |change|, median signed change, by layer kind;
* end to end, both tables calibrated the same way (fitted on the kept seed-1 measurements in
  ``latency_tables/reports/calibration_fit/``, judged on the stored seed-2 validation measurements):
  whether the rebuilt entries predict whole networks better or worse. The stored measurements were
  taken in the same hour as the shipped table, which favours it.

    python bench/rebuild_table.py [--device cpu_x86] [--out /tmp/rebuilt.json] [--passes 2]
    python bench/rebuild_table.py --existing /tmp/rebuilt.json   # compare a rebuild made earlier

Writes bench/results/rebuild_table.json. The shipped table is never written.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np

from nas.latency.build import build_table
from nas.latency.measure import Runtime
from nas.latency.table import LatencyTable, load_table, table_path
from nas.latency.validate import REPORTS_DIR, fit_calibration, report, samples_from_reports
from nas.space import available_spaces

RESULTS = Path(__file__).resolve().parent / "results"


def rebuild(device: str, out: Path, passes: int) -> tuple[LatencyTable, float]:
    """Every key measured again into ``out``, which starts as the shipped table without entries (resumable)."""
    if not out.exists():
        document = json.loads(table_path(device).read_text())
        document["entries"], document["meta"]["spaces"] = {}, []
        out.write_text(json.dumps(document, indent=1))
    shipped = load_table(device)
    runtime = Runtime("ort-cpu", int(shipped.meta["threads"]))
    started = time.perf_counter()
    table = build_table(device, available_spaces(), runtime, path=out, passes=passes)
    return table, time.perf_counter() - started


def key_agreement(new: LatencyTable, old: LatencyTable) -> dict:
    keys = sorted(set(new.entries) & set(old.entries))
    ratio = np.array([new.entries[k].ms / old.entries[k].ms for k in keys])
    change = np.abs(ratio - 1)
    kinds = np.array([k.split("|", 1)[0] for k in keys])
    return {"keys": len(keys), "within_5pct": float(np.mean(change <= 0.05) * 100),
            "within_10pct": float(np.mean(change <= 0.10) * 100),
            "median_abs_change_pct": float(np.median(change) * 100),
            "median_signed_change_pct": float((np.median(ratio) - 1) * 100),
            "third_measurement_pct": float(np.mean([len(new.entries[k].extra.get("measurements", [])) == 3
                                                    for k in keys]) * 100),
            "within_5pct_by_kind": {kind: float(np.mean(change[kinds == kind] <= 0.05) * 100)
                                    for kind in sorted(set(kinds))}}


def end_to_end(table: LatencyTable, spaces: list[str]) -> dict[str, dict[str, float]]:
    """Calibrated on the kept seed-1 measurements, judged on the stored seed-2 ones."""
    table = copy.deepcopy(table)
    fit = samples_from_reports(table, sorted((REPORTS_DIR / "calibration_fit").glob(f"{table.device}_*_seed1.csv")))
    table.meta["calibration"] = fit_calibration(table, fit)
    out = {}
    for space in spaces:
        metrics = report(samples_from_reports(table, [REPORTS_DIR / f"{table.device}_{space}.csv"]))
        out[space] = {k: metrics[k] for k in ("within_10pct", "within_5pct", "kendall_tau")}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu_x86")
    parser.add_argument("--out", default="/tmp/rebuilt_table.json", help="where the rebuild is written (resumable)")
    parser.add_argument("--passes", type=int, default=2, choices=(1, 2))
    parser.add_argument("--existing", default=None, help="compare this earlier rebuild instead of measuring")
    args = parser.parse_args()
    shipped = load_table(args.device)
    if args.existing:
        new, seconds = load_table(args.existing), None
    else:
        new, seconds = rebuild(args.device, Path(args.out), args.passes)
    spaces = [s for s in available_spaces() if (REPORTS_DIR / f"{args.device}_{s}.csv").exists()]
    agreement = key_agreement(new, shipped)
    fidelity = {"shipped": end_to_end(shipped, spaces), "rebuilt": end_to_end(new, spaces)}
    print(f"{agreement['keys']} keys: {agreement['within_5pct']:.1f}% within +-5% of the shipped entries, "
          f"{agreement['within_10pct']:.1f}% within +-10% (median change {agreement['median_abs_change_pct']:.2f}%, "
          f"shift {agreement['median_signed_change_pct']:+.2f}%); third measurement for "
          f"{agreement['third_measurement_pct']:.0f}% of keys")
    print("within +-5% by kind: " + ", ".join(f"{k} {v:.0f}%" for k, v in agreement["within_5pct_by_kind"].items()))
    for name, per_space in fidelity.items():
        print(f"{name:8} end to end <=10% / tau: "
              + "  ".join(f"{s} {m['within_10pct']:.0f}/{m['kendall_tau']:.3f}" for s, m in per_space.items()))
    document = {"bench": "rebuild_table", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "device": args.device, "shipped_updated": shipped.meta.get("updated"),
                "rebuilt_updated": new.meta.get("updated"), "build_seconds": seconds,
                "key_agreement": agreement, "end_to_end": fidelity}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "rebuild_table.json").write_text(json.dumps(document, indent=1) + "\n")
    print("-> bench/results/rebuild_table.json")


if __name__ == "__main__":
    main()
