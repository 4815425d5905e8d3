"""``nas confirm``: fresh seeds, the official test set, a paired t interval, resumable, one-line errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from conftest import built_once, run_main

from nas.arch import parse_arch
from nas.search.config import SearchConfig
from nas.search.confirm import SEED_OFFSET, Contender, Plan, plan_confirmation, run_confirmation, summarise
from nas.search.run_folder import RunFolder
from nas.space import resolve_arch
from nas.stats import mean_interval_95, t_quantile_975
from nas.train import Fidelity

TINY_RUNGS = [{"epochs": 1, "subset": 100, "batch_size": 50, "val_size": 100, "lr": 0.1, "resolution": 16},
              {"epochs": 1, "subset": 200, "batch_size": 50, "val_size": 100, "lr": 0.1, "resolution": 16}]
"""Two rungs at 16 px: the search's machinery at a third of the 32 px cost (what they learn is not tested here)."""


def test_t_interval_matches_the_table() -> None:
    assert t_quantile_975(1) == pytest.approx(12.706) and t_quantile_975(7) == pytest.approx(2.365)
    assert t_quantile_975(30) == pytest.approx(2.042, abs=0.003) and t_quantile_975(200) == pytest.approx(1.972, abs=0.002)
    mean, low, high = mean_interval_95([1.0, 2.0, 3.0])  # sd 1, n 3: half width 4.303 / sqrt(3)
    assert mean == 2.0 and high - mean == pytest.approx(4.303 / 3 ** 0.5) and mean - low == pytest.approx(high - mean)
    with pytest.raises(ValueError):
        mean_interval_95([1.0])


def _plan(tmp_path: Path, seeds: int) -> Plan:
    searched, baseline = resolve_arch("shufflenet_v2_0.5"), resolve_arch("mobilenet_v2_0.5")
    return Plan(RunFolder(tmp_path), SearchConfig(), [Contender("searched", "searched #1", searched, 5.0),
                                          Contender("baseline", "baseline b", baseline, 10.0)],
                Fidelity(), [SEED_OFFSET + i for i in range(seeds)])


@pytest.mark.parametrize("offsets,verdict", [
    ([0.05, 0.06, 0.04, 0.05], "ahead"),
    ([-0.05, -0.06, -0.04, -0.05], "behind"),
    ([0.05, -0.05, 0.04, -0.04], "tied (the interval spans zero)"),
])
def test_the_verdict_is_the_paired_interval(tmp_path: Path, offsets: list[float], verdict: str) -> None:
    plan = _plan(tmp_path, len(offsets))
    label = plan.fidelity.label()
    baseline_accuracies = [0.30, 0.40, 0.35, 0.33]  # seeds move both archs together: pairing removes it
    records = {}
    for seed, base, offset in zip(plan.seeds, baseline_accuracies, offsets):
        for contender, accuracy in zip(plan.contenders, (base + offset, base)):
            records[(str(contender.arch), label, seed)] = {"accuracy": accuracy, "test_accuracy": accuracy, "seconds": 1}
    (comparison,) = summarise(plan, records)["comparisons"]
    gaps = [o * 100 for o in offsets]
    assert comparison["gap_pts"] == pytest.approx(sum(gaps) / len(gaps))
    assert comparison["verdict"] == verdict and comparison["paired_seeds"] == 4
    assert comparison["latency_ratio"] == pytest.approx(0.5)


