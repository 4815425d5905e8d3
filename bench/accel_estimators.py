"""Every estimator against Accel-NASBench's ImageNet top-1: the second public ground truth, the same protocol.

Protocol (as ``bench/accuracy_fidelity.py`` on NAS-Bench-Macro): a sample of the published networks stratified by
accuracy (``--networks``, evenly spaced ranks of ``val_top1``), split into a choice half and a report half by
alternate rank, Spearman and Kendall on each half with a 95 % bootstrap interval (1,000 resamples), and CPU-seconds
per network. A default is chosen on choice halves and reported on report halves.

Input: there is no ImageNet here. The zero-cost proxies score the same class-balanced CIFAR-10 minibatch every
search uses (64 images; MeCo its first image), upsampled bilinearly to ``--resolution``: by default the space's
``screen_resolution`` (64 px), the input the search screens at; snip ranked the same at 112 px (report half 0.905
against 0.910) for about 3.7x the CPU time, and a 224 px network costs 10-30 CPU-s a score. MACs and params are the
networks' own at 224 px. ``ensemble`` is the sum of the ranks of params, synflow and meco (an
AZ-NAS-style rank ensemble of signals that do not share a failure mode).

    python bench/accel_estimators.py --data $NAS_DATA [--networks 96] [--resolution 64]

Scores are cached in bench/results/accel_estimators_scores.json (a rerun scores only what is missing); the
figures go to bench/results/accel_estimators[_rRES].json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from nas.accuracy import make_estimator
from nas.accuracy.accel_nasbench import load_rows, stage_choices_to_arch
from nas.arch import parse_arch
from nas.cost import arch_cost
from nas.data import load_cifar10
from nas.fileio import merge_json_object
from nas.space import load_space
from nas.stats import kendall_tau, spearman_rho

RESULTS = Path(__file__).resolve().parent / "results"
RANKING = Path(__file__).resolve().parent.parent / "nas" / "accuracy" / "ranking.json"
PROXIES = ("naswot", "synflow", "grad_norm", "snip", "jacov", "meco")
ENSEMBLE = ("params", "synflow", "meco")
SCREEN_RESOLUTION = load_space("accel_nasbench").screen_resolution
"""The resolution the search screens this space's networks at (its YAML's ``screen_resolution``): the figures the
search quotes are measured there."""


def stratified(rows: list, count: int) -> list:
    ranked = sorted((row for row in rows if row.values.get("val_top1") is not None), key=lambda r: r.values["val_top1"])
    picks = np.linspace(0, len(ranked) - 1, count).round().astype(int)
    return [ranked[i] for i in picks]


def interval(x: np.ndarray, y: np.ndarray, statistic: object, rng: np.random.Generator) -> list[float]:
    values = []
    for _ in range(1000):
        index = rng.integers(0, len(x), len(x))
        values.append(statistic(x[index], y[index]))  # type: ignore[operator]
    return [round(float(np.nanpercentile(values, 2.5)), 4), round(float(np.nanpercentile(values, 97.5)), 4)]


def ranks(values: np.ndarray) -> np.ndarray:
    return np.argsort(np.argsort(values)).astype(float)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None, help="CIFAR-10 (default $NAS_DATA)")
    parser.add_argument("--networks", type=int, default=96)
    parser.add_argument("--resolution", type=int, default=SCREEN_RESOLUTION)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--estimators", nargs="+", default=list(PROXIES), choices=PROXIES,
                        help="the proxies to score (MACs and params always; the ensemble when all of its members are)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sample = stratified(load_rows(), args.networks)
    archs = [stage_choices_to_arch(row.stages) for row in sample]
    truth = np.array([row.values["val_top1"] for row in sample])
    cache_path = RESULTS / "accel_estimators_scores.json"
    cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    data = load_cifar10(args.data, download=False)
    scores: dict[str, list[float]] = {"macs": [arch_cost(a).macs for a in archs],
                                      "params": [arch_cost(a).params for a in archs]}
    seconds: dict[str, float] = {"macs": 0.0, "params": 0.0}
    started = time.perf_counter()
    for name in args.estimators:
        estimator = make_estimator(name, data)
        values, spent = [], []
        for i, arch in enumerate(archs):
            key = f"{name}|r{args.resolution}|{arch}"
            if key not in cache:
                score = estimator.score(parse_arch(str(arch).replace("r224", f"r{args.resolution}", 1)))
                cache[key] = {"value": score.value, "seconds": score.seconds}
                if i % 8 == 7:
                    merge_json_object(cache_path, cache)
            values.append(cache[key]["value"])
            spent.append(cache[key]["seconds"])
        merge_json_object(cache_path, cache)
        scores[name], seconds[name] = values, float(np.mean(spent))
        print(f"{name}: {seconds[name]:.1f} CPU-s per network ({time.perf_counter() - started:.0f} s so far)", flush=True)
    if all(n in scores for n in ENSEMBLE):
        scores["ensemble"] = list(sum(ranks(np.nan_to_num(np.asarray(scores[n], float), nan=-1e300)) for n in ENSEMBLE))
        seconds["ensemble"] = sum(seconds[n] for n in ENSEMBLE)
    halves = {"choice": np.arange(0, len(sample), 2), "report": np.arange(1, len(sample), 2)}
    rng = np.random.default_rng(0)
    table = {}
    for name, values in scores.items():
        x = np.nan_to_num(np.asarray(values, float), nan=-1e300, neginf=-1e300)
        row: dict[str, object] = {"cpu_seconds_per_net": round(seconds[name], 2)}
        for half, index in halves.items():
            row[half] = {"n": len(index), "spearman": round(spearman_rho(x[index], truth[index]), 4),
                         "spearman_95": interval(x[index], truth[index], spearman_rho, rng),
                         "kendall": round(kendall_tau(x[index], truth[index]), 4)}
        table[name] = row
    chosen = max(table, key=lambda n: table[n]["choice"]["spearman"])  # type: ignore[index]
    result = {"bench": "accel_estimators", "date": time.strftime("%Y-%m-%d"), "networks": len(sample),
              "resolution": args.resolution, "input": "CIFAR-10 proxy minibatch (64 images) upsampled bilinearly",
              "ground_truth": "Accel-NASBench val_top1 (ImageNet, proxified training)", "estimators": table,
              "best_on_choice_half": chosen, "seconds": time.perf_counter() - started}
    suffix = "" if args.resolution == SCREEN_RESOLUTION else f"_r{args.resolution}"
    out = RESULTS / f"accel_estimators{suffix}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    if args.resolution == SCREEN_RESOLUTION and set(args.estimators) == set(PROXIES):
        # the shipped ranking names this benchmark's report-half figures beside NAS-Bench-Macro's, as the search screens
        ranking = json.loads(RANKING.read_text())
        for name, row in table.items():
            if name != "ensemble":
                report = row["report"]  # type: ignore[index]
                ranking["estimators"].setdefault(name, {})["accel_nasbench"] = {
                    "spearman": report["spearman"], "spearman_95": report["spearman_95"], "n": report["n"]}
        RANKING.write_text(json.dumps(ranking, indent=1) + "\n")
    for name, row in sorted(table.items(), key=lambda kv: -kv[1]["report"]["spearman"]):  # type: ignore[index]
        print(f"{name:10} choice {row['choice']['spearman']:+.3f}  report {row['report']['spearman']:+.3f} "  # type: ignore[index]
              f"{row['report']['spearman_95']}  {row['cpu_seconds_per_net']} CPU-s")  # type: ignore[index]
    print(f"best on the choice half: {chosen}; -> {out}")


if __name__ == "__main__":
    main()
