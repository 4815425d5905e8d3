"""How well each estimator ranks networks, as ``bench/accuracy_fidelity.py`` measured it (``ranking.json``).

Why it ships with the package: a search's output says what its accuracies were estimated with and how
well that estimator ranks, so that a screening score is never read as more than it is. The figures are
the bench's, written by it; ``tests/test_screening.py`` checks that they match its result file.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

RANKING = Path(__file__).with_name("ranking.json")


@cache
def ranking() -> dict[str, Any]:
    """The bench's summary; empty when the file is missing (a source tree the bench never ran in)."""
    if not RANKING.is_file():
        return {}
    return json.loads(RANKING.read_text())


def measured(name: str) -> dict[str, Any] | None:
    """``name``'s rank correlations by ground truth, or None if the bench did not measure it."""
    return ranking().get("estimators", {}).get(name)


BENCHMARKS = {"nas_bench_macro": "held-out NAS-Bench-Macro networks (50-epoch accuracy)",
              "ghost_mbv2": "ghost_mbv2 networks (vs a 3-epoch, 6,000-image training)",
              "accel_nasbench": "held-out Accel-NASBench networks (ImageNet top-1; proxies at 64 px, as the search screens)"}
"""Each ground truth the bench ranks against, by the space its networks belong to."""


def describe(name: str, space: str | None = None) -> str:
    """'Spearman 0.92 [0.85, 0.95] on 48 held-out NAS-Bench-Macro networks, 0.60 on 16 ghost_mbv2 networks'; with
    ``space``, it also says when the ranking was not measured on that space (a figure from another space's networks
    is evidence, not a measurement of this one)."""
    row = measured(name)
    if not row:
        return "ranking not measured"
    parts = []
    for truth, label in BENCHMARKS.items():
        if truth in row:
            r = row[truth]
            parts.append(f"{r['spearman']:.2f} [{r['spearman_95'][0]:.2f}, {r['spearman_95'][1]:.2f}] on {r['n']} "
                         f"{label}")
    text = "Spearman " + ", ".join(parts)
    if space is not None and space not in row:
        text += f"; not measured on {space}"
    return text


def blend_name(weight: float, rung: int) -> str:
    """The name the bench gives the search's promotion merit at ``weight`` (see nas.search.screening.blended)."""
    return f"blend(naswot {weight:g}, rung{rung})"
