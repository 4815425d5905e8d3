"""The types of ``pareto.json``'s fields, checked before any command reads them.

Why: ``pareto.json`` is a file a user may edit or copy from elsewhere; ``"budget_ms": "30"`` would otherwise end in
a traceback deep inside the report's plotting. Each present field is checked here against what the search writes,
so a wrong one is one error line that names it. A field that is absent is the reader's to require
(:meth:`nas.search.run_folder.RunFolder.pareto`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]


def _number(value: Any) -> bool:  # noqa: ANN401 (any JSON value)
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _count(value: Any) -> bool:  # noqa: ANN401
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _text(value: Any) -> bool:  # noqa: ANN401
    return isinstance(value, str)


def _share(value: Any) -> bool:  # noqa: ANN401
    return _number(value) and 0 <= value <= 1


def _optional(check: Check) -> Check:
    return lambda value: value is None or check(value)


def _list_of(check: Check) -> Check:
    return lambda value: isinstance(value, list) and all(check(v) for v in value)


def _positive(value: Any) -> bool:  # noqa: ANN401
    return _number(value) and value > 0


def _non_negative(value: Any) -> bool:  # noqa: ANN401
    return _number(value) and value >= 0


TOP: dict[str, tuple[Check, str]] = {
    "run": (_text, "text"), "space": (_text, "text"), "device": (_text, "text"),
    "budget_ms": (_positive, "a positive number"),
    "fastest_in_space_ms": (_optional(_non_negative), "a number >= 0 or null"),
    "accuracy_source": (_text, "text"),
    "fidelities": (_list_of(_text), "a list of text"),
    "judged_at_rung": (_count, "a whole number >= 0"),
    "noise_sd": (_optional(_non_negative), "a number >= 0 or null"),
    "best_id": (_optional(_text), "text or null"),
    "front": (_list_of(lambda v: isinstance(v, dict)), "a list of objects"),
    "baseline": (lambda v: v is None or isinstance(v, dict), "an object or null"),
    "estimators": (_optional(_list_of(lambda v: isinstance(v, dict))), "a list of objects"),
}
POINT: dict[str, tuple[Check, str]] = {
    "id": (_text, "text"), "arch": (_text, "text"), "name": (_text, "text"),
    "accuracy": (_share, "a number in [0, 1]"),
    "accuracies": (lambda v: isinstance(v, list) and bool(v) and all(_share(a) for a in v),
                   "a non-empty list of numbers in [0, 1]"),
    "latency_ms": (_non_negative, "a number >= 0"),
    "macs": (_non_negative, "a number >= 0"), "params": (_non_negative, "a number >= 0"),
    "latency_error_bar_ms": (_optional(_non_negative), "a number >= 0 or null"),
}
POINT_NEEDS = ("arch", "accuracy", "latency_ms")


def check_pareto(document: Any) -> str:  # noqa: ANN401 (any JSON document)
    """What is wrong with a pareto.json document, or ''."""
    if not isinstance(document, dict):
        return "must be a JSON object"
    for key, (check, expected) in TOP.items():
        if key in document and not check(document[key]):
            return f"{key} must be {expected}, got {document[key]!r:.60}"
    points = [(f"front[{i}]", p) for i, p in enumerate(document.get("front") or [])]
    if document.get("baseline"):
        points.append(("baseline", document["baseline"]))
    for where, point in points:
        missing = [k for k in POINT_NEEDS if k not in point]
        if missing:
            return f"{where} lacks {', '.join(missing)}"
        for key, (check, expected) in POINT.items():
            if key in point and not check(point[key]):
                return f"{where}.{key} must be {expected}, got {point[key]!r:.60}"
    return ""
