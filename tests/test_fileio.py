"""Journals and atomic writes: what a kill mid-write leaves behind stays readable."""

from __future__ import annotations

from pathlib import Path

from nas.fileio import append_line, atomic_write_text, merge_json_object


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


def test_a_merge_keeps_what_another_process_added_meanwhile(tmp_path: Path) -> None:
    import json

    cache = tmp_path / "cache.json"
    mine = {"a": 1.0}
    merge_json_object(cache, mine)  # a new file
    atomic_write_text(cache, json.dumps({"a": 1.0, "b": 2.0}))  # another process adds b
    mine.update(a=3.0, c=4.0)
    merge_json_object(cache, mine)
    assert json.loads(cache.read_text()) == {"a": 3.0, "b": 2.0, "c": 4.0}
