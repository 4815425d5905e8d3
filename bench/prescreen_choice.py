"""Which free signal should choose what is screened? Chosen on both benchmarks' choice cells, reported on the others.

The default search screens 64 of a pool of 2,048 random feasible networks: those with the most of a free capacity
signal for their latency (docs/decisions/0025 chose MACs on NAS-Bench-Macro, where bigger networks are better).
This bench replays the default's stages without training, for each pre-screen signal, in cells of both public
ground truths:

* **Stages.** The pool and the 64 (:func:`nas.search.initial.capacity_archs` with the signal; ``none``: 64 random
  networks of the pool), the space's screen on them at its resolution, with seed 0 whatever the cell's seed (a
  search scores with its own seed; one scoring seed lets the cells share scores, and the signals differ only in
  what they choose), through the search's own
  :class:`~nas.search.screening.ScreeningJournal`), the best 4 by non-dominated rank of (score, latency)
  (:func:`nas.search.screening.best_screened`: the order the two promotions keep at screen weight 1), and the
  finalist, the most accurate of the 4 by the table (a tabular run's top rung; NAS-Bench-Macro's seed noise can hand
  a near-tie to the higher score instead, which ``bench/search_regret.py``'s ``default`` arm measures).
* **Cells.** NAS-Bench-Macro: choice on cpu_x86 and rpi4 at the 25th / 50th / 75th latency percentiles (the cells
  decision 0025 was chosen on), report on pixel3, gtx1080ti and xeon_gold_6226 at the 10th / 35th / 60th / 85th.
  Accel-NASBench (its 4,129 published networks): choice on a100, tpuv3 and zcu102 at the 15th / 40th / 65th / 90th,
  report at the 25th / 50th / 75th (the cells of ``bench/search_regret.py --space accel_nasbench``). Seeds 0-4.
* **Diagnostic** (``macs_by_score``, ``params_by_score``): the same shortlist, but the 4 finalists are its 4 best
  scores, where the default keeps the 4 best by non-dominated rank of (score, latency), which spreads them over the
  latency range. It measures what that spread costs the most accurate network under the budget.
* **Control.** ``none`` runs on NAS-Bench-Macro only: its 64 random networks differ with every seed, and an
  Accel-NASBench score costs about a CPU-second at 64 px, against a tenth of that for NASWOT at 32 px.
* **Figure.** Regret in points (best feasible accuracy minus the finalist's), mean and median over each part's
  cells, and the count of cells within 0.5 points.

Scores are shared with ``bench/search_regret.py`` (``bench/results/search_regret_scores.json``).

    python bench/prescreen_choice.py --data $NAS_DATA

Writes bench/results/prescreen_choice.json.
"""

from __future__ import annotations

import argparse
import atexit
import json
import time
from pathlib import Path

import numpy as np
from regret_arms import POOL, Ground, ScoreMemo, accel_nasbench, nas_bench_macro, screen_scores, share_cifar10

from nas.fileio import atomic_write_text
from nas.latency.table import CompiledTable, load_table
from nas.search.initial import _feasible_pool, capacity_archs
from nas.search.screening import best_screened
from nas.space import PRESCREEN_SIGNALS

RESULTS = Path(__file__).resolve().parent / "results"
OUT = RESULTS / "prescreen_choice.json"
SIGNALS = (*PRESCREEN_SIGNALS, "none")
SCREENED, FINALISTS, SEEDS = 64, 4, 5
PARTS = {"nas_bench_macro": {"choice": (["cpu_x86", "rpi4"], (25, 50, 75)),
                             "report": (["pixel3", "gtx1080ti", "xeon_gold_6226"], (10, 35, 60, 85))},
         "accel_nasbench": {"choice": (["a100", "tpuv3", "zcu102"], (15, 40, 65, 90)),
                            "report": (["a100", "tpuv3", "zcu102"], (25, 50, 75))}}


