"""Adapting the shipped cpu_x86 table to this host from 10 whole networks, judged on 100 fresh ones.

1. ``nas latency adapt --device cpu_x86_here --host-networks 10 --from cpu_x86`` (into a throw-away
   ``NAS_TABLES``), timed wall-clock: the command a user runs when ``nas search`` warns that the table came
   from another processor.
2. 100 fresh archs (sampled over every space with another seed than the command's) are timed end to end here
   with the same protocol (``nas.latency.host.time_networks_here``: ONNX Runtime CPU, 1 thread, batch 1).
3. Both the shipped table (the baseline: what a search used before adapting) and the adapted one predict them:
   share within +-10 %, MAPE, Spearman, and the median ratio measured / predicted.

Target: >= 90 % of the 100 within +-10 %, adaptation in <= 2 minutes on 2 cores. Absolute times depend on
the machine and its load; the comparison with the shipped table is made in the same run.

    python bench/host_adapt.py [--fresh 100] [--networks 10]

Writes bench/results/host_adapt.json.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ["NAS_TABLES"] = tempfile.mkdtemp(prefix="nas-host-adapt-")  # never touch the user's tables

from nas.cli import main as nas  # noqa: E402
from nas.latency.host import this_processor, time_networks_here  # noqa: E402
from nas.latency.table import load_table  # noqa: E402
from nas.space import available_spaces, load_space  # noqa: E402
from nas.stats import error_report  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "host_adapt.json"


def judged(predicted: np.ndarray, measured: np.ndarray) -> dict[str, float]:
    report = error_report(predicted, measured)
    return {"within_10pct": report["within_10pct"], "mape_pct": report["mape_pct"], "spearman": report["spearman_rho"],
            "median_measured_over_predicted": float(np.median(measured / predicted))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fresh", type=int, default=100)
    parser.add_argument("--networks", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    started = time.perf_counter()
    code = nas(["latency", "adapt", "--device", "cpu_x86_here", "--host-networks", str(args.networks),
                "--from", "cpu_x86"])
    adapt_seconds = time.perf_counter() - started
    assert code == 0, "adaptation failed"
    spaces = available_spaces()
    per_space = -(-args.fresh // len(spaces))
    fresh = [a for i, name in enumerate(spaces) for a in load_space(name).sample_random(per_space, seed=args.seed + i)]
    fresh = fresh[:args.fresh]
    measured = np.array(time_networks_here(fresh))
    shipped, adapted = load_table("cpu_x86"), load_table("cpu_x86_here")
    document = {
        "bench": "host_adapt", "date": time.strftime("%Y-%m-%d"), "host": this_processor(),
        "table_measured_on": shipped.meta.get("processor"), "networks": args.networks, "fresh": len(fresh),
        "adapt_seconds": adapt_seconds, "target": ">= 90 % within +-10 %, <= 120 s",
        "shipped": judged(shipped.compile().predict_many(fresh), measured),
        "adapted": judged(adapted.compile().predict_many(fresh), measured),
        "adapted_model": adapted.meta["adapted"]["weights"],
        "adapted_loo_mape_pct": adapted.meta["adapted"]["heldout_mape_pct"],
    }
    OUT.write_text(json.dumps(document, indent=1) + "\n")
    for arm in ("shipped", "adapted"):
        r = document[arm]
        print(f"{arm:8} within10 {r['within_10pct']:5.1f}%  MAPE {r['mape_pct']:5.1f}%  rho {r['spearman']:.3f}  "
              f"measured/predicted {r['median_measured_over_predicted']:.2f}")
    print(f"adaptation took {adapt_seconds:.0f}s; wrote {OUT}")


if __name__ == "__main__":
    main()
