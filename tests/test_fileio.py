"""Journals and atomic writes: what a kill mid-write leaves behind stays readable."""

from __future__ import annotations

from pathlib import Path

from nas.fileio import append_line, atomic_write_text


def test_an_append_after_a_torn_line_starts_a_fresh_line(tmp_path: Path) -> None:
    journal = tmp_path / "sub" / "journal.jsonl"
    append_line(journal, '{"a": 1}')
    with open(journal, "a") as handle:
        handle.write('{"b": ')  # killed mid-write: no newline
    append_line(journal, '{"c": 3}')
    assert journal.read_text().splitlines() == ['{"a": 1}', '{"b": ', '{"c": 3}']


def test_atomic_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "x.json"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two" and [p.name for p in tmp_path.iterdir()] == ["x.json"]
