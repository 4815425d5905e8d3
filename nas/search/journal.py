"""The evaluation journal: every finished training of a run, one fsynced JSON line each.

Evaluations (one arch trained at one rung with one seed) are appended to ``runs/<name>/evaluations.jsonl`` and
flushed to disk as soon as they finish, so a run killed at any moment (even SIGKILL) keeps every finished
training, and a resumed run never trains the same thing twice. A torn last line from a kill mid-write is
ignored; a malformed record (a journal is a file a user may edit) is one error line naming it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from nas.errors import NasError
from nas.fileio import append_line, read_journal_lines
from nas.stats import pooled_sd


@dataclass
class Evaluation:
    arch: str
    rung: int
    seed: int
    accuracy: float
    fidelity: str
    seconds: float
    history: list[float] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.arch, self.rung, self.seed)


class EvaluationJournal:
    """The run's finished trainings, in memory and on disk; :meth:`record` is the only way in."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.cache: dict[tuple[str, int, int], Evaluation] = {}
        for number, record in read_journal_lines(path):
            try:
                evaluation = Evaluation(**record)
            except TypeError:
                continue  # a record of another shape (a torn line is already skipped)
            problem = malformed(evaluation)
            if problem:
                raise NasError(f"{path}: line {number} is malformed ({problem}); delete that line and resume "
                               "(its training is redone)")
            self.cache[evaluation.key] = evaluation

    def __contains__(self, key: tuple[str, int, int]) -> bool:
        return key in self.cache

    def __len__(self) -> int:
        return len(self.cache)

    def get(self, key: tuple[str, int, int]) -> Evaluation | None:
        return self.cache.get(key)

    def all(self) -> list[Evaluation]:
        return list(self.cache.values())

    def record(self, evaluation: Evaluation) -> None:
        """Append one finished training (a key already recorded is kept as it was)."""
        if evaluation.key in self.cache:
            return
        append_line(self.path, json.dumps(evaluation.__dict__))
        self.cache[evaluation.key] = evaluation

    def evaluations(self, rung: int) -> list[Evaluation]:
        return [e for e in self.cache.values() if e.rung == rung]

    def noise(self, rung: int) -> float | None:
        """Seed noise at a rung: pooled standard deviation over archs trained with several seeds."""
        by_arch: dict[str, list[float]] = {}
        for e in self.evaluations(rung):
            by_arch.setdefault(e.arch, []).append(e.accuracy)
        return pooled_sd(list(by_arch.values()))


def malformed(e: Evaluation) -> str:
    """What is wrong with a journal record, or ''."""
    def number(value: object) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)

    if not isinstance(e.arch, str) or not isinstance(e.fidelity, str):
        return "arch and fidelity must be text"
    problem = unparsable_arch(e.arch)
    if problem:
        return problem
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (e.rung, e.seed)):
        return f"rung and seed must be integers >= 0, got {e.rung!r} and {e.seed!r}"
    if not number(e.accuracy) or not 0 <= e.accuracy <= 1:
        return f"accuracy must be a number in [0, 1], got {e.accuracy!r}"
    if not number(e.seconds) or e.seconds < 0:
        return f"seconds must be a number >= 0, got {e.seconds!r}"
    if not isinstance(e.history, list) or not all(number(v) for v in e.history):
        return "history must be a list of numbers"
    return ""


def unparsable_arch(text: str) -> str:
    """Why a journal's arch string does not parse, or '': checked when the journal is read, so that a resume names
    the bad line before any work instead of failing after screening and rung 0 ran again."""
    from nas.arch import parse_arch

    try:
        parse_arch(text)
    except NasError as exc:
        return f"arch {text[:60]!r} does not parse: {exc}"
    return ""
