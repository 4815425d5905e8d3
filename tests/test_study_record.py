"""The run's Optuna study is its answer: trained accuracies and latencies, named metrics, read by plain Optuna."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from conftest import run_main

TABULAR = ("--space", "nas_bench_macro", "--device", "cpu_x86", "--budget", "1ms", "--accuracy", "tabular", "--screen", "none")

READER = """
import json, sys
import optuna
run = sys.argv[1]
storage = f"sqlite:///{run}/study.db"
study = optuna.load_study(study_name="t", storage=storage)
complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
print(json.dumps({
    "names": sorted(optuna.study.get_all_study_names(storage)),
    "metrics": study.metric_names,
    "front_ids": study.user_attrs["front_ids"], "noise": study.user_attrs["noise_sd"],
    "complete": {t.user_attrs["id"]: t.values for t in complete},
    "pruned": sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials),
    "best": [t.user_attrs["id"] for t in study.best_trials],
    "finalist": [t.user_attrs["id"] for t in study.trials if t.user_attrs["finalist"]],
}))
"""


def _read(run: Path) -> dict:
    """The study as another process sees it with nothing but Optuna (as optuna-dashboard does)."""
    out = subprocess.run([sys.executable, "-c", READER, str(run)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_the_study_holds_the_trained_front_under_named_metrics(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert run_main(capsys, "search", *TABULAR, "--runs-dir", str(tmp_path), "--name", "t").returncode == 0
    run = tmp_path / "t"
    pareto = json.loads((run / "pareto.json").read_text())
    seen = _read(run)
    assert seen["names"] == ["t", "t.sampler"] and seen["metrics"] == ["accuracy", "latency_ms"]
    assert seen["front_ids"] == [f["id"] for f in pareto["front"]] and seen["finalist"] == [pareto["best_id"]]
    for point in pareto["front"]:  # the front's accuracies and latencies are the trials' values
        assert seen["complete"][point["id"]] == pytest.approx([point["accuracy"], point["latency_ms"]])
    trained = len(pareto["front"]) and pareto["candidates"]
    assert len(seen["complete"]) + seen["pruned"] == trained and seen["pruned"] > 0  # promotion stopped some
    noise = seen["noise"] or 0.0
    front = [seen["complete"][i] for i in seen["front_ids"]]
    for trial_id in seen["best"]:  # optuna's plain front: on the run's front, or tied with it within the noise
        accuracy, latency = seen["complete"][trial_id]
        assert trial_id in seen["front_ids"] or any(abs(a - accuracy) <= noise and lat <= latency + 1e-9
                                                     for a, lat in front), trial_id


def test_a_run_whose_sampler_study_has_the_runs_name_resumes_and_gets_a_record(tmp_path: Path,
                                                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert run_main(capsys, "search", *TABULAR, "--runs-dir", str(tmp_path), "--name", "t").returncode == 0
    run = tmp_path / "t"
    storage = f"sqlite:///{run}/study.db"
    optuna.delete_study(study_name="t", storage=storage)  # the layout where the sampler's study had the run's name
    optuna.copy_study(from_study_name="t.sampler", from_storage=storage, to_storage=storage, to_study_name="t")
    optuna.delete_study(study_name="t.sampler", storage=storage)
    sampled = len(optuna.load_study(study_name="t", storage=storage).trials)
    assert run_main(capsys, "search", "--resume", str(run)).returncode == 0
    seen = _read(run)
    assert seen["names"] == ["t", "t.sampler"] and seen["metrics"] == ["accuracy", "latency_ms"]
    assert len(optuna.load_study(study_name="t.sampler", storage=storage).trials) == sampled
    assert run_main(capsys, "search", "--resume", str(run)).returncode == 0  # and again: the record is replaced
    assert _read(run)["complete"] == seen["complete"]