def replay(ground: Ground, compiled: CompiledTable, latency: np.ndarray, budget: float, seed: int, signal: str,
           data: str | None, by_score: bool = False) -> float:
    """The regret of the default's stages with ``signal`` choosing what is screened (``compiled``: the device's
    compiled table; ``latency``: its prediction for the universe); ``by_score``: the 4 finalists are the 4 best
    scores instead (a diagnostic of the promotion order, not the default)."""
    if signal == "none":
        pool = list(_feasible_pool(ground.model, compiled, budget, POOL, seed, ground.universe).values())
        picked = np.random.default_rng(seed).choice(len(pool), min(SCREENED, len(pool)), replace=False)
        shortlist = [pool[i][0] for i in picked]
    else:
        shortlist = [a for a, _ in capacity_archs(ground.model, compiled, budget, SCREENED, seed, POOL,
                                                  ground.universe, signal)]
    scores = dict(zip(map(str, shortlist), screen_scores(ground, shortlist, 0, data)))
    ms = dict(zip(map(str, shortlist), compiled.predict_many(shortlist)))
    finalists = sorted(scores, key=lambda a: -scores[a])[:FINALISTS] if by_score else \
        best_screened(scores, ms, FINALISTS)
    feasible = np.flatnonzero(latency <= budget)
    return float(ground.truth[feasible].max() - max(ground.truth[ground.by_text[a]] for a in finalists))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None)
    parser.add_argument("--seeds", type=int, default=SEEDS)
    args = parser.parse_args()
    memo = ScoreMemo()
    memo.install()
    share_cifar10()
    atexit.register(memo.save)
    document = json.loads(OUT.read_text()) if OUT.is_file() else {}
    document.update({"bench": "prescreen_choice", "screened": SCREENED, "finalists": FINALISTS, "pool": POOL,
                     "parts": {k: {p: {"devices": d, "percentiles": list(q)} for p, (d, q) in v.items()}
                               for k, v in PARTS.items()}})
    cells = document.setdefault("cells", {})
    started = time.perf_counter()
    for ground in (accel_nasbench(), nas_bench_macro()):
        for part, (devices, percentiles) in PARTS[ground.space].items():
            for device in devices:
                compiled = load_table(device).compile()
                latency = compiled.predict_many(ground.archs)
                for percentile in percentiles:
                    budget = float(np.percentile(latency, percentile))
                    for seed in range(args.seeds):
                        key = f"{ground.space}/{part}/{device}/p{percentile}/{seed}"
                        cell = cells.setdefault(key, {})
                        for signal in SIGNALS:
                            if signal not in cell and (signal != "none" or ground.space == "nas_bench_macro"):
                                cell[signal] = replay(ground, compiled, latency, budget, seed, signal, args.data)
                        for signal in PRESCREEN_SIGNALS:
                            if f"{signal}_by_score" not in cell:
                                cell[f"{signal}_by_score"] = replay(ground, compiled, latency, budget, seed, signal,
                                                                    args.data, by_score=True)
                        atomic_write_text(OUT, json.dumps(document, indent=1) + "\n")
                        print(key, {k: round(v, 2) for k, v in cell.items()},
                              f"{time.perf_counter() - started:.0f}s", flush=True)
    document["summary"] = summarise(cells)
    atomic_write_text(OUT, json.dumps(document, indent=1) + "\n")
    print(json.dumps(document["summary"], indent=1))


def summarise(cells: dict[str, dict]) -> dict:
    """Per benchmark and part, each signal's mean and median regret and its cells within 0.5 points."""
    summary: dict = {}
    for key, cell in cells.items():
        space, part = key.split("/")[:2]
        for signal, value in cell.items():
            summary.setdefault(space, {}).setdefault(part, {}).setdefault(signal, []).append(value)
    return {space: {part: {signal: {"mean_regret_pts": round(float(np.mean(v)), 3),
                                    "median_regret_pts": round(float(np.median(v)), 3),
                                    "within_0.5": f"{sum(x <= 0.5 for x in v)}/{len(v)}"}
                           for signal, v in by_signal.items()}
                    for part, by_signal in parts.items()}
            for space, parts in summary.items()}


if __name__ == "__main__":
    main()
