"""The arms every search-regret cell runs, on either public ground truth: the default algorithm through the CLI, and
the free baselines beside it in the same cell.

A cell is a (device, budget, seed). Its universe is the networks whose trained accuracy the benchmark published:
all of NAS-Bench-Macro's space, Accel-NASBench's 4,129 distinct networks of 1e11 (the default search draws its
pre-screen pool from them with ``--candidates table``, so every accuracy it sees is looked up). Feasible means under
the budget by the device table's prediction, as the search judges it. Arms, each as regret in points (the best
feasible network's accuracy minus the returned one's):

* ``default``: ``nas search --accuracy tabular --seed S`` through the CLI, in this process, with the run's own
  defaults (pre-screen pool 2,048, the space's screen, 16 trained, the tie rule); the finalist is ``pareto.json``'s
  ``best_id``;
* ``random``: the best of 16 random feasible networks (random search with a full training of each: a generous
  baseline, its 16 evaluations all at the top fidelity);
* ``most_macs`` and ``most_params``: the feasible network with the most multiply-adds or parameters;
* ``one_line_rule``: the highest screening score among the 16 feasible networks with the most of the pre-screen signal
  for their latency in the search's own pool (the same pool, seed, signal and estimator: MACs and NASWOT on
  NAS-Bench-Macro, params and snip on Accel-NASBench): the default's stages without a search.

Screening scores are memoised across cells and searches (estimator, seed, scored arch -> score) in
``bench/results/search_regret_scores.json``: a score is deterministic given its seed, and the 9-12 cells of one seed
screen many of the same networks.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nas.arch import Arch
from nas.cost import arch_cost
from nas.fileio import merge_json_object
from nas.latency.table import CompiledTable

RESULTS = Path(__file__).resolve().parent / "results"
SCORES = RESULTS / "search_regret_scores.json"
LEGACY_NASWOT = RESULTS / "search_regret_naswot.json"
"""Seed-0 NASWOT scores at each arch's own resolution (arch -> score), kept by earlier runs of the bench."""
TRIALS, POOL = 16, 2048


@dataclass
class Ground:
    """A benchmark's universe: its networks, their published accuracy (points) and free costs."""

    space: str
    archs: list[Arch]
    truth: np.ndarray
    candidates_table: bool
    """Whether the default search needs ``--candidates table`` to stay inside the universe."""

    @functools.cached_property
    def macs(self) -> np.ndarray:
        return np.array([arch_cost(a).macs for a in self.archs], float)

    @functools.cached_property
    def params(self) -> np.ndarray:
        return np.array([arch_cost(a).params for a in self.archs], float)

    @functools.cached_property
    def by_text(self) -> dict[str, int]:
        return {str(a): i for i, a in enumerate(self.archs)}

    @functools.cached_property
    def model(self) -> Any:  # noqa: ANN401 (a SearchSpace)
        from nas.space import load_space

        return load_space(self.space)

    @property
    def universe(self) -> list[Arch] | None:
        """What the search draws its pool from: the published networks where the space holds more."""
        return self.archs if self.candidates_table else None


def screen_scores(ground: Ground, archs: list[Arch], seed: int, data: str | None) -> list[float]:
    """The space's screen on ``archs`` with ``seed``, through the search's own journal class (so the scored input,
    at the space's screen resolution, is the search's), in a throw-away folder."""
    from nas.data import load_cifar10
    from nas.search.config import space_screen
    from nas.search.screening import ScreeningJournal

    with tempfile.TemporaryDirectory() as folder:
        journal = ScreeningJournal(space_screen(ground.space), Path(folder) / "s.jsonl", lambda: load_cifar10(data),
                                   seed, ground.model.screen_resolution)
        return journal.score(archs)


def nas_bench_macro() -> Ground:
    from nas.accuracy.nas_bench_macro import load_benchmark

    benchmark = load_benchmark()
    archs = benchmark.archs()
    return Ground("nas_bench_macro", archs, np.array([benchmark.accuracy(a) * 100 for a in archs]), False)


def accel_nasbench() -> Ground:
    from nas.accuracy.accel_nasbench import AccelNasBench

    bench = AccelNasBench()
    archs = bench.archs()
    return Ground("accel_nasbench", archs, np.array([bench.published[str(a)] * 100 for a in archs]), True)


class ScoreMemo:
    """Every screening estimator made in this process answers from one memo first (see the module docstring)."""

    def __init__(self, path: Path = SCORES) -> None:
        self.path = path
        self.scores: dict[str, float] = json.loads(path.read_text()) if path.is_file() else {}
        if LEGACY_NASWOT.is_file():
            for arch, value in json.loads(LEGACY_NASWOT.read_text()).items():
                self.scores.setdefault(f"naswot|0|{arch}", value)
        self.fresh = 0

    def install(self) -> None:
        from nas.accuracy.estimator import Score
        from nas.accuracy.registry import EstimatorEntry

        make, memo = EstimatorEntry.make, self

        class Memoised:
            def __init__(self, inner: Any, name: str, seed: int) -> None:  # noqa: ANN401
                self.inner, self.name, self.seed = inner, name, seed
                self.cost = getattr(inner, "cost", "")

            def score(self, arch: Arch) -> Score:
                key = f"{self.name}|{self.seed}|{arch}"
                if key not in memo.scores:
                    memo.scores[key] = self.inner.score(arch).value
                    memo.fresh += 1
                    if memo.fresh % 25 == 0:
                        memo.save()
                return Score(memo.scores[key], "zero-cost (memoised by the bench)")

        def memoised_make(entry: EstimatorEntry, data: Any = None, seed: int = 0) -> Any:  # noqa: ANN401
            return Memoised(make(entry, data, seed), entry.name, seed)

        EstimatorEntry.make = memoised_make  # type: ignore[method-assign]

    def save(self) -> None:
        merge_json_object(self.path, self.scores)


