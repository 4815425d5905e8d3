"""Search regret on NAS-Bench-Macro: how far below the best feasible network the returned one is, in 50-epoch points.

For each device (``cpu_x86`` measured, ``rpi4`` transferred) and three budgets (the 25th, 50th and 75th
percentile of the space's predicted latencies: tight, middle, loose), with ``--seeds`` seeds and
``--trials`` candidates, these arms run in the same bench:

* ``search_tabular``: ``nas search`` (NSGA-II) with the tabular accuracy source and no screening: the
  sampler's own regret, free of training noise;
* ``screened_tabular`` (with ``--screened``): the default algorithm (MACs choose 4x ``--trials`` candidates of
  2,048 random feasible ones, NASWOT screens them, the best ``--trials`` are looked up), tabular at every rung;
  ``screened_tabular_no_prescreen`` holds cells measured before MACs chose what is screened (the sampler
  proposed it);
* ``random_tabular``: the same with the random sampler;
* ``most_macs``: the feasible network with the most MACs (free);
* ``estimator``: the best cheap estimator of ``bench/results/accuracy_fidelity.json`` alone, picking the
  top of ``--trials`` random feasible networks;
* ``search_trained`` (with ``--trained-seeds K``): the default search (NASWOT screening) with real short
  trainings on CIFAR-10, for seeds below K at every (device, budget): minutes each, so as many as the time
  allows; ``trained_no_screening`` holds cells measured with an earlier default (rung-0 training of every
  sampled candidate) and ``search_trained_no_prescreen`` with the next one (NASWOT screening of what the sampler
  proposed, top-rung ties to the faster arch).

Screening scores are memoised by (estimator, seed, arch) in ``bench/results/search_regret_scores.json``
(``regret_arms.ScoreMemo``, which also reads the seed-0 NASWOT scores of ``search_regret_naswot.json``), so a rerun
scores only archs no earlier run met; a search with seed s scores with its own seed, as ``nas search`` does.
Trainings are memoised across cells in ``bench/results/search_regret_trainings.json`` ((arch, fidelity, seed) ->
accuracy): a CPU training is deterministic given its seed (75 keys trained 2-3 times by separate searches gave
identical accuracies), and the cells of one seed share their baseline, the baseline's second seed is the next
search seed's first, and nearby budgets share finalists: about 40 % of a cell's trainings are repeats. So a
cell's ``search_trained_seconds`` is the time with the memo (``search_trained_memo_hits`` says how many trainings
it skipped), not a search's time; ``bench/default_search.py`` times the search. Delete the memo after a change
to the training.

Regret = best feasible 50-epoch accuracy - the returned network's (mean over its codes and seeds).
Results are kept per cell, so an interrupted run resumes.

Every cell also runs the arms of ``bench/regret_arms.py``: ``default`` (``nas search --accuracy tabular`` on its
defaults, through the CLI), ``random``, ``most_macs``, ``most_params`` and ``one_line_rule``. Two more sets of cells
run only those arms:

* ``--cells unseen``: NAS-Bench-Macro on pixel3, gtx1080ti and xeon_gold_6226 at the 10th, 35th, 60th and 85th
  percentiles of predicted latency: devices and budgets no default was chosen on (decision 0025 was tuned on the
  cpu_x86 cells above);
* ``--space accel_nasbench``: Accel-NASBench's ImageNet top-1 on a100, tpuv3 and zcu102 at the 25th, 50th and 75th
  percentiles of its 4,129 networks' predicted latencies, the search drawing its pool from them (``--candidates
  table``).

    python bench/search_regret.py [--seeds 5] [--trials 16] [--trained-seeds 0] [--devices cpu_x86 rpi4]
    python bench/search_regret.py --cells unseen --data $NAS_DATA
    python bench/search_regret.py --space accel_nasbench --data $NAS_DATA

Writes bench/results/search_regret.json, search_regret_unseen.json and search_regret_accel.json.
"""

