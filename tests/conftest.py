"""Shared test helpers: fast, deterministic, offline."""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

# Tables a test builds, fits, adapts or imports go to a throw-away user folder, never to the user's own
# (nas.latency.table.user_tables_dir); each test gets a fresh one, so none sees another's tables.
os.environ["NAS_TABLES"] = tempfile.mkdtemp(prefix="nas-test-tables-")


@pytest.fixture(autouse=True)
def _own_user_tables(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path_factory.mktemp("user_tables")
    monkeypatch.setenv("NAS_TABLES", str(folder))
    return folder

# Under pytest-xdist every worker is a process of its own: one torch thread each keeps the cores from being
# oversubscribed (tests never depend on the thread count, and the run's trainings set their own).
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else min(2, os.cpu_count() or 1))


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """A folder ``build`` fills once per test session, shared by the pytest-xdist workers.

    Why: a finished search is the fixture of many end-to-end tests and costs half a minute; with parallel
    workers each would otherwise run its own. The first worker builds it under a file lock, the others wait and
    reuse it; tests that change a run copy it first."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    root = tmp_path_factory.getbasetemp()
    if worker:
        root = root.parent  # this session's folder, shared by its workers
    folder = root / f"shared_{name}"
    with open(root / f"shared_{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / ".done").is_file():
            folder.mkdir(exist_ok=True)
            build(folder)
            (folder / ".done").write_text("")
    return folder


@dataclass
class Ran:
    returncode: int
    stderr: str


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> Ran:
    """``nas ARGS`` in this process: the command's own error handling, without an interpreter start per case.

    An exception that escaped the command would fail the test, as a traceback from the program would."""
    from nas.cli import main

    capsys.readouterr()
    try:
        code = main(list(args))
    except SystemExit as exit_:  # the argument parser's own errors
        code = int(exit_.code or 0)
    return Ran(code, capsys.readouterr().err)
