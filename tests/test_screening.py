"""Screening: a cheap estimator scores many candidates, the best are trained, promotion blends both, and every
output names what decided each stage with its measured ranking."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nas.accuracy.measured import describe, ranking
from nas.search.config import ConfigError, SearchConfig
from nas.search.screening import best_screened, blended, percentiles, stage_estimators

REPO = Path(__file__).resolve().parent.parent
TINY_RUNGS = [{"epochs": 1, "subset": 100, "batch_size": 50, "val_size": 100, "lr": 0.1},
              {"epochs": 1, "subset": 200, "batch_size": 50, "val_size": 100, "lr": 0.1}]


def test_percentiles_are_mid_ranks_and_ties_share_one() -> None:
    assert percentiles({"a": 1.0, "b": 2.0, "c": 2.0, "d": 5.0}) == {"a": 0.125, "b": 0.5, "c": 0.5, "d": 0.875}


def test_the_blend_moves_from_the_training_to_the_screening_score_with_its_weight() -> None:
    screen = {"a": 3.0, "b": 2.0, "c": 1.0}
    trained = {"a": 0.1, "b": 0.2, "c": 0.3}
    assert blended(screen, trained, 0.0) == trained
    assert max(blended(screen, trained, 1.0).items(), key=lambda kv: kv[1])[0] == "a"
    assert max(blended(screen, trained, 0.25).items(), key=lambda kv: kv[1])[0] == "c"
    even = blended(screen, trained, 0.5)
    assert even["a"] == pytest.approx(even["c"]) and even["b"] == pytest.approx(0.5)


def test_the_best_screened_span_the_latency_range_before_the_slow_end() -> None:
    scores = {"fast_bad": 1.0, "fast_good": 2.0, "slow_best": 9.0, "slow_worse": 8.0, "mid": 5.0}
    latency = {"fast_bad": 1.0, "fast_good": 1.0, "slow_best": 9.0, "slow_worse": 10.0, "mid": 5.0}
    # first front: fast_good, mid, slow_best (best score first within it); then the dominated ones
    assert best_screened(scores, latency, 3) == ["slow_best", "mid", "fast_good"]
    assert set(best_screened(scores, latency, 5)) == set(scores)


def test_older_run_configs_resume_without_screening_and_every_backend_screens(tmp_path: Path) -> None:
    old = tmp_path / "config.yaml"
    old.write_text("space: shufflenet_v2\ndevice: cpu_x86\nbudget: 50ms\n")
    assert SearchConfig.load(old).screen == "none"
    assert SearchConfig(backend="ray", screen="naswot").validate().screener == "naswot"
    assert SearchConfig(backend="ray").screener == SearchConfig().screener == "naswot"
    assert SearchConfig(space="nas_bench_macro", accuracy="tabular").screener == "naswot"
    with pytest.raises(ConfigError, match="unknown screening estimator"):
        SearchConfig(screen="oracle").validate()
    with pytest.raises(ConfigError, match="screen_weight"):
        SearchConfig(screen_weight=1.5).validate()
    assert SearchConfig(trials=5, screen_factor=3).screened == 15
    assert SearchConfig(trials=5, screen="none").screened == 5


def test_the_shipped_ranking_is_the_bench_result() -> None:
    """nas/accuracy/ranking.json is what bench/accuracy_fidelity.py measured, not typed in."""
    bench = json.loads((REPO / "bench" / "results" / "accuracy_fidelity.json").read_text())
    shipped = ranking()
    accel = json.loads((REPO / "bench" / "results" / "accel_estimators.json").read_text())["estimators"]
    for name, row in shipped["estimators"].items():
        if "accel_nasbench" in row:
            assert row["accel_nasbench"]["spearman"] == accel[name]["report"]["spearman"], name
        if "nas_bench_macro" not in row:
            continue  # measured on Accel-NASBench only (an estimator added after the NAS-Bench-Macro bench ran)
        if name.startswith("blend("):
            weight, rung = name[len("blend(naswot "):-1].split(", ")
            judged = bench["nas_bench_macro"]["blends"][f"naswot+{rung}"]["curve"][weight]["report"]
        else:
            judged = bench["nas_bench_macro"]["estimators"][name]["report"]
        assert row["nas_bench_macro"]["spearman"] == pytest.approx(judged["spearman"], abs=5e-4), name
        assert row["nas_bench_macro"]["n"] == judged["n"]
    assert "naswot" in shipped["estimators"] and "Spearman 0." in describe("naswot")
    assert describe("no_such_estimator") == "ranking not measured"


def test_the_default_stages_are_named_with_their_ranking() -> None:
    config = SearchConfig()
    stages = stage_estimators(config)
    assert [s["estimator"] for s in stages][:2] == ["macs", "naswot"] and stages[-1]["estimator"] == "rung1"
    assert "ties within the seed noise go to the higher naswot score" in stages[-1]["what"]
    assert [s["estimator"] for s in stage_estimators(SearchConfig(prescreen_pool=0))][0] == "naswot"
    assert all("Spearman" in s["ranks"] for s in stages), stages
    custom = stage_estimators(SearchConfig(rungs=TINY_RUNGS))
    assert custom[-1]["ranks"] == "ranking not measured for these rungs"
    tabular = stage_estimators(SearchConfig(space="nas_bench_macro", accuracy="tabular"))
    assert [s["estimator"] for s in tabular] == ["macs", "naswot", "naswot", "tabular"], tabular
    assert [s["estimator"] for s in stage_estimators(SearchConfig(space="nas_bench_macro", accuracy="tabular",
                                                                  screen="none"))] == ["tabular", "tabular"]


@pytest.mark.e2e
def test_a_screened_run_trains_only_the_best_and_resumes_without_scoring_again(tmp_path: Path) -> None:
    from nas.search.run import run_search

    config = SearchConfig(space="shufflenet_v2", device="cpu_x86", budget="50ms", trials=2, screen_factor=3,
                          data="synthetic", eta=2, runs_dir=str(tmp_path), rungs=TINY_RUNGS, baseline_seeds=1,
                          finalist_seeds=1, threads=1, workers=1, name="s")
    result = run_search(config, show_progress=False)
    journal = (tmp_path / "s" / "screening.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in journal]
    assert len(records) == 6 and {r["estimator"] for r in records} == {"naswot"}
    assert len(result.candidates) == 2, "only the trials best screened are trained at rung 0"
    trained = {c.arch for c in result.candidates}
    scores = {r["arch"]: r["value"] for r in records}
    assert {str(a) for a in trained} <= set(scores)
    summary = json.loads((tmp_path / "s" / "pareto.json").read_text())
    assert summary["screened"] == 6 and [e["estimator"] for e in summary["estimators"][:2]] == ["macs", "naswot"]
    again = SearchConfig.load_run(tmp_path / "s")
    run_search(again, resume=True, show_progress=False)
    assert (tmp_path / "s" / "screening.jsonl").read_text().splitlines() == journal


def test_a_corrupt_screening_journal_is_one_line(tmp_path: Path) -> None:
    from nas.errors import NasError
    from nas.search.screening import ScreeningJournal

    path = tmp_path / "screening.jsonl"
    path.write_text('{"arch": "x", "estimator": "naswot", "value": NaN}\n')
    with pytest.raises(NasError, match="line 1 has no finite score"):
        ScreeningJournal("naswot", path, lambda: None, 0)  # type: ignore[arg-type, return-value]