from __future__ import annotations

import argparse
import atexit
import json
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
from regret_arms import ScoreMemo, accel_nasbench, nas_bench_macro, run_cells, share_cifar10
from regret_arms import summarise as summarise_arms

import nas.accuracy
from nas.accuracy.nas_bench_macro import load_benchmark
from nas.arch import parse_arch
from nas.cost import arch_cost
from nas.fileio import atomic_write_text, merge_json_object
from nas.latency.table import load_table
from nas.search.config import SearchConfig
from nas.search.run import run_search

RESULTS = Path(__file__).resolve().parent / "results"
OUT = RESULTS / "search_regret.json"
TRAINING_MEMO = RESULTS / "search_regret_trainings.json"
FIDELITY = RESULTS / "accuracy_fidelity.json"
BUDGETS = {"tight": 25, "middle": 50, "loose": 75}
UNSEEN = {"p10": 10, "p35": 35, "p60": 60, "p85": 85}
SECOND = {"accel_nasbench": (["a100", "tpuv3", "zcu102"], BUDGETS, "search_regret_accel.json",
                             "Accel-NASBench ImageNet top-1 (val_top1, the paper's proxified training)"),
          "unseen": (["pixel3", "gtx1080ti", "xeon_gold_6226"], UNSEEN, "search_regret_unseen.json",
                     "NAS-Bench-Macro 50-epoch CIFAR-10 test accuracy (mean over codes and seeds)")}
"""The cells that run only the arms of regret_arms.py: devices, budgets by percentile, output, ground truth."""


def best_estimator() -> str:
    """The single cheap estimator that ranked best on accuracy_fidelity's choice half (MACs if it was not run)."""
    if not FIDELITY.is_file():
        return "macs"
    estimators = json.loads(FIDELITY.read_text())["nas_bench_macro"]["estimators"]
    cheap = {n: r["choice"]["spearman"] for n, r in estimators.items() if "choice" in r and n not in ("rung0", "rung1")}
    return max(cheap, key=cheap.get)


