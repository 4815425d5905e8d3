"""What a new user reads: outputs that fit a terminal, say where each number comes from, and forgive a typo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_main


def test_devices_fit_100_columns_and_one_device_shows_every_detail(capsys: pytest.CaptureFixture[str]) -> None:
    from nas.cli import main

    assert main(["devices"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= 100 and any(line.startswith("gtx1080ti ") for line in lines)
    assert main(["devices", "gtx1080ti"]) == 0
    detail = capsys.readouterr().out
    assert "held-out error:" in detail and "2500 nets held out" in detail and "processor:" in detail
    assert main(["devices", "--long"]) == 0
    assert "calibration" in capsys.readouterr().out


@pytest.mark.parametrize("args,suggestion", [
    (["search", "--devcie", "rpi4"], "did you mean --device?"),
    (["export", "runs/x", "--tpo", "3"], "did you mean --top?"),
    (["latency", "predict", "--device", "rpi4", "x", "--devise", "y"], "did you mean --device?"),
])
def test_a_mistyped_flag_gets_a_suggestion(args: list[str], suggestion: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    result = run_main(capsys, *args)
    assert result.returncode == 2 and suggestion in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_an_extrapolated_prediction_says_so_and_why(capsys: pytest.CaptureFixture[str]) -> None:
    from nas.cli import main

    assert main(["latency", "predict", "--device", "gtx1080ti", "mobilenet_v2_1.0"]) == 0
    out = capsys.readouterr().out
    assert "extrapolated, no error bar" in out and "no network timed on gtx1080ti had them" in out
    assert "adapted 100%" not in out
    assert main(["latency", "predict", "--device", "cpu_x86", "mobilenet_v2_0.5"]) == 0
    assert "measured 100%" in capsys.readouterr().out


def test_every_spearman_names_its_benchmark_and_a_space_it_was_not_measured_on() -> None:
    from nas.search.config import SearchConfig
    from nas.search.screening import stage_estimators

    for space in ("shufflenet_v2", "ghost_mbv2"):
        for stage in stage_estimators(SearchConfig(space=space)):
            ranks = stage["ranks"]
            assert "not measured" in ranks or "NAS-Bench-Macro" in ranks or "ghost_mbv2 networks" in ranks, ranks
            if space == "shufflenet_v2" and ranks.startswith("Spearman"):
                assert ranks.endswith("not measured on shufflenet_v2")
            if space == "ghost_mbv2" and ranks.startswith("Spearman") and "ghost_mbv2 networks" in ranks:
                assert "not measured on" not in ranks


def test_the_console_front_marks_the_finalist_and_explains_ties(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    from nas.cli import main

    code = main(["search", "--space", "nas_bench_macro", "--device", "cpu_x86", "--budget", "1ms", "--accuracy",
                 "tabular", "--screen", "macs", "--runs-dir", str(tmp_path), "--name", "t"])
    out = capsys.readouterr().out
    assert code == 0 and "* the finalist" in out
    pareto = json.loads((tmp_path / "t" / "pareto.json").read_text())
    finalist = next(f for f in pareto["front"] if f["finalist"])
    assert finalist["id"] == pareto["best_id"] and any(line.startswith("*") and finalist["id"] in line
                                                       for line in out.splitlines())
    tied = [f for f in pareto["front"] if f["tied_with"]]
    for point in tied:  # a kept tie: a faster, more accurate front point exists, within the noise
        for other in point["tied_with"]:
            faster = next(f for f in pareto["front"] if f["id"] == other)
            assert faster["latency_ms"] < point["latency_ms"] and faster["accuracy"] > point["accuracy"]
            assert faster["accuracy"] - point["accuracy"] <= pareto["noise_sd"] + 1e-12
    if tied:
        assert "~ kept although a faster point is more accurate" in out and "macs score" in out
