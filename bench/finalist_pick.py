"""Which signal should pick the finalist among the search's top-rung candidates? Measured on held-out budgets.

The default search ends with ``trials / eta`` candidates (4) trained at the top rung and picks one: the most
accurate there beyond the seed noise, NASWOT breaking ties (docs/decisions/0025). On NAS-Bench-Macro the
regret bench's trained cells lose most of their regret in that pick: the best of the 4 is often not the one
picked. This bench asks whether a free signal would pick better, without training anything:

* **Finalist sets.** The default algorithm's stages, replayed: MACs choose 64 of 2,048 random feasible archs
  (:func:`nas.search.initial.capacity_archs`), NASWOT (seed 0) scores them, and promotion by NASWOT (screen
  weight 1) keeps the best 4 by non-dominated rank of (score, latency) (:func:`nas.search.screening.best_screened`,
  which orders the 64 exactly as the two promotion steps do). Budgets are the 10th-90th percentiles of the
  space's predicted latencies on cpu_x86 and rpi4, leaving out the regret bench's 25th / 50th / 75th, with
  pool seeds 0, 7 and 8: sets that bench never judged.
* **Picks.** The 4's highest NASWOT, MACs and params, and the best of the 4 (what a perfect pick reaches),
  each as regret: the best feasible network's 50-epoch accuracy minus the pick's, in points.
* **Second space.** Whether params carry the same sign beyond MACs and latency on the ghost_mbv2 set of
  ``bench/proxy_fidelity.py`` (16 networks against a 3-epoch training): partial rank correlations.

NASWOT scores come from ``bench/results/search_regret_naswot.json`` (seed 0, arch -> score); an arch missing
there is scored with ``--data`` and added.

    python bench/finalist_pick.py [--data PATH]

Writes bench/results/finalist_pick.json.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from nas.accuracy.nas_bench_macro import load_benchmark
from nas.arch import Arch, parse_arch
from nas.cost import arch_cost
from nas.fileio import atomic_write_text, merge_json_object
from nas.latency.table import load_table
from nas.search.initial import capacity_archs
from nas.search.screening import best_screened
from nas.space import load_space

RESULTS = Path(__file__).resolve().parent / "results"
NASWOT_CACHE = RESULTS / "search_regret_naswot.json"
PERCENTILES = (10, 15, 20, 30, 35, 40, 45, 55, 60, 65, 70, 80, 85, 90)
SEEDS = (0, 7, 8)
SCREENED, FINALISTS, POOL = 64, 4, 2048
SIGNALS = ("naswot", "macs", "params")


def ranks(values: np.ndarray) -> np.ndarray:
    return np.argsort(np.argsort(values)).astype(float)


def partial_rank_correlation(x: np.ndarray, y: np.ndarray, control: np.ndarray) -> float:
    """Correlation of ``x``'s and ``y``'s ranks once each has the linear trend of ``control``'s ranks removed."""
    design = np.c_[np.ones(len(control)), ranks(control)]

    def residual(v: np.ndarray) -> np.ndarray:
        return v - design @ np.linalg.lstsq(design, v, rcond=None)[0]

    return float(np.corrcoef(residual(ranks(x)), residual(ranks(y)))[0, 1])


class NaswotScores:
    """Seed-0 NASWOT scores from the regret bench's cache; missing ones are scored (needs CIFAR-10)."""

    def __init__(self, data: str | None) -> None:
        self.scores: dict[str, float] = json.loads(NASWOT_CACHE.read_text()) if NASWOT_CACHE.is_file() else {}
        self.data, self.added, self._estimator = data, 0, None

    def __call__(self, arch: Arch) -> float:
        if str(arch) not in self.scores:
            if self._estimator is None:
                from nas.accuracy import make_estimator
                from nas.data import load_cifar10

                self._estimator = make_estimator("naswot", load_cifar10(self.data), 0)
            self.scores[str(arch)] = self._estimator.score(arch).value
            self.added += 1
        return self.scores[str(arch)]

    def save(self) -> None:
        if self.added:
            merge_json_object(NASWOT_CACHE, self.scores)


