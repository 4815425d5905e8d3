"""How well each accuracy estimator ranks networks against published full training (NAS-Bench-Macro).

Networks: ``--archs`` (default 96) distinct NAS-Bench-Macro networks, stratified over the 50-epoch
accuracy range with a fixed seed (the 3,969 networks sorted by accuracy, cut into equal bins, one
drawn per bin). Alternate networks form two halves: the **choice** half is where every choice is made
(which cheap signals to combine, the reference population of the rank ensemble, a fitted model's
weights); the **report** half is only reported.

Per estimator and half: Spearman and Kendall tau against the benchmark's accuracy (mean over the
network's codes and seeds) with bootstrap 95 % intervals, recall of the true top 10 %, and CPU
seconds per network (process time, both cores). The free baselines (MACs, params) run in the same
bench. Combinations: a rank ensemble and a least-squares model of the cheap signals chosen on the choice
half (forward selection by Spearman there), and, where training rungs were scored, a model of the
cheap signals fitted to the rung-1 accuracies of the choice half (what a search knows after training some).

Second space: the same estimators on the ghost_mbv2 networks of ``bench/proxy_fidelity.py`` (ground
truth: its long training, mean of the seeds it has), so that a choice that only works on
NAS-Bench-Macro shows up.

Scores are cached per (estimator, arch) in ``--cache`` files and written after every network, so an
interrupted run resumes; ``--shard i/n`` scores one share (one process per core), and a run without
``--scores-only`` reads every ``--cache`` given and reports.

    python bench/accuracy_fidelity.py --scores-only --shard 0/2 --cache part0.json --threads 1 &
    python bench/accuracy_fidelity.py --scores-only --shard 1/2 --cache part1.json --threads 1
    python bench/accuracy_fidelity.py --cache part0.json --cache part1.json     # report

Writes bench/results/accuracy_fidelity.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from nas.accuracy import FREE, TRAINING, ZERO_COST, make_estimator
from nas.accuracy.combined import FittedModel, RankEnsemble
from nas.accuracy.nas_bench_macro import load_benchmark
from nas.arch import parse_arch
from nas.data import load_cifar10
from nas.search.screening import blended, percentiles
from nas.stats import kendall_tau, spearman_rho

RESULTS = Path(__file__).resolve().parent / "results"
OUT = RESULTS / "accuracy_fidelity.json"
PROXY_SET = RESULTS / "proxy_fidelity.json"
RANKING = Path(__file__).resolve().parent.parent / "nas" / "accuracy" / "ranking.json"
BOOTSTRAP = 1000
CHEAP = (*FREE, *ZERO_COST)


def stratified(benchmark, count: int, seed: int) -> list[str]:  # noqa: ANN001 (NasBenchMacro)
    """``count`` distinct networks, one from each of ``count`` equal bins of the accuracy-sorted population."""
    archs = sorted(benchmark.archs(), key=benchmark.accuracy)
    rng = np.random.default_rng(seed)
    edges = np.linspace(0, len(archs), count + 1).astype(int)
    return [str(archs[int(rng.integers(lo, hi))]) for lo, hi in zip(edges[:-1], edges[1:])]


def ghost_set() -> dict[str, float]:
    """The ghost_mbv2 networks of bench/proxy_fidelity.py and their long-training accuracy (mean of its seeds)."""
    rows = json.loads(PROXY_SET.read_text())["rows"]
    truth = {}
    for arch, row in rows.items():
        seeds = [row[k] for k in ("long_s0", "long_s1") if row.get(k) is not None]
        if seeds:
            truth[arch] = float(np.mean(seeds))
    return truth


def stored_rungs() -> dict[str, dict[str, float]]:
    """The ghost_mbv2 set's rung accuracies as proxy_fidelity.py trained them (the old final rung included)."""
    rows = json.loads(PROXY_SET.read_text())["rows"]
    return {arch: {"rung0": row.get("rung0_s0"), "rung1": row.get("rung1_s0")} for arch, row in rows.items()}


