"""Search quality: NSGA-II and TPE vs random search, same trial count, same fidelity, several seeds.

For each sampler and seed, a real search (real CIFAR-10, the cpu_x86 table) with ``--trials``
feasible candidates at the default search's rung 0; the budget is the median predicted latency of the space, so
half of it is over budget and the constraint binds. Reports the hypervolume of each front
(accuracy above chance x latency under the budget, normalised), the best accuracy under the budget,
the baseline that fits the budget at the same fidelity, and the share of time not spent training.

    python bench/search_quality.py [--trials 8] [--seeds 3]
    # both cores, one process each on half of the (seed, sampler) runs, then fold them together:
    python bench/search_quality.py --threads 1 --shard 0/2 --out part0.json
    python bench/search_quality.py --threads 1 --shard 1/2 --out part1.json
    python bench/search_quality.py --merge part0.json part1.json

Writes bench/results/search_quality.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from nas.latency.table import load_table
from nas.search.config import DEFAULT_RUNGS, SearchConfig
from nas.search.pareto import Point, hypervolume
from nas.search.run import run_search
from nas.space import load_space
from nas.train import set_threads

RESULTS = Path(__file__).resolve().parent / "results"
RUNG = asdict(DEFAULT_RUNGS[0])
"""Every sampler is judged at the default search's rung 0 (the level every candidate reaches)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--device", default="cpu_x86")
    parser.add_argument("--space", default="ghost_mbv2")
    parser.add_argument("--data", default=None)
    parser.add_argument("--samplers", default="nsga2,tpe,random")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    parser.add_argument("--shard", default="0/1", help="I/N: run every N-th (seed, sampler) pair from the I-th")
    parser.add_argument("--out", type=Path, default=RESULTS / "search_quality.json")
    parser.add_argument("--merge", type=Path, nargs="+", help="fold these partial results into --out and exit")
    args = parser.parse_args()
    samplers = args.samplers.split(",")
    if args.merge:
        parts = [json.loads(part.read_text()) for part in args.merge]
        rows = sorted((r for part in parts for r in part["runs"]), key=lambda r: (r["seed"], samplers.index(r["sampler"])))
        _write(args.out, {k: v for k, v in parts[0].items() if k not in ("runs", "date")}, rows, samplers)
        return
    threads = set_threads(args.threads)
    index, count = (int(x) for x in args.shard.split("/"))
    pairs = [(seed, sampler) for seed in range(args.seeds) for sampler in samplers][index::count]
    table = load_table(args.device)
    archs = load_space(args.space).sample_random(5000, seed=99)
    budget = float(np.median(table.compile().predict_many(archs)))
    runs_dir = Path(tempfile.mkdtemp(prefix="nas-bench-search-"))
    context = {"space": args.space, "device": args.device, "torch_threads": threads, "budget_ms": budget,
               "trials": args.trials, "rung": RUNG, "design": "latency-stratified first trials for nsga2/tpe"}
    rows = []
    try:
        for seed, sampler in pairs:
            config = SearchConfig(space=args.space, device=args.device, budget=f"{budget:.4f}ms", trials=args.trials,
                                  sampler=sampler, seed=seed, data=args.data, runs_dir=str(runs_dir),
                                  name=f"{sampler}_{seed}", rungs=[RUNG], baseline_seeds=1,
                                  workers=1)  # trains here at --threads: the bench splits the cores by --shard
            result = run_search(config, show_progress=False)
            points = [Point(str(c.arch), c.accuracy[0], c.latency_ms) for c in result.candidates]
            row = {"sampler": sampler, "seed": seed, "hypervolume": hypervolume(points, budget, min_accuracy=0.1),
                   "best_accuracy": max(p.accuracy for p in points), "infeasible_rejected": result.infeasible,
                   "baseline": result.baseline, "seconds": result.seconds,
                   "overhead_fraction": 1 - result.training_seconds / result.seconds}
            rows.append(row)
            _write(args.out, context, rows, samplers)  # after every run: an interrupted bench keeps what it did
            print(f"seed {seed} {sampler:7s} HV {row['hypervolume']:.4f}  best {row['best_accuracy']:.3f}  "
                  f"rejected {result.infeasible:3d}  {result.seconds:5.0f}s  overhead {row['overhead_fraction'] * 100:.1f}%")
    finally:
        shutil.rmtree(runs_dir, ignore_errors=True)


def _write(out: Path, context: dict, rows: list[dict], samplers: list[str]) -> None:
    summary = {}
    for sampler in samplers:
        hv = np.array([r["hypervolume"] for r in rows if r["sampler"] == sampler])
        best = np.array([r["best_accuracy"] for r in rows if r["sampler"] == sampler])
        if not len(hv):
            continue
        summary[sampler] = {"hypervolume_mean": float(hv.mean()), "hypervolume_sd": float(hv.std(ddof=1)) if len(hv) > 1
                            else 0.0, "best_accuracy_mean": float(best.mean())}
    random_hv = summary.get("random", {}).get("hypervolume_mean")
    print(f"\n{'sampler':8} {'HV mean':>8} {'HV sd':>7} {'vs random':>9} {'best acc':>8}")
    for sampler, s in summary.items():
        ratio = s["hypervolume_mean"] / random_hv if random_hv else float("nan")
        s["hypervolume_vs_random"] = ratio
        print(f"{sampler:8} {s['hypervolume_mean']:8.4f} {s['hypervolume_sd']:7.4f} {ratio:9.2f} {s['best_accuracy_mean']:8.3f}")
    baselines = [r["baseline"] for r in rows if r["baseline"]]
    document = {"bench": "search_quality", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **context,
                "runs": rows, "summary": summary,
                "baseline": baselines[0] if baselines else None,
                "overhead_fraction_max": max(r["overhead_fraction"] for r in rows)}
    RESULTS.mkdir(exist_ok=True)
    out.write_text(json.dumps(document, indent=1) + "\n")


if __name__ == "__main__":
    main()