def share_cifar10() -> None:
    """Every search of the bench loads CIFAR-10 once (the screen's images), not once a search."""
    import nas.data

    nas.data.load_cifar10 = functools.cache(nas.data.load_cifar10)


def default_search(ground: Ground, device: str, budget_ms: float, seed: int, data: str | None, runs: Path) -> str:
    """The finalist of ``nas search --accuracy tabular`` on its defaults, run through the CLI; its arch string."""
    from nas.cli import main

    name = f"{device}_{budget_ms:.6f}_{seed}"
    argv = ["search", "--space", ground.space, "--device", device, "--budget", f"{budget_ms:.6f}ms",
            "--accuracy", "tabular", "--seed", str(seed), "--workers", "1", "--runs-dir", str(runs), "--name", name]
    argv += ["--candidates", "table"] if ground.candidates_table else []
    argv += ["--data", data] if data else []
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    if code != 0:
        raise RuntimeError(f"nas {' '.join(argv)} exited {code}: {err.getvalue()[-2000:]}")
    summary = json.loads((runs / name / "pareto.json").read_text())
    return next(p["arch"] for p in summary["front"] if p["id"] == summary["best_id"])


def free_arms(ground: Ground, compiled: CompiledTable, latency: np.ndarray, budget_ms: float, seed: int,
              data: str | None) -> dict[str, float]:
    """The free baselines of one cell (see the module docstring), as regret in points; ``compiled`` is the device's
    compiled table, ``latency`` its prediction for every network of the universe."""
    from nas.search.config import space_prescreen
    from nas.search.initial import capacity_archs

    feasible = np.flatnonzero(latency <= budget_ms)
    best = ground.truth[feasible].max()
    sample = np.random.default_rng(seed).choice(feasible, min(TRIALS, len(feasible)), replace=False)
    arms = {"random": best - ground.truth[sample].max(),
            "most_macs": best - ground.truth[feasible[np.argmax(ground.macs[feasible])]],
            "most_params": best - ground.truth[feasible[np.argmax(ground.params[feasible])]]}
    shortlist = [a for a, _ in capacity_archs(ground.model, compiled, budget_ms, TRIALS, seed, POOL, ground.universe,
                                              space_prescreen(ground.space))]
    picked = shortlist[int(np.argmax(screen_scores(ground, shortlist, seed, data)))]
    arms["one_line_rule"] = best - ground.truth[ground.by_text[str(picked)]]
    return {arm: float(value) for arm, value in arms.items()}


def run_cells(ground: Ground, devices: list[str], budgets: dict[str, float], seeds: int, data: str | None,
              cells: dict[str, dict], save: Any, default: bool = True) -> None:  # noqa: ANN401 (a callable)
    """Every (device, budget percentile, seed) cell's missing arms, saved after each cell (an interrupted run
    resumes); ``budgets`` names each budget by the percentile of the universe's predicted latencies it sits at."""
    import time

    from nas.latency.table import load_table

    runs = Path(tempfile.mkdtemp(prefix="nas-regret-"))
    for device in devices:
        compiled = load_table(device).compile()
        latency = compiled.predict_many(ground.archs)
        for budget_name, percentile in budgets.items():
            budget = float(np.percentile(latency, percentile))
            feasible = np.flatnonzero(latency <= budget)
            for seed in range(seeds):
                key = f"{device}/{budget_name}/{seed}"
                cell = cells.setdefault(key, {})
                cell.update(budget_ms=budget, best_feasible_pts=float(ground.truth[feasible].max()),
                            feasible=int(len(feasible)))
                if "one_line_rule" not in cell:
                    cell.update(free_arms(ground, compiled, latency, budget, seed, data))
                if default and "default" not in cell:
                    started = time.perf_counter()
                    arch = default_search(ground, device, budget, seed, data, runs)
                    cell["default"] = float(cell["best_feasible_pts"] - ground.truth[ground.by_text[arch]])
                    cell["default_seconds"] = time.perf_counter() - started
                    cell["default_arch"] = arch
                save()
                print(key, {k: round(v, 2) for k, v in cell.items() if isinstance(v, float)}, flush=True)


def summarise(cells: dict[str, dict], arms_of_interest: tuple[str, ...] = ()) -> dict[str, Any]:
    """Median regret per arm at each (device, budget), over the seeds of the cells ``device/budget/seed``."""
    groups: dict[str, list[dict]] = {}
    for key, cell in cells.items():
        groups.setdefault(key.rsplit("/", 1)[0], []).append(cell)
    summary: dict[str, Any] = {}
    for group, rows in sorted(groups.items()):
        values = {a for c in rows for a, v in c.items() if isinstance(v, float) and not a.endswith("_seconds")}
        arms = sorted(values - {"budget_ms", "best_feasible", "best_feasible_pts"})
        summary[group] = {arm: {"median_regret_pts": round(float(np.median([c[arm] for c in rows if arm in c])), 4),
                                "cells": sum(arm in c for c in rows)} for arm in arms}
    return summary