def test_a_missing_seed_leaves_its_pair_out(tmp_path: Path) -> None:
    plan = _plan(tmp_path, 3)
    label = plan.fidelity.label()
    records = {(str(c.arch), label, seed): {"accuracy": 0.3, "test_accuracy": 0.3 + 0.01 * seed, "seconds": 1}
               for c in plan.contenders for seed in plan.seeds}
    del records[(str(plan.contenders[1].arch), label, plan.seeds[2])]
    summary = summarise(plan, records)
    assert summary["contenders"][1]["test_accuracies"][2] is None and summary["comparisons"][0]["paired_seeds"] == 2


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from nas.search.run import run_search

    def build(folder: Path) -> None:
        config = SearchConfig(space="shufflenet_v2", device="cpu_x86", budget="50ms", trials=2, data="synthetic",
                              eta=2, runs_dir=str(folder), rungs=TINY_RUNGS, baseline_seeds=2, threads=1, workers=1,
                              name="c1")
        run_search(config, show_progress=False)

    return built_once(tmp_path_factory, "confirm_run", build) / "c1"


@pytest.mark.e2e
def test_confirmation_trains_fresh_seeds_scores_the_test_set_and_resumes(tiny_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "c1"
    shutil.copytree(tiny_run, run)
    search_seeds = {json.loads(line)["seed"] for line in (run / "evaluations.jsonl").read_text().splitlines()}
    plan = plan_confirmation(run, seeds=2)
    assert not search_seeds & set(plan.seeds), "confirmation seeds are ones the search never trained"
    pareto = json.loads((run / "pareto.json").read_text())
    best = next(c for c in pareto["front"] if c["id"] == pareto["best_id"])  # the search's finalist
    assert [str(c.arch) for c in plan.contenders] == [best["arch"], pareto["baseline"]["arch"]]
    assert plan.fidelity.label() == pareto["fidelities"][-1]

    summary = run_confirmation(plan, workers=1, show_progress=False)
    lines = (run / "confirm.jsonl").read_text().splitlines()
    assert len(lines) == 4
    for row in summary["contenders"]:
        assert all(0 <= a <= 1 for a in row["test_accuracies"]) and all(0 <= a <= 1 for a in row["val_accuracies"])
    (comparison,) = summary["comparisons"]
    low, high = comparison["interval95_pts"]
    assert low <= comparison["gap_pts"] <= high and comparison["paired_seeds"] == 2
    assert json.loads((run / "confirm.json").read_text()) == summary

    # the test accuracy is the trained model's on the official test split, the same as training here again
    from nas.data import load_cifar10
    from nas.train import evaluate_test, train

    record = json.loads(lines[0])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the run's threads
    try:
        result, model = train(parse_arch(record["arch"]), load_cifar10("synthetic"), plan.fidelity, seed=record["seed"])
    finally:
        torch.set_num_threads(threads)
    assert record["accuracy"] == result.accuracy
    assert record["test_accuracy"] == evaluate_test(model, load_cifar10("synthetic"), parse_arch(record["arch"]).resolution)

    # a torn last line (a kill mid-write) is skipped; a third seed trains only what is missing, on two workers
    with open(run / "confirm.jsonl", "a") as handle:
        handle.write('{"arch": "r32')
    more = run_confirmation(plan_confirmation(run, seeds=3), workers=2, threads=1, show_progress=False)
    records = [json.loads(line) for line in (run / "confirm.jsonl").read_text().splitlines()[5:]]
    assert sorted(r["seed"] for r in records) == [plan.seeds[-1] + 1] * 2
    assert more["contenders"][0]["test_accuracies"][:2] == summary["contenders"][0]["test_accuracies"]
    assert more["comparisons"][0]["paired_seeds"] == 3


@pytest.mark.e2e
def test_bad_confirm_input_is_one_line(tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for args, fragment in [([str(tmp_path / "nowhere")], "is not a finished search run"),
                           ([str(tiny_run), "--seeds", "1"], "--seeds must be at least 2"),
                           ([str(tiny_run), "--top", "0"], "argument --top: 0 is out of range"),
                           ([str(tiny_run), "--workers", "0"], "argument --workers: 0 is out of range")]:
        result = run_main(capsys, "confirm", *args)
        assert result.returncode == 2, result.stderr
        assert fragment in result.stderr.strip().splitlines()[-1] and "Traceback" not in result.stderr
    assert not (tiny_run / "confirm.jsonl").exists()
