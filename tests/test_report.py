"""The run report: one accuracy definition (mean over seeds), fidelities kept apart, a legend and a labelled budget."""

from __future__ import annotations

import csv
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from nas.errors import NasError
from nas.report import panels, write_report

FIDELITIES = ["e2-n2000-b32-r16-lr0.02", "e2-n3000-b32-lr0.03"]


class _VisibleText(HTMLParser):
    """What a browser shows as text (entities decoded), and the texts of the SVG drawings."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.svgs = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.svgs += tag == "svg"

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _fake_run(folder: Path) -> Path:
    """A finished run's pareto.json and trials.csv, written by hand: the report reads nothing else."""
    folder.mkdir()
    front = [{"id": "aaaa", "arch": "arch-a", "accuracy": 0.351, "accuracies": [0.350, 0.352], "latency_ms": 23.4,
              "macs": 20_000_000, "params": 900_000},
             {"id": "bbbb", "arch": "arch-b", "accuracy": 0.30, "accuracies": [0.30], "latency_ms": 9.0,
              "macs": 8_000_000, "params": 400_000}]
    baseline = {"name": "mobilenet_v2_0.75", "arch": "arch-base", "latency_ms": 26.7, "accuracy": 0.3465,
                "accuracies": [0.355, 0.338], "macs": 30_000_000, "params": 1_400_000}
    summary = {"run": "demo", "space": "ghost_mbv2", "device": "rpi4", "budget_ms": 30.0, "fidelities": FIDELITIES,
               "judged_at_rung": 1, "noise_sd": 0.012, "front": front, "baseline": baseline}
    (folder / "pareto.json").write_text(json.dumps(summary))
    with open(folder / "trials.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "arch", "accuracy_rung0", "accuracy_rung1", "latency_ms_rpi4"])
        writer.writerow(["aaaa", "arch-a", "0.28", "0.351", "23.4"])
        writer.writerow(["bbbb", "arch-b", "0.25", "0.30", "9.0"])
        writer.writerow(["cccc", "arch-c", "0.31", "0.29", "28.0"])
        writer.writerow(["dddd", "arch-d", "0.20", "", "5.0"])
    return folder


def test_each_fidelity_gets_its_own_panel_and_means_carry_the_seed_range(tmp_path: Path) -> None:
    run = _fake_run(tmp_path / "run")
    summary = json.loads((run / "pareto.json").read_text())
    with open(run / "trials.csv") as handle:
        screening, judged = panels(summary, list(csv.DictReader(handle)))
    assert FIDELITIES[0] in screening.title and FIDELITIES[1] in judged.title
    assert len(screening.series[0][2]) == 4  # every candidate, rung 0 only
    series = {name: dots for name, _, dots in judged.series}
    assert [d.label for d in series["promoted"]] == ["cccc"]  # promoted, not on the front
    (base,) = series["baseline mobilenet_v2_0.75"]
    assert base.accuracy == pytest.approx(0.3465) and (base.low, base.high) == (0.338, 0.355)


def test_html_shows_an_arrow_a_legend_the_budget_and_the_baseline_mean(tmp_path: Path) -> None:
    run = _fake_run(tmp_path / "run")
    png, page = write_report(run)
    assert png.stat().st_size > 5000
    parser = _VisibleText()
    parser.feed(page.read_text())
    text = " ".join(parser.text)
    assert "→" in text and "&rarr;" not in text and "&amp;" not in text
    assert parser.svgs == 2  # one chart per fidelity
    assert "budget 30 ms" in text and "Pareto front" in text and "baseline mobilenet_v2_0.75" in text
    assert "34.65% (mean of 2 seed(s): 35.50, 33.80)" in text  # never the seed-0 value alone


def test_a_corrupt_pareto_json_is_one_error(tmp_path: Path) -> None:
    run = _fake_run(tmp_path / "run")
    (run / "pareto.json").write_text("{not json")
    with pytest.raises(NasError, match="unreadable"):
        write_report(run)
    (run / "pareto.json").write_text(json.dumps({"run": "x"}))
    with pytest.raises(NasError, match="lacks a field"):
        write_report(run)
