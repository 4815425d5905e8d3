"""Render a run's report.html in a real headless browser: a screenshot to look at, and what the browser shows.

The page is meant to be read by a person, so it is checked the way one sees it: Chromium lays it out
(``--screenshot``) and serialises the DOM after parsing (``--dump-dom``), where entities are decoded;
the checks below read that text. Needs a Chromium on PATH (Debian: ``apt-get install chromium``).

    python bench/report_in_browser.py runs/NAME
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from html import unescape
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    sys.exit("no Chromium on PATH (Debian: apt-get install chromium)")


def render(page: Path, screenshot: Path) -> str:
    """The DOM as the browser parsed it; the screenshot is written on the side."""
    browser = chromium()
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    with tempfile.TemporaryDirectory() as profile:
        flags.append(f"--user-data-dir={profile}")
        subprocess.run([browser, *flags, "--window-size=1100,1300", f"--screenshot={screenshot}", page.resolve().as_uri()],
                       check=True, capture_output=True, timeout=120)
        dom = subprocess.run([browser, *flags, "--dump-dom", page.resolve().as_uri()], check=True, capture_output=True,
                             text=True, timeout=120).stdout
    return dom


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a finished run folder (nas report is run on it first)")
    parser.add_argument("--out", default=str(RESULTS / "report_in_browser.json"))
    args = parser.parse_args()
    from nas.report import write_report

    run = Path(args.run)
    _, page = write_report(run)
    screenshot = Path(args.out).with_suffix(".png")
    dom = render(page, screenshot)
    text = unescape(re.sub(r"<[^>]+>", " ", dom))
    summary = json.loads((run / "pareto.json").read_text())
    checks = {
        "no_literal_entity": "&rarr;" not in text and "&amp;" not in text,
        "arrow_between_fidelities": "→" in text,
        "one_chart_per_fidelity": dom.count("<svg") == min(2, summary["judged_at_rung"] + 1),
        "legend_names_the_front": "Pareto front" in text,
        "budget_line_labelled": f"budget {summary['budget_ms']:g} ms" in text,
        "baseline_is_a_mean_with_seeds": not summary.get("baseline") or "mean of" in text,
    }
    document = {"run": run.name, "page": str(page), "screenshot": screenshot.name,
                "screenshot_bytes": screenshot.stat().st_size, "checks": checks, "all_passed": all(checks.values())}
    Path(args.out).write_text(json.dumps(document, indent=1) + "\n")
    print(json.dumps(document, indent=1))
    sys.exit(0 if document["all_passed"] else 1)


if __name__ == "__main__":
    main()