def search(budget_ms: float, device: str, seed: int, trials: int, sampler: str, accuracy: str, data: str | None,
           runs: Path, screen: str) -> str:
    config = SearchConfig(space="nas_bench_macro", device=device, budget=f"{budget_ms:.6f}ms", trials=trials,
                          sampler=sampler, seed=seed, accuracy=accuracy, workers=1 if accuracy == "tabular" else 2,
                          screen=screen, runs_dir=str(runs), data=data,
                          name=f"{device}_{budget_ms:.4f}_{sampler}_{accuracy}_{screen}_{seed}")
    result = run_search(config, show_progress=False)
    assert result.best is not None
    return str(result.best.arch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", nargs="+", default=["cpu_x86", "rpi4"])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--trained-seeds", type=int, default=0,
                        help="seeds (from 0) whose cells also run the search with real training")
    parser.add_argument("--screened", action="store_true",
                        help="also run the default algorithm (NASWOT screening) with the tabular source: ~1 s a new arch")
    parser.add_argument("--data", default=None)
    parser.add_argument("--out", default=None)
    parser.add_argument("--space", default="nas_bench_macro", choices=("nas_bench_macro", "accel_nasbench"))
    parser.add_argument("--cells", default="bench", choices=("bench", "unseen"),
                        help="bench: the cells below (every arm); unseen: NAS-Bench-Macro devices and budgets no "
                             "default was chosen on (the arms of regret_arms.py)")
    args = parser.parse_args()
    memo = ScoreMemo()
    memo.install()
    share_cifar10()
    atexit.register(memo.save)
    if args.space == "accel_nasbench" or args.cells == "unseen":
        second(args.space if args.space == "accel_nasbench" else "unseen", args.seeds, args.data, args.out)
        return
    out = Path(args.out or OUT)
    document = json.loads(out.read_text()) if out.is_file() else {}
    document.update({"bench": "search_regret", "space": "nas_bench_macro", "trials": args.trials,
                     "ground_truth": "NAS-Bench-Macro 50-epoch CIFAR-10 test accuracy (mean over codes and seeds)"})
    cells = document.setdefault("cells", {})
    benchmark = load_benchmark()
    archs = benchmark.archs()
    truth = np.array([benchmark.accuracy(a) for a in archs])
    macs = np.array([arch_cost(a).macs for a in archs])
    estimator_name = best_estimator()
    document["estimator"] = estimator_name
    memo_hits = _share_trainings(TRAINING_MEMO)
    estimator = nas.accuracy.make_estimator(estimator_name,
                                            _data(args.data) if estimator_name not in ("macs", "params") else None)
    estimates: dict[str, float] = {}
    runs = Path(tempfile.mkdtemp(prefix="nas-regret-"))
    for device in args.devices:
        latency = load_table(device).compile().predict_many(archs)
        for budget_name, percentile in BUDGETS.items():
            budget = float(np.percentile(latency, percentile))
            feasible = np.flatnonzero(latency <= budget)
            best = float(truth[feasible].max())
            for seed in range(args.seeds):
                key = f"{device}/{budget_name}/{seed}"
                cell = cells.setdefault(key, {"budget_ms": budget, "best_feasible": best})
                regret = lambda text, best=best: (best - benchmark.accuracy(parse_arch(text))) * 100  # noqa: E731
                if "search_tabular" not in cell:
                    cell["search_tabular"] = regret(search(budget, device, seed, args.trials, "nsga2", "tabular",
                                                           None, runs, "none"))
                    cell["random_tabular"] = regret(search(budget, device, seed, args.trials, "random", "tabular",
                                                           None, runs, "none"))
                    cell["most_macs"] = float((best - truth[feasible[np.argmax(macs[feasible])]]) * 100)
                    pool = np.random.default_rng(seed).choice(feasible, min(args.trials, len(feasible)), replace=False)
                    for i in pool:
                        text = str(archs[i])
                        if text not in estimates:
                            estimates[text] = estimator.score(archs[i]).value
                    picked = max(pool, key=lambda i: estimates[str(archs[i])])
                    cell["estimator"] = float((best - truth[picked]) * 100)
                if "screened_tabular" not in cell and args.screened:
                    cell["screened_tabular"] = regret(search(budget, device, seed, args.trials, "nsga2", "tabular",
                                                             args.data, runs, "naswot"))
                if "search_trained" not in cell and seed < args.trained_seeds:
                    started, hits = time.perf_counter(), memo_hits[0]
                    cell["search_trained"] = regret(search(budget, device, seed, args.trials, "nsga2", "train",
                                                           args.data, runs, "naswot"))
                    cell["search_trained_seconds"] = time.perf_counter() - started
                    cell["search_trained_memo_hits"] = memo_hits[0] - hits
                _save(out, document)
                print(key, {k: round(v, 2) for k, v in cell.items() if isinstance(v, float)}, flush=True)
    run_cells(nas_bench_macro(), args.devices, BUDGETS, args.seeds, args.data, cells, lambda: _save(out, document))
    document["summary"] = summarise(cells, sorted({key.split("/")[0] for key in cells}))
    _save(out, document)
    print(json.dumps(document["summary"], indent=1))


def second(which: str, seeds: int, data: str | None, out_path: str | None) -> None:
    """The cells that run only the arms of regret_arms.py (``--cells unseen``, ``--space accel_nasbench``)."""
    devices, budgets, file_name, truth = SECOND[which]
    out = Path(out_path or RESULTS / file_name)
    document = json.loads(out.read_text()) if out.is_file() else {}
    ground = accel_nasbench() if which == "accel_nasbench" else nas_bench_macro()
    document.update({"bench": "search_regret", "space": ground.space, "trials": 16, "ground_truth": truth,
                     "universe": len(ground.archs), "budgets_percentiles": budgets})
    cells = document.setdefault("cells", {})
    run_cells(ground, devices, budgets, seeds, data, cells, lambda: _save(out, document))
    document["summary"] = summarise_arms(cells)
    document["targets"] = judge(document["summary"])
    _save(out, document)
    print(json.dumps(document["targets"], indent=1))


