"""Shared test helpers: fast, deterministic, offline."""

from __future__ import annotations

import os
import tempfile
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

torch.set_num_threads(min(2, os.cpu_count() or 1))