def read_caches(paths: list[str]) -> dict[str, dict[str, dict]]:
    scores: dict[str, dict[str, dict]] = {}
    for path in paths:
        if Path(path).is_file():
            for name, by_arch in json.loads(Path(path).read_text()).items():
                scores.setdefault(name, {}).update(by_arch)
    return scores


def score_all(archs: list[str], names: list[str], cache: Path, data) -> None:  # noqa: ANN001 (Dataset)
    """Score every (estimator, arch) not yet in ``cache``, writing it after every arch."""
    scores = read_caches([str(cache)])
    estimators = {name: make_estimator(name, data) for name in names}
    started = time.perf_counter()
    todo = [a for a in archs if any(a not in scores.get(name, {}) for name in names)]
    scored = 0
    for i, text in enumerate(archs):
        arch = parse_arch(text)
        scored += text in todo
        for name, estimator in estimators.items():
            if text in scores.get(name, {}):
                continue
            result = estimator.score(arch)
            scores.setdefault(name, {})[text] = {"value": result.value, "seconds": result.seconds,
                                                 "fidelity": result.fidelity}
        tmp = cache.with_suffix(".tmp")
        tmp.write_text(json.dumps(scores) + "\n")
        os.replace(tmp, cache)
        elapsed = time.perf_counter() - started
        eta = elapsed / scored * (len(todo) - scored) if scored else 0.0  # the rate of archs scored here, not cached
        print(f"{i + 1}/{len(archs)} archs scored ({len(todo)} not cached), {elapsed / 60:.1f} min, ETA {eta / 60:.1f} min",
              file=sys.stderr, flush=True)


def bootstrap(x: np.ndarray, y: np.ndarray, seed: int = 0) -> dict[str, list[float]]:
    rng = np.random.default_rng(seed)
    rhos, taus = [], []
    for _ in range(BOOTSTRAP):
        pick = rng.integers(0, len(x), len(x))
        if len(set(pick.tolist())) < 3:
            continue
        rhos.append(spearman_rho(x[pick], y[pick]))
        taus.append(kendall_tau(x[pick], y[pick]))
    interval = lambda v: [float(np.nanpercentile(v, 2.5)), float(np.nanpercentile(v, 97.5))]  # noqa: E731
    return {"spearman_95": interval(rhos), "kendall_95": interval(taus)}


def top_recall(x: np.ndarray, y: np.ndarray, share: float = 0.1) -> float:
    k = max(1, int(round(share * len(x))))
    return len(set(np.argsort(-x)[:k]) & set(np.argsort(-y)[:k])) / k


def judge(values: list[float], truth: list[float], seconds: list[float]) -> dict:
    x, y = np.asarray(values, float), np.asarray(truth, float)
    finite = np.isfinite(x)
    x = np.where(finite, x, np.nanmin(x[finite]) - 1 if finite.any() else 0.0)  # a failed score ranks last
    return {"n": len(x), "spearman": spearman_rho(x, y), "kendall": kendall_tau(x, y), **bootstrap(x, y),
            "top10_recall": top_recall(x, y), "cpu_seconds_per_net": float(np.median(seconds)) if seconds else 0.0,
            "failed_scores": int((~finite).sum())}


def forward_selection(scores: dict[str, dict[str, dict]], archs: list[str], truth: list[float],
                      names: list[str]) -> list[str]:
    """Greedy: add the cheap signal that most raises the rank ensemble's Spearman on these archs, while it rises."""
    chosen: list[str] = []
    best = -math.inf
    while True:
        trial = {}
        for name in names:
            if name in chosen:
                continue
            members = [*chosen, name]
            ranks = [percentiles({a: scores[m][a]["value"] for a in archs}) for m in members]
            ensemble = [np.mean([r[a] for r in ranks]) for a in archs]
            trial[name] = spearman_rho(np.asarray(ensemble), np.asarray(truth))
        if not trial or max(trial.values()) <= best + 1e-3:
            return chosen
        pick = max(trial, key=trial.get)
        chosen.append(pick)
        best = trial[pick]


