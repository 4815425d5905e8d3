"""Atomic file writes: a crash or a kill never leaves a half-written table, report or config."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    atomic_write_bytes(path, text.encode())


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    The rename replaces a symbolic link at ``path`` instead of writing through it, so a planted link never
    redirects the write (a link among the parent folders is :func:`escaping_link`'s to catch)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def escaping_link(root: Path, limit: int = 100_000) -> Path | None:
    """The first symbolic link under ``root`` that leads outside it (or dangles out of it), else None.

    Why: a run folder is the tool's; a link planted in it (``export -> /etc``, ``pareto.png -> ~/.bashrc``) would
    turn the tool's own writes into writes anywhere the user can write. Links that stay inside are harmless.
    ``limit`` bounds the walk (a run holds a few hundred files)."""
    if not root.is_dir():
        return None
    inside = root.resolve()
    seen = 0
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in [*dirs, *files]:
            seen += 1
            if seen > limit:
                return None
            path = Path(folder) / name
            if path.is_symlink() and not path.resolve().is_relative_to(inside):
                return path
    return None


def open_no_follow(path: Path, flags: int, error: type[Exception]) -> int:
    """``os.open`` that refuses a symbolic link at ``path`` with one ``error`` line (a lock or a journal written
    through a planted link would truncate or grow the file it points to)."""
    try:
        return os.open(path, flags | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except OSError:
        if path.is_symlink():
            raise error(f"{path} is a symbolic link; the tool writes only its own files there: remove the link "
                        "and run again") from None
        raise


def merge_json_object(path: Path, entries: dict[str, Any]) -> None:
    """Write ``entries`` into the JSON object at ``path``, keeping the keys it already holds (``entries`` win).

    Why: caches that several processes fill (the benches' score and training memos) would otherwise lose whatever
    another process added since this one read the file."""
    existing = json.loads(path.read_text()) if path.is_file() else {}
    atomic_write_text(path, json.dumps({**existing, **entries}, indent=1) + "\n")


def append_line(path: Path, line: str) -> None:
    """Append one line to a journal (JSON lines) and fsync it, so that a kill loses at most the line being written.

    Why the check for a final newline: a kill mid-write leaves a torn last line without one; the next
    append would run on from it and turn a good record into an unreadable one. Starting a fresh line
    keeps the torn fragment on its own, where readers skip it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    from nas.errors import NasError

    with os.fdopen(open_no_follow(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, NasError), "rb+") as handle:
        handle.seek(0, os.SEEK_END)
        torn = False
        if handle.tell():
            handle.seek(-1, os.SEEK_END)
            torn = handle.read(1) != b"\n"
        handle.write((("\n" if torn else "") + line + "\n").encode())
        handle.flush()
        os.fsync(handle.fileno())


def read_json_object(path: Path, error: type[Exception], needs: tuple[str, ...] = ()) -> dict[str, Any]:
    """A JSON object the tool wrote (pareto.json, ...), or one ``error`` line saying it is unreadable or incomplete."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise error(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(f"{path} is unreadable ({exc}); if the run finished, rerun it with --resume to rewrite it") from None
    missing = [key for key in needs if not isinstance(data, dict) or key not in data]
    if missing:
        raise error(f"{path} lacks {', '.join(missing)}; rerun the search with --resume to rewrite it")
    return data


def read_journal(path: Path) -> list[dict[str, Any]]:
    """The records of a journal written by :func:`append_line`; a line torn by a kill mid-write is skipped."""
    return [record for _, record in read_journal_lines(path)]


def read_journal_lines(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, record) for each record of a journal, so that a reader can name the line of a bad one; a line
    that is not a JSON object (torn by a kill mid-write) is skipped."""
    if not path.is_file():
        return []
    records = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append((number, record))
    return records


JSON_MAX_BYTES = 64_000_000
"""No table, manifest or results file the tool reads comes near this (the largest shipped table is about 1 MB)."""


def read_json_bounded(path: Path, error: type[Exception], what: str, limit: int = JSON_MAX_BYTES) -> Any:  # noqa: ANN401
    """A JSON file from a user or a device, refused before parsing when it is larger than ``limit``; every failure is
    one ``error`` line naming ``what`` and the file."""
    try:
        size = path.stat().st_size
        if size > limit:
            raise error(f"{what} {str(path)!r} is {size:,} bytes, more than a {what} can be ({limit:,}); is it the "
                        "right file?")
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(f"cannot read {what} {str(path)!r}: {exc}") from None


YAML_MAX_BYTES = 1_000_000
"""No space, config or arch file the tool reads comes near this; a larger one is refused before parsing."""


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors and aliases: the tool's files never need them, and nested aliases (a
    "billion laughs" bomb) let a 1 kB file expand to gigabytes once anything walks it."""

    def compose_node(self, parent: Any, index: Any) -> Any:  # noqa: ANN401 (PyYAML's types)
        if self.check_event(yaml.events.AliasEvent):
            event = self.peek_event()
            raise yaml.constructor.ConstructorError(None, None, "anchors and aliases (*name) are not allowed",
                                                    event.start_mark)
        return super().compose_node(parent, index)


def read_yaml(path: Path, error: type[Exception]) -> Any:  # noqa: ANN401 (any YAML document)
    """A YAML file the tool reads, bounded (size, no aliases), every failure one ``error`` naming file, line and column."""
    try:
        size = path.stat().st_size
        if size > YAML_MAX_BYTES:
            raise error(f"{path}: {size:,} bytes is too large for a YAML file of this tool (at most "
                        f"{YAML_MAX_BYTES:,})")
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror}") from None
    try:
        return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise error(f"{path}: not valid YAML{where}: {problem}") from None


class FolderLock:
    """An exclusive lock on a folder (``.lock`` in it, holding the holder's pid and host) for one process's lifetime.

    Why ``flock``: the kernel drops the lock when its holder dies, even by SIGKILL, so a killed run never
    blocks its own resume, while two live processes on one run (which would mix their trials in one study)
    are refused, with the holder named.
    """

    def __init__(self, folder: Path, error: type[Exception]) -> None:
        self.path = folder / ".lock"
        self.error = error
        self._handle: Any = None

    def __enter__(self) -> FolderLock:
        import fcntl
        import socket

        descriptor = open_no_follow(self.path, os.O_RDWR | os.O_CREAT, self.error)
        handle = os.fdopen(descriptor, "r+")  # held open for the process's lifetime
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise self.error(f"{self.path.parent} is in use by {holder} (lock {self.path}); wait for it to finish "
                             "or stop it, then resume") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        handle.flush()
        self._handle = handle
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.close()  # closing releases the lock; the file stays (unlinking it would race a waiter)
            self._handle = None