def finalist_cells(naswot: NaswotScores) -> list[dict]:
    benchmark = load_benchmark()
    archs = benchmark.archs()
    truth = np.array([benchmark.accuracy(a) for a in archs])
    space = load_space("nas_bench_macro")
    cells = []
    for device in ("cpu_x86", "rpi4"):
        compiled = load_table(device).compile()
        latency = compiled.predict_many(archs)
        for percentile in PERCENTILES:
            budget = float(np.percentile(latency, percentile))
            best = float(truth[latency <= budget].max())
            for seed in SEEDS:
                screened = [arch for arch, _ in capacity_archs(space, compiled, budget, SCREENED, seed, POOL)]
                scores = {str(a): naswot(a) for a in screened}
                latencies = dict(zip(scores, map(float, compiled.predict_many(screened))))
                finalists = [parse_arch(text) for text in best_screened(scores, latencies, FINALISTS)]
                accuracy = np.array([benchmark.accuracy(a) for a in finalists])
                signal = {"naswot": [scores[str(a)] for a in finalists],
                          "macs": [arch_cost(a).macs for a in finalists],
                          "params": [arch_cost(a).params for a in finalists]}
                cell = {"device": device, "percentile": percentile, "seed": seed, "budget_ms": budget,
                        "best_of_finalists": (best - float(accuracy.max())) * 100}
                cell.update({name: (best - float(accuracy[int(np.argmax(v))])) * 100 for name, v in signal.items()})
                cells.append(cell)
                print(device, percentile, seed, {k: round(v, 2) for k, v in cell.items() if k in (*SIGNALS, "best_of_finalists")},
                      flush=True)
    return cells


def summary(cells: list[dict]) -> dict:
    out: dict = {}
    for device in ("cpu_x86", "rpi4", "both"):
        rows = [c for c in cells if device in ("both", c["device"])]
        out[device] = {name: {"mean_regret_pts": float(np.mean([c[name] for c in rows])),
                              "median_regret_pts": float(np.median([c[name] for c in rows]))}
                       for name in ("best_of_finalists", *SIGNALS)}
        out[device]["params_vs_naswot"] = {
            "better": sum(c["params"] < c["naswot"] - 1e-6 for c in rows),
            "worse": sum(c["params"] > c["naswot"] + 1e-6 for c in rows), "cells": len(rows)}
    return out


def ghost_check() -> dict:
    """On the ghost_mbv2 set: do params rank accuracy beyond what MACs or latency already say?"""
    rows = list(json.loads((RESULTS / "proxy_fidelity.json").read_text())["rows"].values())
    truth = np.array([np.mean([r[k] for k in ("long_s0", "long_s1") if k in r]) for r in rows])
    macs, params = np.array([r["mmacs"] for r in rows]), np.array([r["params"] for r in rows])
    latency = np.array([r["latency_ms_cpu_x86"] for r in rows])
    return {"networks": len(rows), "ground_truth": "bench/proxy_fidelity.py long training (3 epochs), mean of seeds",
            "params_given_macs": partial_rank_correlation(params, truth, macs),
            "params_given_latency": partial_rank_correlation(params, truth, latency),
            "macs_given_latency": partial_rank_correlation(macs, truth, latency)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("NAS_DATA"))
    parser.add_argument("--out", default=str(RESULTS / "finalist_pick.json"))
    args = parser.parse_args()
    naswot = NaswotScores(args.data)
    cells = finalist_cells(naswot)
    naswot.save()
    document = {"bench": "finalist_pick", "space": "nas_bench_macro", "screened": SCREENED, "finalists": FINALISTS,
                "pool": POOL, "percentiles": list(PERCENTILES), "seeds": list(SEEDS),
                "ground_truth": "NAS-Bench-Macro 50-epoch CIFAR-10 test accuracy (mean over codes and seeds)",
                "summary": summary(cells), "ghost_mbv2": ghost_check(), "cells": cells}
    _save(Path(args.out), document)
    print(json.dumps({"summary": document["summary"], "ghost_mbv2": document["ghost_mbv2"]}, indent=1))


def _save(path: Path, document: dict) -> None:
    atomic_write_text(path, json.dumps(document, indent=1) + "\n")


if __name__ == "__main__":
    main()
