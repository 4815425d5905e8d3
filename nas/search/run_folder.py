"""The run folder: where a run's files live, and typed readers and writers for each of them.

    runs/NAME/config.yaml         the run's SearchConfig (resume reads it)
    runs/NAME/evaluations.jsonl   every finished training (EvaluationJournal)
    runs/NAME/screening.jsonl     every zero-cost score (ScreeningJournal)
    runs/NAME/study.db            the Optuna study (sampler state only; the journal is the truth)
    runs/NAME/pareto.json         the front, the baseline, the verdict, the estimators
    runs/NAME/trials.csv          one row per trained candidate
    runs/NAME/confirm.jsonl/.json nas confirm's trainings and summary
    runs/NAME/weights/            top-rung weights, ID_rRUNG_sSEED.pt
    runs/NAME/search.log, report.html, pareto.png

Why one owner: search, confirm, export, report and the CLI all read and write these files, and the rules that keep
a run safe live here once: the names, the "is this a finished run?" check, and the refusal of a symbolic link that
leads out of the folder (:meth:`RunFolder.check_links`).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nas.arch import Arch
from nas.errors import NasError
from nas.fileio import atomic_write_text, escaping_link, read_json_object
from nas.search.config import STUDY_FILE, SearchConfig
from nas.search.journal import EvaluationJournal


@dataclass(frozen=True)
class RunFolder:
    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    # -- layout ---------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.path.name

    @property
    def config_path(self) -> Path:
        return self.path / "config.yaml"

    @property
    def journal_path(self) -> Path:
        return self.path / "evaluations.jsonl"

    @property
    def screening_path(self) -> Path:
        return self.path / "screening.jsonl"

    @property
    def study_path(self) -> Path:
        return self.path / STUDY_FILE

    @property
    def pareto_path(self) -> Path:
        return self.path / "pareto.json"

    @property
    def trials_path(self) -> Path:
        return self.path / "trials.csv"

    @property
    def confirm_journal_path(self) -> Path:
        return self.path / "confirm.jsonl"

    @property
    def confirm_path(self) -> Path:
        return self.path / "confirm.json"

    @property
    def log_path(self) -> Path:
        return self.path / "search.log"

    @property
    def report_path(self) -> Path:
        return self.path / "report.html"

    @property
    def plot_path(self) -> Path:
        return self.path / "pareto.png"

    def weights_path(self, arch: Arch, rung: int, seed: int) -> Path:
        return self.path / "weights" / f"{arch.id}_r{rung}_s{seed}.pt"

    # -- state ----------------------------------------------------------------------------------
    def has_config(self) -> bool:
        return self.config_path.is_file()

    def require_finished(self, advice: str = "") -> None:
        """One error line unless the search finished here (config.yaml and pareto.json exist) and the folder holds no
        link out of it."""
        if not self.has_config() or not self.pareto_path.is_file():
            raise NasError(f"{self.path} is not a finished search run (needs config.yaml and pareto.json)"
                           + (f"; {advice}" if advice else ""))
        self.check_links()

    def check_links(self) -> None:
        """One error line if a symbolic link in the run folder leads out of it: every command that writes into a run
        checks this before it writes anything, so a planted link never redirects the tool's writes."""
        link = escaping_link(self.path)
        if link is not None:
            raise NasError(f"{link} is a symbolic link out of the run folder ({link.readlink()}); the tool writes only "
                           "inside a run: remove the link (or copy what it points to into the run) and run again")

    # -- readers --------------------------------------------------------------------------------
    def config(self) -> SearchConfig:
        return SearchConfig.load_run(self.path)

    def journal(self) -> EvaluationJournal:
        return EvaluationJournal(self.journal_path)

    def pareto(self, required: tuple[str, ...] = ("front",)) -> dict[str, Any]:
        """pareto.json, its fields checked for type (a hand-edited file is one error line naming the field)."""
        from nas.search.pareto_schema import check_pareto

        document = read_json_object(self.pareto_path, NasError, required)
        problem = check_pareto(document)
        if problem:
            raise NasError(f"{self.pareto_path}: {problem}; rerun the search with --resume {self.name} to rewrite it")
        return document

    def trials(self) -> list[dict[str, str]]:
        """trials.csv as rows of text (one error line when it is missing or unreadable)."""
        try:
            with open(self.trials_path, newline="") as handle:
                return list(csv.DictReader(handle))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise NasError(f"{self.trials_path} is unreadable ({exc}); rerun the search with --resume "
                           f"{self.name} to rewrite it") from None

    # -- writers (atomic: a reader never sees half a file) --------------------------------------
    def write_pareto(self, document: dict[str, Any]) -> None:
        atomic_write_text(self.pareto_path, json.dumps(document, indent=1) + "\n")

    def write_trials(self, text: str) -> None:
        atomic_write_text(self.trials_path, text)

    def write_confirm(self, summary: dict[str, Any]) -> None:
        atomic_write_text(self.confirm_path, json.dumps(summary, indent=1) + "\n")