class _Known:
    """A stand-in estimator whose scores are already in the cache (combinations re-score nothing)."""

    cost = "cached"

    def __init__(self, name: str, by_arch: dict[str, dict]) -> None:
        self.name, self.by_arch = name, by_arch

    def score(self, arch):  # noqa: ANN001, ANN201
        from nas.accuracy.estimator import Score

        return Score(self.by_arch[str(arch)]["value"], "cached")


def report(scores: dict[str, dict[str, dict]], archs: list[str], truth_of: dict[str, float]) -> dict:
    choice, held = archs[0::2], archs[1::2]
    out: dict = {"estimators": {}, "halves": {"choice": len(choice), "report": len(held)}}
    names = [n for n in CHEAP if n in scores and all(a in scores[n] for a in archs)]
    names += [n for n in TRAINING if n in scores and sum(a in scores[n] for a in archs) >= 8]  # may be partial
    for name in names:
        out["estimators"][name] = {
            half: judge([scores[name][a]["value"] for a in subset if a in scores[name]],
                        [truth_of[a] for a in subset if a in scores[name]],
                        [scores[name][a]["seconds"] for a in subset if a in scores[name]])
            for half, subset in (("choice", choice), ("report", held))}
        out["estimators"][name]["fidelity"] = next(iter(scores[name].values()))["fidelity"]
    cheap = [n for n in CHEAP if n in names]
    chosen = forward_selection(scores, choice, [truth_of[a] for a in choice], cheap)
    out["chosen_on_choice_half"] = chosen
    known = [_Known(n, scores[n]) for n in chosen]
    seconds = [sum(scores[n][a]["seconds"] for n in chosen) for a in held]
    ensemble = RankEnsemble(known, [parse_arch(a) for a in choice],
                            {n: [scores[n][a]["value"] for a in choice] for n in chosen})
    values = [ensemble.combine({n: scores[n][a]["value"] for n in chosen}) for a in held]
    out["estimators"][ensemble.name] = {"report": judge(values, [truth_of[a] for a in held], seconds),
                                        "fidelity": "mean percentile within the choice half"}
    fitted = FittedModel([_Known(n, scores[n]) for n in cheap], [parse_arch(a) for a in choice],
                         [truth_of[a] for a in choice], {n: [scores[n][a]["value"] for a in choice] for n in cheap})
    values = [fitted.combine({n: scores[n][a]["value"] for n in cheap}) for a in held]
    out["estimators"]["fit_to_truth(" + "+".join(cheap) + ")"] = {
        "report": judge(values, [truth_of[a] for a in held], [sum(scores[n][a]["seconds"] for n in cheap) for a in held]),
        "fidelity": "least squares on the choice half's 50-epoch accuracies (needs a table: an upper bound)"}
    trained_choice = [a for a in choice if a in scores.get("rung1", {})]
    if len(trained_choice) >= 8:
        fitted = FittedModel([_Known(n, scores[n]) for n in cheap], [parse_arch(a) for a in trained_choice],
                             [scores["rung1"][a]["value"] for a in trained_choice],
                             {n: [scores[n][a]["value"] for a in trained_choice] for n in cheap})
        values = [fitted.combine({n: scores[n][a]["value"] for n in cheap}) for a in held]
        out["estimators"]["fit_to_rung1(" + "+".join(cheap) + ")"] = {
            "report": judge(values, [truth_of[a] for a in held],
                            [sum(scores[n][a]["seconds"] for n in cheap) for a in held]),
            "fidelity": f"least squares on {len(trained_choice)} rung-1 accuracies of the choice half (what a search "
                        "has trained)"}
        if "naswot" in names:
            out["blends"] = blend_curves(scores, choice, held, truth_of)
    return out