def judge(summary: dict) -> dict:
    """Per (device, budget): the default's median regret, whether it is <= 0.5 points, and each baseline it beats
    (a lower median), ties or loses to."""
    verdicts = {}
    for group, arms in summary.items():
        if "default" not in arms:
            continue
        mine = arms["default"]["median_regret_pts"]
        versus = {arm: ("ahead" if mine < row["median_regret_pts"] else "tied" if mine == row["median_regret_pts"]
                        else "behind") for arm, row in arms.items() if arm != "default"}
        verdicts[group] = {"default_median_pts": mine, "within_0.5": mine <= 0.5, "versus": versus}
    return verdicts


def summarise(cells: dict, devices: list[str]) -> dict:
    """Median regret per arm at each (device, budget), and the issue's targets judged on them."""
    summary: dict = {}
    for device in devices:
        for budget in BUDGETS:
            rows = [c for k, c in cells.items() if k.startswith(f"{device}/{budget}/")]
            arms = sorted({a for c in rows for a, v in c.items() if isinstance(v, float) and not a.endswith("_seconds")}
                          - {"budget_ms", "best_feasible"})
            summary[f"{device}/{budget}"] = {arm: {"median_regret_pts": float(np.median([c[arm] for c in rows if arm in c])),
                                                   "cells": sum(arm in c for c in rows)} for arm in arms}
    return summary


def _share_trainings(memo_path: Path) -> list[int]:
    """Every search of this bench looks a training up in one memo before training it (see the module's docstring);
    returns a one-item list counting the look-ups that hit, so far."""
    from nas.search.evaluator import Evaluator
    from nas.search.journal import Evaluation

    memo: dict[str, dict] = json.loads(memo_path.read_text()) if memo_path.is_file() else {}
    hits = [0]
    train_in_pool = Evaluator._evaluate_in_pool

    def key(evaluator: Evaluator, arch: str, rung: int, seed: int) -> str:
        """Every knob of the fidelity, not its label: the label leaves out weight decay, smoothing, schedule."""
        return json.dumps([arch, asdict(evaluator.fidelities[rung]), seed], sort_keys=True)

    def memoised(self: Evaluator, todo: list, desc: str, show_progress: bool) -> dict:
        results = {}
        for arch, rung, seed in todo:
            known = memo.get(key(self, arch, rung, seed))
            if known is not None:
                results[(arch, rung, seed)] = self._record(Evaluation(arch, rung, seed, known["accuracy"],
                                                                      self.fidelities[rung].label(), known["seconds"],
                                                                      known["history"]), False)
        hits[0] += len(results)
        fresh = train_in_pool(self, [r for r in todo if r not in results], desc, show_progress) \
            if len(results) < len(todo) else {}
        for (arch, rung, seed), evaluation in fresh.items():
            if self.journal.get((arch, rung, seed)) is not None:  # finished, not stopped early
                memo[key(self, arch, rung, seed)] = {"accuracy": evaluation.accuracy, "seconds": evaluation.seconds,
                                                     "history": evaluation.history}
        if fresh:
            merge_json_object(memo_path, memo)
        return {**results, **fresh}

    Evaluator._evaluate_in_pool = memoised
    return hits


def _data(path: str | None):  # noqa: ANN202 (Dataset)
    from nas.data import load_cifar10

    return load_cifar10(path)


def _save(path: Path, document: dict) -> None:
    atomic_write_text(path, json.dumps(document, indent=1) + "\n")


if __name__ == "__main__":
    main()
