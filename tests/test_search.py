"""The search: budget parsing, fronts with noise ties, a real (tiny) search run, resume after SIGKILL,
export and report, and one-line errors for bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import onnx
import pytest
import torch
import yaml
from conftest import built_once, run_main

from nas.search.config import ConfigError, SearchConfig, parse_budget
from nas.search.pareto import Point, dominates, hypervolume, pareto_front

TINY_RUNGS = [{"epochs": 1, "subset": 100, "batch_size": 50, "val_size": 100, "lr": 0.1, "resolution": 16},
              {"epochs": 1, "subset": 200, "batch_size": 50, "val_size": 100, "lr": 0.1, "resolution": 16}]
"""Two rungs at 16 px: the search's machinery at a third of the 32 px cost (what they learn is not tested here)."""


def _config(tmp: Path, **overrides: object) -> SearchConfig:
    values = {"space": "shufflenet_v2", "device": "cpu_x86", "budget": "50ms", "trials": 3, "data": "synthetic",
              "eta": 3, "runs_dir": str(tmp), "rungs": TINY_RUNGS, "baseline_seeds": 2, "threads": 1, "name": "r1",
              "workers": 1}  # worker processes only where a test is about them: each one starts torch
    values.update(overrides)
    return SearchConfig(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("text,ms", [("30ms", 30.0), ("30 ms", 30.0), ("0.03s", 30.0), ("1.5MS", 1.5), ("500us", 0.5)])
def test_budget_parses_with_units(text: str, ms: float) -> None:
    assert parse_budget(text) == pytest.approx(ms)


@pytest.mark.parametrize("text", ["30", "fast", "ms", "-3ms", "0ms"])
def test_budget_without_unit_is_refused(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_budget(text)


def test_noise_ties_go_to_the_faster_arch() -> None:
    fast, slow = Point("fast", 0.800, 1.0), Point("slow", 0.805, 2.0)
    assert not dominates(fast, slow) and {p.key for p in pareto_front([fast, slow])} == {"fast", "slow"}
    assert dominates(fast, slow, noise=0.01)
    assert [p.key for p in pareto_front([fast, slow], noise=0.01)] == ["fast"]
    assert not dominates(fast, Point("much better", 0.9, 2.0), noise=0.01)


def test_with_a_merit_noise_ties_go_to_the_higher_merit_and_clear_wins_stay_wins() -> None:
    from nas.search.pareto import front_best

    fast, slow = Point("fast", 0.800, 1.0), Point("slow", 0.795, 2.0)  # a tie within 0.01, slow a bit lower
    prefers_slow = {"fast": 0.2, "slow": 0.9}
    assert [p.key for p in pareto_front([fast, slow], 0.01, prefers_slow)] == ["fast", "slow"]
    assert front_best([fast, slow], 0.01, prefers_slow).key == "slow"
    prefers_fast = {"fast": 0.9, "slow": 0.2}
    assert [p.key for p in pareto_front([fast, slow], 0.01, prefers_fast)] == ["fast"]
    assert front_best([fast, slow], 0.01, prefers_fast).key == "fast"
    # beyond the noise the trained accuracy decides, whatever the merit says
    clear = Point("clear", 0.9, 3.0)
    merit = {"fast": 0.9, "slow": 0.5, "clear": 0.0}
    assert [p.key for p in pareto_front([clear, slow, fast], 0.01, merit)] == ["fast", "clear"]
    assert front_best([fast, clear], 0.01, merit).key == "clear"
    # without a merit the old rule holds: the faster arch wins the tie, the best is the most accurate
    assert [p.key for p in pareto_front([fast, slow], 0.01)] == ["fast"]
    assert front_best([fast, slow], 0.01).key == "fast" and front_best([slow, clear]).key == "clear"


def test_a_chain_of_noise_ties_does_not_remove_a_clearly_better_arch() -> None:
    """Measured in a default search: b ties a, c ties b, but c beats a by 1.5x the noise."""
    a, b, c = Point("a", 0.332, 16.10), Point("b", 0.359, 16.12), Point("c", 0.381, 30.0)
    assert [p.key for p in pareto_front([c, b, a], noise=0.032)] == ["a", "c"]
    assert [p.key for p in pareto_front([c, b, a])] == ["a", "b", "c"]


def test_comparison_with_the_baseline_uses_its_mean_and_the_gap_noise() -> None:
    from nas.search.pareto import compare_to_baseline

    tie = compare_to_baseline([0.332], [0.380, 0.335], noise_sd=0.032)
    assert tie["gap_pts"] == pytest.approx(-2.55) and tie["verdict"] == "within the seed noise"
    assert tie["band_pts"] == pytest.approx(2 * 3.2 * 1.5**0.5)
    assert compare_to_baseline([0.45], [0.380, 0.335], noise_sd=0.01)["verdict"] == "ahead"
    assert compare_to_baseline([0.30], [0.380, 0.335], noise_sd=0.01)["verdict"] == "behind"
    both = compare_to_baseline([0.40, 0.38], [0.380, 0.335], noise_sd=0.01)  # mean against mean, two seeds each
    assert both["gap_pts"] == pytest.approx(3.25) and both["band_pts"] == pytest.approx(2.0)


@pytest.mark.parametrize("workers,batches", [(1, [["lucky"], ["steady"]]), (2, [["lucky", "steady"]])])
def test_the_finalist_is_judged_by_its_seed_mean_and_a_fallen_finalist_hands_over(workers: int,
                                                                                   batches: list) -> None:
    """Winner's curse: 'lucky' was best on one seed (0.50) but its second seed gives 0.20; its mean (0.35)
    falls below 'steady' (0.45) beyond the noise, so 'steady' is confirmed in turn. The noise pools every
    arch trained with several seeds at the rung (here also a baseline with 9 identical seeds). With two
    workers the runner-up is confirmed beside the finalist, in one batch."""
    from types import SimpleNamespace

    from nas.search.journal import EvaluationJournal
    from nas.search.run import Candidate, _confirmed_front
    from nas.space import resolve_arch

    lucky, steady = Candidate(resolve_arch("mobilenet_v2_0.5"), 20.0), Candidate(resolve_arch("mobilenet_v2_0.75"), 25.0)
    reruns = {str(lucky.arch): 0.20, str(steady.arch): 0.44}
    trained: list[Candidate] = []
    calls: list[list[str]] = []

    class Journal:
        cache = [SimpleNamespace(arch="baseline", rung=1, accuracy=0.35) for _ in range(9)]

        def evaluations(self, rung: int) -> list:
            return [e for e in self.cache if e.rung == rung]

        noise = EvaluationJournal.noise

    journal = Journal()

    class Evaluator:
        def evaluate(self, arch: object, rung: int, seed: int) -> SimpleNamespace:
            trained.append(next(c for c in (lucky, steady) if c.arch == arch))
            journal.cache.append(SimpleNamespace(arch=str(arch), rung=rung, accuracy=reruns[str(arch)]))
            return journal.cache[-1]

        def evaluate_many(self, requests: list, desc: str = "", show_progress: bool = False) -> list:
            calls.append(["lucky" if arch == lucky.arch else "steady" for arch, _, _ in requests])
            return [self.evaluate(arch, rung, seed) for arch, rung, seed in requests]

        def trainings(self, arch: object) -> None:
            return None  # a training evaluator: every seed is a fresh training

    fake = SimpleNamespace(config=SimpleNamespace(seed=0, finalist_seeds=2, workers=workers, fidelities=[None, None]),
                           journal=journal, evaluator=Evaluator(), screening=None)
    for candidate, first in ((lucky, 0.50), (steady, 0.45)):
        candidate.record(0, 0, 0.3)
        candidate.record(1, 0, first)
        journal.cache.append(SimpleNamespace(arch=str(candidate.arch), rung=1, accuracy=first))
    front, noise, best = _confirmed_front(fake, [lucky, steady], show_progress=False)  # type: ignore[arg-type]
    assert trained == [lucky, steady] and calls == batches and best is steady
    assert lucky.accuracy[1] == pytest.approx(0.35) and steady.accuracy[1] == pytest.approx(0.445)
    assert noise is not None and 0 < noise < 0.09 and front == [lucky, steady]


def test_hypervolume_of_known_fronts() -> None:
    assert hypervolume([Point("a", 0.5, 0.0)], budget_ms=10) == pytest.approx(0.5)
    two = [Point("a", 0.4, 0.0), Point("b", 0.8, 5.0), Point("over", 1.0, 11.0)]
    assert hypervolume(two, budget_ms=10) == pytest.approx(0.5 * 0.4 + 0.5 * 0.8)
    assert hypervolume([], budget_ms=10) == 0.0


def test_initial_design_spreads_feasible_archs_over_the_latency_range() -> None:
    import numpy as np
    import optuna

    from nas.latency.table import load_table
    from nas.search.initial import latency_stratified
    from nas.space import load_space

    space, compiled = load_space("ghost_mbv2"), load_table("rpi4").compile()
    random_latency = compiled.predict_many(space.sample_random(2000, seed=5))
    budget = float(np.median(random_latency))
    design = latency_stratified(space, compiled, budget, 8, seed=1)
    archs = [space.sample_trial(optuna.trial.FixedTrial(params)) for params in design]  # the params rebuild the archs
    latency = np.sort(compiled.predict_many(archs))
    assert len({str(a) for a in archs}) == 8 and latency.max() <= budget
    feasible = random_latency[random_latency <= budget]
    # evenly spread: from the fast end to just under the budget, where random archs would crowd the middle
    assert latency[0] <= np.percentile(feasible, 2) and latency[-1] >= np.percentile(feasible, 98)
    assert np.diff(latency).max() < 0.3 * (latency[-1] - latency[0])


def test_the_capacity_front_screens_the_archs_with_the_most_macs_for_their_latency() -> None:
    import numpy as np
    import optuna

    from nas.cost import arch_cost
    from nas.latency.table import load_table
    from nas.search.initial import _feasible_pool, capacity_archs, capacity_front
    from nas.space import load_space

    space, compiled = load_space("ghost_mbv2"), load_table("rpi4").compile()
    random_archs = space.sample_random(400, seed=5)
    random_latency = compiled.predict_many(random_archs)
    budget = float(np.median(random_latency))
    design = capacity_front(space, compiled, budget, 12, seed=1, pool=300)
    archs = [space.sample_trial(optuna.trial.FixedTrial(params)) for params in design]  # the params rebuild the archs
    latency = compiled.predict_many(archs)
    assert len({str(a) for a in archs}) == 12 and latency.max() <= budget
    with_archs = capacity_archs(space, compiled, budget, 12, seed=1, pool=300)  # what benches replay the stages with
    assert [params for _, params in with_archs] == design and [str(a) for a, _ in with_archs] == [str(a) for a in archs]
    pool = _feasible_pool(space, compiled, budget, 300, seed=1)
    assert len(pool) == 300 and all(ms <= budget for _, _, ms in pool.values())
    pool_macs = [arch_cost(arch).macs for arch, _, _ in pool.values()]
    assert arch_cost(archs[0]).macs == max(pool_macs)  # the first front's top: the most MACs in the pool
    feasible = [a for a, ms in zip(random_archs, random_latency) if ms <= budget]
    assert np.median([arch_cost(a).macs for a in archs]) > np.percentile([arch_cost(a).macs for a in feasible], 75)
    assert latency.max() > np.percentile(random_latency[random_latency <= budget], 90)  # it reaches the budget
    # no arch under the budget gives an empty design, and so does asking for none
    small = capacity_front(load_space("nas_bench_macro"), load_table("cpu_x86").compile(), 0.0, 8, seed=0, pool=50)
    assert small == [] and capacity_front(space, compiled, budget, 0, seed=1, pool=50) == []


def test_a_screening_run_starts_from_the_capacity_front_and_an_old_config_does_not(tmp_path: Path) -> None:
    from nas.search.context import SearchContext
    from nas.search.optuna_driver import initial_design

    config = _config(tmp_path, trials=3, name="capacity", rungs=TINY_RUNGS[:1], screen="macs", prescreen_pool=200)
    assert len(initial_design(config, SearchContext(config))) == config.screened == 12
    config = _config(tmp_path, trials=3, name="sampled", rungs=TINY_RUNGS[:1], screen="macs", prescreen_pool=0)
    assert len(initial_design(config, SearchContext(config))) == 4  # NSGA-II's first generation only
    old = tmp_path / "config.yaml"
    old.write_text("space: shufflenet_v2\ndevice: cpu_x86\nbudget: 50ms\nscreen: naswot\n")
    assert SearchConfig.load(old).prescreen_pool == 0
    for bad in (-1, 1.5, True):
        with pytest.raises(ConfigError, match="prescreen_pool"):
            SearchConfig(prescreen_pool=bad).validate()  # type: ignore[arg-type]


@pytest.mark.e2e
def test_model_based_samplers_start_from_the_design_and_random_does_not(tmp_path: Path) -> None:
    from nas.search.context import SearchContext
    from nas.search.optuna_driver import initial_design, open_study, sample_with_optuna

    sizes = {}
    for sampler in ("nsga2", "tpe", "random"):
        config = _config(tmp_path, sampler=sampler, trials=4, name=f"design_{sampler}", rungs=TINY_RUNGS[:1],
                         screen="none")
        config.run_dir.mkdir(parents=True)
        sizes[sampler] = len(initial_design(config, SearchContext(config)))
    assert sizes == {"nsga2": 4, "tpe": 4, "random": 0}
    config = _config(tmp_path, sampler="nsga2", trials=4, name="design_nsga2", rungs=TINY_RUNGS[:1], screen="none")
    context = SearchContext(config)
    sample_with_optuna(config, context, show_progress=False)
    assert [t.params for t in open_study(config).trials[:4]] == initial_design(config, context)


def test_a_training_on_a_worker_process_is_the_training_done_here(tmp_path: Path) -> None:
    """The pool trains exactly what the in-process evaluator trains (same accuracies, same weights), a
    request repeated in one batch is trained once, and every finished training is on disk."""
    from nas.search.context import SearchContext
    from nas.train import train

    config = _config(tmp_path, name="pool", workers=2, threads=1)
    config.run_dir.mkdir(parents=True)
    context = SearchContext(config)
    first, second = context.space.sample_random(2, seed=3)
    try:
        got = context.evaluator.evaluate_many([(first, 0, 0), (second, 1, 5), (first, 0, 0)])
    finally:
        context.close()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        expected_first, _ = train(first, context.evaluator.data, config.fidelities[0], seed=0)
        expected_second, model = train(second, context.evaluator.data, config.fidelities[1], seed=5)
    finally:
        torch.set_num_threads(threads)
    assert [e.accuracy for e in got] == [expected_first.accuracy, expected_second.accuracy, expected_first.accuracy]
    assert got[1].history == expected_second.history and (got[1].rung, got[1].seed) == (1, 5)
    saved = torch.load(context.folder.weights_path(second, 1, 5), weights_only=True)  # top rung: weights kept
    assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items())
    assert len((config.run_dir / "evaluations.jsonl").read_text().splitlines()) == 2


@pytest.mark.parametrize("workers", [1, 2])
def test_a_diverged_training_is_reported_not_kept(tmp_path: Path, workers: int) -> None:
    """A training whose loss goes non-finite ends early with chance accuracy; it is returned, not cached."""
    from nas.search.context import SearchContext

    exploding = [{"epochs": 1, "subset": 200, "batch_size": 50, "val_size": 100, "lr": 1e12}]
    config = _config(tmp_path, name=f"diverged{workers}", workers=workers, rungs=exploding)
    config.run_dir.mkdir(parents=True)
    context = SearchContext(config)
    arch = context.space.sample_random(1, seed=3)[0]
    try:
        (evaluation,) = context.evaluator.evaluate_many([(arch, 0, 0)])
    finally:
        context.close()
    assert evaluation.accuracy == pytest.approx(0.1) and not len(context.journal)


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from nas.search.run import run_search

    def build(folder: Path) -> None:
        result = run_search(_config(folder, workers=2), show_progress=False)  # the default: two worker processes
        assert len(result.candidates) == 3 and result.front

    return built_once(tmp_path_factory, "finished_run", build) / "r1"


@pytest.mark.e2e
def test_run_folder_holds_everything(finished_run: Path) -> None:
    for name in ("config.yaml", "study.db", "trials.csv", "pareto.json", "evaluations.jsonl", "search.log"):
        assert (finished_run / name).is_file(), name
    summary = json.loads((finished_run / "pareto.json").read_text())
    assert summary["judged_at_rung"] == 1 and summary["fidelities"] == ["e1-n100-b50-r16-lr0.1", "e1-n200-b50-r16-lr0.1"]
    assert all(f["latency_ms"] <= 50 for f in summary["front"])
    assert summary["baseline"]["name"].startswith(("shufflenet", "mobilenet", "ghostnet"))
    assert len(summary["baseline"]["accuracies"]) == 2 and summary["noise_sd"] is not None
    assert summary["baseline"]["accuracy"] == pytest.approx(sum(summary["baseline"]["accuracies"]) / 2)  # the mean
    best = max(summary["front"], key=lambda f: f["accuracy"])
    assert len(best["accuracies"]) == 2 and best["accuracy"] == pytest.approx(sum(best["accuracies"]) / 2)
    assert 0 <= summary["overhead_fraction"] < 1
    config = yaml.safe_load((finished_run / "config.yaml").read_text())
    assert config["space"] == "shufflenet_v2" and config["rungs"] == TINY_RUNGS


@pytest.mark.e2e
def test_config_reruns_the_same_search(finished_run: Path, tmp_path: Path) -> None:
    from nas.search.optuna_driver import open_study
    from nas.search.run import run_search

    config = SearchConfig.load(finished_run / "config.yaml")
    config.name, config.runs_dir = "again", str(tmp_path)
    run_search(config, show_progress=False)

    def asked(run: Path) -> list[str]:
        """The archs in the order the sampler proposed them (the order trainings finish in may vary)."""
        study_config = SearchConfig.load(run / "config.yaml")
        study_config.runs_dir = str(run.parent)
        return [t.user_attrs["arch"] for t in open_study(study_config).trials if "arch" in t.user_attrs]

    def trained(run: Path) -> list[tuple]:
        records = map(json.loads, (run / "evaluations.jsonl").read_text().splitlines())
        return sorted((e["arch"], e["rung"], e["seed"], e["accuracy"]) for e in records)

    # same seed, same sampler, trainings side by side on two workers: same archs asked in the same
    # order, and the same accuracies
    assert asked(finished_run) == asked(tmp_path / "again")
    assert trained(finished_run) == trained(tmp_path / "again")


@pytest.mark.e2e
def test_resuming_a_finished_run_prints_its_result_and_the_way_to_settle_a_tie(finished_run: Path,
                                                                            tmp_path: Path) -> None:
    import shutil

    run = tmp_path / "r1"
    shutil.copytree(finished_run, run)
    result = _nas("search", "--resume", str(run))
    assert result.returncode == 0, result.stderr
    assert f"run {run}:" in result.stdout, "a copied run resumes where it is, not where config.yaml was written"
    assert "best under budget" in result.stdout and "searched vs baseline" in result.stdout
    assert "(mean of 2 seeds: " in result.stdout.split("best baseline under budget")[1]
    stages = [line for line in result.stderr.splitlines() if line.startswith("stage ")]
    assert [line.split(":")[0] for line in stages] == ["stage 1/4", "stage 2/4", "stage 3/4", "stage 4/4"]
    assert "screening 12 feasible candidates by naswot" in stages[0] and "the best 3 of 12 screened" in stages[1]
    if "within the seed noise" in result.stdout:  # the tiny rungs leave every arch at chance: a tie
        assert f"nas confirm {run}" in result.stdout


@pytest.mark.e2e
def test_export_and_report(finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    from nas.export import export_run
    from nas.report import write_report

    run = tmp_path / "r1"
    shutil.copytree(finished_run, run)  # the shared run stays as the search left it
    folders = export_run(run, show_progress=True)
    assert folders
    err = capsys.readouterr().err
    assert "exporting the Pareto front (the default)" in err  # says what it exports, then each arch's steps
    steps = 4 * len(folders)
    assert f"stage {steps}/{steps}: arch {len(folders)}/{len(folders)} " in err and "official test set" in err
    from nas.export import export_summary

    rows = export_summary(folders, "cpu_x86")
    assert len(rows) == len(folders) + 1 and all("+-" in row[3] for row in rows[1:])
    for folder in folders:
        metrics = json.loads((folder / "metrics.json").read_text())
        assert metrics["onnx_parity_max_abs"] < 1e-4 and "cpu_x86" in metrics["predicted_latency_ms"]
        assert metrics["measured_latency_ms_this_host"]["ms"] > 0 and 0 <= metrics["test_accuracy"] <= 1
        assert metrics["latency_sources"]["cpu_x86"] == {"measured": pytest.approx(1.0)}
        assert metrics["latency_provenance"]["cpu_x86"]["origin"] == "measured"
        assert all(p["origin"] != "extrapolated" or p["error_bar_ms"] is None
                   for p in metrics["latency_provenance"].values())
        onnx.checker.check_model(onnx.load(str(folder / "model.onnx")))
        torch.load(folder / "weights.pt", weights_only=True)
        assert (folder / "arch.yaml").is_file()
    png, page = write_report(run)
    assert png.stat().st_size > 1000
    text = page.read_text()
    summary = json.loads((run / "pareto.json").read_text())
    assert summary["tie_rule"] in text and "finalist" in text and "go to the lower latency" not in text.replace(
        summary["tie_rule"], "")  # one tie rule on the page: the run's
    assert "<svg" in text and "<title>" in text and "http" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")


@pytest.mark.e2e
def test_a_resumed_run_keeps_counting_the_over_budget_samples(tmp_path: Path) -> None:
    """The infeasible count in pareto.json is the study's, not only what the last process sampled."""
    import numpy as np

    from nas.latency.table import load_table
    from nas.search.run import run_search
    from nas.space import load_space

    latencies = [load_table("cpu_x86").predict(a) for a in load_space("shufflenet_v2").sample_random(200, seed=1)]
    budget = f"{float(np.percentile(latencies, 40)):.4f}ms"  # most random samples are over it
    options = {"sampler": "random", "budget": budget, "trials": 2, "rungs": TINY_RUNGS[:1], "workers": 1,
               "prescreen_pool": 0}  # the sampler proposes (a capacity pre-screen proposes only feasible archs)
    first = run_search(_config(tmp_path, **options), show_progress=False)
    assert first.infeasible > 0
    resumed = run_search(_config(tmp_path, **options), resume=True, show_progress=False)
    assert resumed.infeasible == first.infeasible
    assert json.loads((tmp_path / "r1" / "pareto.json").read_text())["infeasible_rejected"] == first.infeasible


def _nas(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nas", *args], capture_output=True, text=True, cwd=cwd)


@pytest.mark.parametrize("args,fragment", [
    (["--budget", "30"], "does not parse"),
    (["--budget", "fast"], "does not parse"),
    (["--budget", "0.01ms"], "below the fastest arch"),
    (["--sampler", "grid"], "unknown sampler"),
    (["--backend", "spark"], "unknown backend"),
    (["--space", "nope"], "unknown search space"),
    (["--device", "nope"], "no latency table for device 'nope'"),
    (["--storage", "sqlite:////nonexistent/dir/x.db"], "cannot open study storage"),
    (["--resume", "never-ran"], "no run to resume"),
    (["--gpus-per-trial", "1"], "add --backend ray"),
    (["--cpus-per-trial", "2"], "add --backend ray"),
    (["--accuracy", "tabular"], "has no table of trained accuracies"),
])
def test_bad_search_input_is_one_line(tmp_path: Path, args: list[str], fragment: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    result = run_main(capsys, "search", "--data", "synthetic", "--runs-dir", str(tmp_path), "--trials", "1", *args)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert fragment in lines[-1] and "Traceback" not in result.stderr
    assert not list(tmp_path.iterdir()), "a search that cannot start leaves no run folder behind"


@pytest.mark.e2e
def test_storage_without_its_driver_names_the_package(tmp_path: Path) -> None:
    pytest.importorskip("sqlalchemy")
    try:
        import psycopg2  # noqa: F401
        pytest.skip("psycopg2 is installed: the URL would fail to connect instead")
    except ImportError:
        pass
    result = _nas("search", "--data", "synthetic", "--runs-dir", str(tmp_path), "--trials", "1",
                  "--storage", "postgresql://nobody@127.0.0.1:1/x")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install psycopg2-binary" in lines[0]
    assert not list(tmp_path.iterdir())


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux /proc)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
        for child in children:
            found += [child, *_descendants(child)]
    return found


def _alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped counts as gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


@pytest.mark.e2e
def test_sigkill_mid_run_then_resume_keeps_finished_trials(tmp_path: Path) -> None:
    # every candidate trained on two worker processes: the kill lands among trainings
    config = _config(tmp_path, trials=4, name="killed", screen="none", workers=2)
    path = tmp_path / "config.yaml"
    config.save(path)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "nas", "search", "--config", str(path), "--name", "killed"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    log = tmp_path / "killed" / "evaluations.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (log.is_file() and len(log.read_text().splitlines()) >= 2):
        time.sleep(0.2)
    workers = _descendants(proc.pid)
    assert workers, "the search trains in worker processes by default (workers: 2)"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 20
    while time.time() < deadline and any(_alive(pid) for pid in workers):
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in workers), "training workers outlived the killed search"
    kept = log.read_text().splitlines()
    assert len(kept) >= 2
    result = _nas("search", "--resume", str(tmp_path / "killed"))
    assert result.returncode == 0, result.stderr
    after = log.read_text().splitlines()
    assert after[: len(kept)] == kept  # nothing finished was lost or redone
    first_rung0 = [json.loads(line)["arch"] for line in after if json.loads(line)["rung"] == 0]
    assert len(first_rung0) == len(set(first_rung0)) == 4


def test_a_broken_or_oddly_named_unrelated_table_does_not_stop_a_search(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    import shutil

    import nas.latency.table as tables
    from nas.search.context import SearchContext

    folder = tmp_path / "tables"
    folder.mkdir()
    for name in ("cpu_x86", "rpi4"):
        shutil.copy(tables.TABLES_DIR / f"{name}.json", folder / f"{name}.json")
    (folder / "broken.json").write_text('{"meta": {"device": "broken"}, "entr')
    (folder / "My Board.json").write_text("{}")
    monkeypatch.setattr("nas.latency.table_home.TABLES_DIR", folder)
    assert tables.available_devices() == ["broken", "cpu_x86", "rpi4"]
    config = _config(tmp_path)
    config.validate()
    context = SearchContext(config)
    assert set(context.oracle.other_tables) == {"rpi4"}
    assert any("skipping" in r.getMessage() and "broken.json" in r.getMessage() for r in caplog.records)


@pytest.mark.e2e
@pytest.mark.parametrize("text,fragment", [
    ("", "non-empty mapping"),
    ("workers: two\n", "workers must be int"),
    ("trials: 4\nrungs: [{epochs: 1, val_size: 0}]\n", "val_size must be at least 10"),
    ("trials: 4\nrungs: [{epochs: 1, label_smoothing: 5}]\n", "label_smoothing must be in"),
    ("trials: 4\nrungs: [{epochs: 1, lr: .nan}]\n", "lr must be a finite number"),
    ("a: &x [1, 2]\nb: [*x, *x]\n", "aliases"),
    ("budget: [oops\n", "not valid YAML at line 2, column 1"),
])
def test_a_bad_config_file_is_one_line_and_writes_nothing(tmp_path: Path, text: str, fragment: str) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(text)
    result = _nas("search", "--config", str(config), "--runs-dir", str(tmp_path / "runs"), "--data", "synthetic")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and fragment in result.stderr
    assert not (tmp_path / "runs").exists()


def test_yaml_files_are_bounded_in_size_and_encoding(tmp_path: Path) -> None:
    from nas.errors import SpaceError
    from nas.fileio import YAML_MAX_BYTES, read_yaml

    big = tmp_path / "big.yaml"
    big.write_text("description: " + "x" * YAML_MAX_BYTES + "\n")
    with pytest.raises(SpaceError, match="too large"):
        read_yaml(big, SpaceError)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(SpaceError, match="not UTF-8"):
        read_yaml(latin, SpaceError)
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\ndescription: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n")
    with pytest.raises(SpaceError, match="aliases"):
        read_yaml(bomb, SpaceError)


@pytest.mark.e2e
def test_a_live_run_refuses_a_second_process_and_a_resume_refuses_conflicting_flags(finished_run: Path,
                                                                                    tmp_path: Path) -> None:
    import shutil

    from nas.errors import NasError
    from nas.fileio import FolderLock

    run = tmp_path / "r1"
    shutil.copytree(finished_run, run)
    before = (run / "config.yaml").read_text()
    with FolderLock(run, NasError):  # as a live search holds it
        busy = _nas("search", "--resume", str(run))
        assert busy.returncode == 2 and f"pid {os.getpid()}" in busy.stderr and "Traceback" not in busy.stderr
        with pytest.raises(NasError, match="in use by"):
            FolderLock(run, NasError).__enter__()
    conflict = _nas("search", "--resume", str(run), "--space", "mbv2")
    assert conflict.returncode == 2 and "conflicts with the run's space" in conflict.stderr
    assert (run / "config.yaml").read_text() == before, "a refused resume changes nothing"
    again = _nas("search", "--resume", str(run), "--space", "shufflenet_v2", "--workers", "2")
    assert again.returncode == 0, again.stderr  # the same value is no conflict; workers may change


@pytest.mark.e2e
@pytest.mark.parametrize("args,fragment", [
    (["sample", "--space", "mbv2", "--seed", "-1"], "--seed: -1 is out of range: give a whole number from 0 to 2,147,483,647"),
    (["train", "mobilenet_v2_0.5", "--data", "synthetic", "--threads", "-1"], "argument --threads: -1 is out of range"),
    (["train", "mobilenet_v2_0.5", "--data", "synthetic", "--val-size", "-5"], "argument --val-size: -5 is out of range"),
    (["latency", "build", "--device", "x", "--target-seconds", "-1"], "argument --target-seconds: -1 is out of range"),
    (["latency", "bundle", "--out", "README.md"], "is a file"),
    (["search", "--data", "synthetic", "--budget", "1e400ms"], "positive and finite"),
    (["search", "--data", "synthetic", "--seed", "-1"], "argument --seed: -1 is out of range"),
    (["search", "--data", "synthetic", "--threads", "-1"], "--threads: -1 is out of range: give a whole number from 1 to 1,024"),
    (["search", "--data", "synthetic", "--name", ".."], "run name '..'"),
    (["export", "runs/none", "--top", "-1"], "argument --top: -1 is out of range"),
])
def test_bad_numbers_and_names_are_one_line(args: list[str], fragment: str, tmp_path: Path) -> None:
    result = _nas(*args, *(["--runs-dir", str(tmp_path / "runs")] if args[0] == "search" else []),
                  cwd=Path(__file__).resolve().parent.parent)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert fragment in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()


def test_run_names_derived_from_a_space_file_or_a_long_budget_are_valid(tmp_path: Path) -> None:
    from nas.space import SPACES_DIR

    config = SearchConfig(space=str(SPACES_DIR / "mbv2.yaml"), device="cpu_x86", budget="1000s",
                          runs_dir=str(tmp_path)).validate()
    assert config.name.startswith("mbv2_cpu_x86_1e06ms_nsga2_") and config.run_dir.parent == tmp_path


@pytest.mark.e2e
def test_a_start_that_fails_after_the_folder_was_made_leaves_nothing(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from nas.errors import NasError
    from nas.search import optuna_driver
    from nas.search.run import run_search

    def broken(*args: object, **kwargs: object) -> int:
        raise NasError("the sampler broke")

    monkeypatch.setattr(optuna_driver, "sample_with_optuna", broken)
    with pytest.raises(NasError, match="sampler broke"):
        run_search(_config(tmp_path), show_progress=False)
    assert not (tmp_path / "r1").exists(), "nothing was trained: the same command must work again"


@pytest.mark.e2e
def test_a_run_whose_every_training_diverges_says_so(tmp_path: Path) -> None:
    exploding = [{"epochs": 1, "subset": 200, "batch_size": 50, "val_size": 100, "lr": 1e12}]
    config = _config(tmp_path, rungs=exploding, trials=2, baseline_seeds=1, finalist_seeds=1, screen="none")
    path = tmp_path / "c.yaml"
    config.save(path)
    result = _nas("search", "--config", str(path), "--name", "div")
    last = result.stderr.strip().splitlines()[-1]
    assert result.returncode == 2 and "every training diverged" in last
    assert "nothing finished, so the run is removed" in last and not (tmp_path / "div").exists()


@pytest.mark.e2e
def test_corrupt_run_files_are_one_line(finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    run = tmp_path / "r1"
    shutil.copytree(finished_run, run)
    (run / "pareto.json").write_text("{\"front\": [")
    for command in (["export", str(run)], ["confirm", str(run)], ["report", str(run)]):
        result = run_main(capsys, *command)
        assert result.returncode == 2 and "unreadable" in result.stderr, command
        assert len(result.stderr.strip().splitlines()) == 1, command
    shutil.copy(finished_run / "pareto.json", run / "pareto.json")
    lines = (run / "evaluations.jsonl").read_text().splitlines()
    record = json.loads(lines[0])
    record["accuracy"] = "high"
    (run / "evaluations.jsonl").write_text("\n".join([json.dumps(record), *lines[1:]]) + "\n")
    result = run_main(capsys, "search", "--resume", str(run))
    assert result.returncode == 2 and "evaluations.jsonl: line 1 is malformed" in result.stderr
    (run / "evaluations.jsonl").write_text("\n".join(lines) + "\n")
    (run / "study.db").write_bytes(b"this is not a database" * 100)
    result = run_main(capsys, "search", "--resume", str(run))
    assert result.returncode == 2 and "move it away and resume" in result.stderr
    (run / "study.db").unlink()
    result = _nas("search", "--resume", str(run))
    assert result.returncode == 0, result.stderr  # recovered from the journal


@pytest.mark.e2e
def test_an_unwritable_runs_folder_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = _nas("search", "--data", "synthetic", "--runs-dir", str(blocker / "runs"), "--trials", "1")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.e2e
def test_sigterm_ends_a_search_in_one_line_like_ctrl_c(tmp_path: Path) -> None:
    process = subprocess.Popen([sys.executable, "-m", "nas", "search", "--space", "shufflenet_v2", "--device", "cpu_x86",
                                "--budget", "50ms", "--data", "synthetic", "--trials", "4", "--runs-dir",
                                str(tmp_path), "--name", "t"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (tmp_path / "t" / "config.yaml").exists() and time.time() < deadline:  # it has started work
        time.sleep(0.2)
    time.sleep(2)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    lines = [line for line in err.replace("\r", "\n").splitlines() if line.strip()]
    assert process.returncode == 130 and lines[-1].startswith("nas: interrupted")
    assert "Traceback" not in err and "leaked" not in err


@pytest.mark.e2e
def test_a_full_disk_under_the_study_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import optuna

    from nas.errors import NasError
    from nas.search import optuna_driver

    def full(*args: object, **kwargs: object) -> int:
        try:
            raise OSError("database or disk is full")
        except OSError as cause:
            raise optuna.exceptions.StorageInternalError("An exception is raised during the commit.") from cause

    monkeypatch.setattr(optuna_driver, "_sample", full)
    config = _config(tmp_path).validate()
    with pytest.raises(NasError, match="cannot write the study database .*disk is full"):
        optuna_driver.sample_with_optuna(config, None)  # type: ignore[arg-type]