def blend_curves(scores: dict[str, dict[str, dict]], choice: list[str], held: list[str],
                 truth_of: dict[str, float]) -> dict:
    """The search's promotion merit, w x percentile(naswot) + (1 - w) x percentile(rung accuracy), percentiles
    within the networks judged (as the search takes them within its pool), at each weight of :data:`WEIGHTS`.
    The weight is chosen on the choice half (best Spearman) and reported on the other."""
    out = {}
    for rung in TRAINING:
        halves = {name: [a for a in half if a in scores.get(rung, {})] for name, half in (("choice", choice),
                                                                                         ("report", held))}
        if min(len(v) for v in halves.values()) < 8:
            continue
        curve = {}
        for weight in WEIGHTS:
            curve[f"{weight:g}"] = {}
            for half, archs in halves.items():
                merit = blended({a: scores["naswot"][a]["value"] for a in archs},
                                {a: scores[rung][a]["value"] for a in archs}, weight)
                curve[f"{weight:g}"][half] = judge([merit[a] for a in archs], [truth_of[a] for a in archs],
                                                   [scores["naswot"][a]["seconds"] + scores[rung][a]["seconds"]
                                                    for a in archs])
        chosen = max(curve, key=lambda w: (curve[w]["choice"]["spearman"], -float(w)))
        out[f"naswot+{rung}"] = {"curve": curve, "chosen_weight_on_choice_half": float(chosen),
                                 "n": {half: len(v) for half, v in halves.items()}}
    return out


WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


def ghost_report(scores: dict[str, dict[str, dict]], chosen: list[str]) -> dict:
    truth_of = ghost_set()
    archs = sorted(truth_of)
    rungs = stored_rungs()
    out: dict = {"n": len(archs), "ground_truth": "bench/proxy_fidelity.py long side, mean of its seeds",
                 "estimators": {}}
    for name in CHEAP:
        if name in scores and all(a in scores[name] for a in archs):
            out["estimators"][name] = judge([scores[name][a]["value"] for a in archs], [truth_of[a] for a in archs],
                                            [scores[name][a]["seconds"] for a in archs])
    for name in TRAINING:
        values = [rungs[a][name] for a in archs]
        if all(v is not None for v in values):
            out["estimators"][f"{name} (stored)"] = judge(values, [truth_of[a] for a in archs], [])
    for name in TRAINING:
        values = {a: rungs[a][name] for a in archs}
        if "naswot" in scores and all(v is not None for v in values.values()):
            for weight in WEIGHTS[1:-1]:
                merit = blended({a: scores["naswot"][a]["value"] for a in archs}, values, weight)
                out["estimators"][f"blend(naswot {weight:g}, {name} (stored))"] = judge(
                    [merit[a] for a in archs], [truth_of[a] for a in archs], [])
    if chosen and all(n in scores and all(a in scores[n] for a in archs) for n in chosen):
        ranks = [percentiles({a: scores[n][a]["value"] for a in archs}) for n in chosen]
        values = [np.mean([r[a] for r in ranks]) for a in archs]
        out["estimators"]["rank(" + "+".join(chosen) + ")"] = judge(values, [truth_of[a] for a in archs], [])
    return out


