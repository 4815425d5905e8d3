"""The README's main command on its defaults: wall time, the front, and the searched arch vs the baseline.

Runs ``nas search`` (space ghost_mbv2, device rpi4, budget 30 ms, 10 candidates, NSGA-II) in a fresh
process, as a user would, and reads its ``pareto.json``. The comparison is inside the run: the best
searched arch and the best hand-designed baseline under the same budget are trained at the same
(top) rung, the baseline with two seeds, whose spread is the noise the verdict is judged against.

    python bench/default_search.py [--name NAME] [-- extra nas search options]

Needs real CIFAR-10 ($NAS_DATA or the user cache). Writes bench/results/default_search.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def verdict(best_accuracy: float, baseline_accuracies: list[float], noise_sd: float | None) -> dict:
    """Gap of the best searched arch (one seed) to the baseline's mean (n seeds), in points, against twice
    the gap's own seed noise, ``sd * sqrt(1 + 1/n)`` (about a 95 % band)."""
    n = len(baseline_accuracies)
    gap = (best_accuracy - sum(baseline_accuracies) / n) * 100
    band = 2 * (noise_sd or 0.0) * 100 * (1 + 1 / n) ** 0.5
    return {"gap_pts": gap, "noise_sd_pts": (noise_sd or 0.0) * 100, "band_pts": band,
            "verdict": "ahead" if gap > band else "behind" if gap < -band else "within the seed noise"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", default=time.strftime("bench_default_%Y%m%d_%H%M%S"))
    parser.add_argument("--conditions", default="defaults, 2 torch threads, quiet machine",
                        help="what else ran on the machine (recorded with the figures)")
    parser.add_argument("extra", nargs="*", help="options passed on to nas search (after --)")
    args = parser.parse_args()
    command = [sys.executable, "-m", "nas", "search", "--name", args.name, *args.extra]
    started = time.perf_counter()
    subprocess.run(command, check=True, env=os.environ.copy())
    wall = time.perf_counter() - started
    pareto = json.loads((Path("runs") / args.name / "pareto.json").read_text())
    best = max(pareto["front"], key=lambda c: c["accuracy"]) if pareto["front"] else None
    base = pareto.get("baseline")
    document = {"bench": "default_search", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "command": " ".join(["nas", "search", "--name", args.name, *args.extra]),
                "conditions": args.conditions, "wall_seconds": wall, **pareto}
    if best and base:
        document["comparison"] = verdict(best["accuracy"], base["accuracies"], pareto.get("noise_sd"))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "default_search.json").write_text(json.dumps(document, indent=1) + "\n")
    print(f"\n{'':22} {'accuracy':>9} {'latency ms':>10}")
    if best:
        print(f"{'best searched':22} {best['accuracy'] * 100:8.1f}% {best['latency_ms']:10.1f}")
    if base:
        accs = "/".join(f"{a * 100:.1f}" for a in base["accuracies"])
        print(f"{'baseline ' + base['name']:22} {accs:>9} {base['latency_ms']:10.1f}")
    if "comparison" in document:
        c = document["comparison"]
        print(f"gap {c['gap_pts']:+.1f} pts (95 % seed band +-{c['band_pts']:.1f}): {c['verdict']}")
    print(f"wall {wall / 60:.1f} min -> bench/results/default_search.json")


if __name__ == "__main__":
    main()
