"""The README's main command on its defaults: wall time, the front, and the searched arch vs the baseline.

Runs ``nas search`` (space ghost_mbv2, device rpi4, budget 30 ms, 16 candidates, NSGA-II, 2 workers) in a fresh
process, as a user would, and reads its ``pareto.json``. The comparison is inside the run: the best
searched arch and the best hand-designed baseline under the same budget are trained at the same
(top) rung with two seeds each (the finalist is confirmed, see ``nas.search.run``), and their spreads
are the noise the verdict is judged against.

    python bench/default_search.py [--name NAME] [-- extra nas search options]
    python bench/default_search.py --name NAME --rejudge   # same trainings (cached), today's front code
    python bench/default_search.py --name NAME --rejudge --confirm-seeds 8   # then nas confirm on the run

``--confirm-seeds N`` runs ``nas confirm`` on the finished run: the front's most accurate arch and the
baseline retrained with N fresh seeds each, scored on the official test set, with a paired 95 % interval
(``nas.search.confirm``); the two-seed verdict inside a run can rarely resolve a few points.

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

from nas.search.pareto import compare_to_baseline

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", default=time.strftime("bench_default_%Y%m%d_%H%M%S"))
    parser.add_argument("--conditions", default="defaults, 2 torch threads, quiet machine",
                        help="what else ran on the machine (recorded with the figures)")
    parser.add_argument("--rejudge", action="store_true",
                        help="resume the run NAME (every training cached) to judge it again; keeps the recorded wall time")
    parser.add_argument("--confirm-seeds", type=int, default=0,
                        help="then run nas confirm with this many seeds per arch and record it (0: no)")
    parser.add_argument("extra", nargs="*", help="options passed on to nas search (after --)")
    args = parser.parse_args()
    previous = json.loads((RESULTS / "default_search.json").read_text()) if args.rejudge else {}
    if args.rejudge and previous.get("run") != args.name:
        sys.exit(f"bench/results/default_search.json is about run {previous.get('run')!r}, not {args.name!r}")
    command = [sys.executable, "-m", "nas", "search", *(["--resume", args.name] if args.rejudge else
                                                         ["--name", args.name, *args.extra])]
    started = time.perf_counter()
    subprocess.run(command, check=True, env=os.environ.copy())
    wall = previous["wall_seconds"] if args.rejudge else time.perf_counter() - started
    pareto = json.loads((Path("runs") / args.name / "pareto.json").read_text())
    if args.rejudge:  # the resumed process only re-judged: the run's own time is the one recorded
        pareto.update({k: previous[k] for k in ("seconds", "training_seconds", "overhead_fraction")})
        args.extra = previous.get("extra_options", previous["command"].split()[4:])  # older results: no list
        args.conditions = previous["conditions"] + "; judged again from the cached trainings"
    best = next((c for c in pareto["front"] if c["id"] == pareto.get("best_id")),  # the run's finalist
                max(pareto["front"], key=lambda c: c["accuracy"]) if pareto["front"] else None)
    base = pareto.get("baseline")
    document = {"bench": "default_search", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "command": " ".join(["nas", "search", "--name", args.name, *args.extra]), "extra_options": args.extra,
                "conditions": args.conditions, "wall_seconds": wall, **pareto}
    if best and base:
        document["comparison"] = compare_to_baseline(best.get("accuracies", [best["accuracy"]]), base["accuracies"],
                                                          pareto.get("noise_sd"))
    if args.confirm_seeds:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "nas", "confirm", str(Path("runs") / args.name),
                        "--seeds", str(args.confirm_seeds)], check=True, env=os.environ.copy())
        document["confirmation"] = {"command": f"nas confirm runs/{args.name} --seeds {args.confirm_seeds}",
                                    "wall_seconds": time.perf_counter() - started,
                                    **json.loads((Path("runs") / args.name / "confirm.json").read_text())}
    elif args.rejudge and "confirmation" in previous:
        document["confirmation"] = previous["confirmation"]
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
    for c in document.get("confirmation", {}).get("comparisons", []):
        if "gap_pts" in c:
            low, high = c["interval95_pts"]
            print(f"confirmed on the test set over {c['paired_seeds']} fresh seeds: {c['gap_pts']:+.2f} pts, "
                  f"95 % interval [{low:+.2f}, {high:+.2f}]: {c['verdict']}")
    print(f"wall {wall / 60:.1f} min -> bench/results/default_search.json")


if __name__ == "__main__":
    main()