def ranking_summary(document: dict) -> dict:
    """How well each estimator the search can use ranks, as the package ships it (``nas.accuracy.measured``)."""
    def entry(judged: dict) -> dict:
        return {"spearman": round(judged["spearman"], 3), "spearman_95": [round(v, 2) for v in judged["spearman_95"]],
                "n": judged["n"]}

    macro, ghost = document["nas_bench_macro"], document["ghost_mbv2"]["estimators"]
    out: dict = {"source": "bench/accuracy_fidelity.py", "date": document["date"],
                 "nas_bench_macro": "Spearman against NAS-Bench-Macro 50-epoch CIFAR-10 accuracy, held-out half",
                 "ghost_mbv2": "Spearman against the ghost_mbv2 set's longer training (bench/proxy_fidelity.py)",
                 "estimators": {}}
    for name, judged in macro["estimators"].items():
        if name in (*CHEAP, *TRAINING):
            row = {"nas_bench_macro": entry(judged["report"])}
            stored = ghost.get(name) or ghost.get(f"{name} (stored)")
            if stored:
                row["ghost_mbv2"] = entry(stored)
            out["estimators"][name] = row
    for pair, blend in macro.get("blends", {}).items():
        rung = pair.split("+")[1]
        for weight, judged in blend["curve"].items():
            if weight in ("0", "1"):
                continue
            row = {"nas_bench_macro": entry(judged["report"])}
            stored = ghost.get(f"blend(naswot {weight}, {rung} (stored))")
            if stored:
                row["ghost_mbv2"] = entry(stored)
            out["estimators"][f"blend(naswot {weight}, {rung})"] = row
        out[f"chosen_weight(naswot+{rung})"] = blend["chosen_weight_on_choice_half"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", type=int, default=96)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train", action="store_true", help="also score the training rungs (slow: ~25 s a net)")
    parser.add_argument("--data", default=None, help="CIFAR-10 (default: $NAS_DATA, then the cache)")
    parser.add_argument("--cache", action="append", help="score cache file(s) (default bench/results/"
                        "accuracy_fidelity_scores.json)")
    parser.add_argument("--shard", default="0/1", help="i/n: score every n-th network from the i-th")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument("--scores-only", action="store_true", help="score into the cache, do not report")
    parser.add_argument("--no-ghost", action="store_true", help="skip the ghost_mbv2 set (a quick look)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    caches = args.cache or [str(RESULTS / "accuracy_fidelity_scores.json")]
    benchmark = load_benchmark()
    archs = stratified(benchmark, args.archs, args.seed)
    truth_of = {a: benchmark.accuracy(parse_arch(a)) for a in archs}
    index, shards = (int(v) for v in args.shard.split("/"))
    names = [*CHEAP, *(TRAINING if args.train else ())]
    todo = [*archs, *([] if args.no_ghost else sorted(ghost_set()))][index::shards]
    score_all(todo, [n for n in names if n not in TRAINING], Path(caches[0]), load_cifar10(args.data))
    if args.train:
        score_all(archs[index::shards], list(TRAINING), Path(caches[0]), load_cifar10(args.data))
    if args.scores_only:
        return
    scores = read_caches(caches)
    document = {"bench": "accuracy_fidelity", "date": time.strftime("%Y-%m-%d"), "torch_threads": torch.get_num_threads(),
                "ground_truth": "NAS-Bench-Macro 50-epoch CIFAR-10 test accuracy (mean over codes and 3 seeds)",
                "archs": args.archs, "seed": args.seed, "nas_bench_macro": report(scores, archs, truth_of)}
    if not args.no_ghost:
        document["ghost_mbv2"] = ghost_report(scores, document["nas_bench_macro"]["chosen_on_choice_half"])
    out = Path(args.out)
    out.write_text(json.dumps(document, indent=1) + "\n")
    if not args.no_ghost and out.resolve() == OUT.resolve():
        RANKING.write_text(json.dumps(ranking_summary(document), indent=1) + "\n")
        print(f"wrote {RANKING}")
    rows = [(name, r.get("report", r)) for name, r in document["nas_bench_macro"]["estimators"].items()]
    print(f"{'estimator':48} {'Spearman [95 %]':>26} {'tau':>6} {'top10':>6} {'cpu s':>7}")
    for name, r in rows:
        print(f"{name[:48]:48} {r['spearman']:6.3f} [{r['spearman_95'][0]:.2f}, {r['spearman_95'][1]:.2f}]"
              f"{'':8} {r['kendall']:6.3f} {r['top10_recall']:6.2f} {r['cpu_seconds_per_net']:7.2f}")
    print(f"chosen on the choice half: {document['nas_bench_macro']['chosen_on_choice_half']}; wrote {out}")


if __name__ == "__main__":
    main()
