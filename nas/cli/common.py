"""What the command groups share: one-line usage errors, tables printed in columns, space arguments."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line (the default prints the whole usage)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see '{self.prog} --help')\n")
        raise SystemExit(2)


def print_table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def spaces_arg(values: list[str] | None) -> list[str]:
    from nas.space import available_spaces, load_space

    names = values or available_spaces()
    for name in names:
        load_space(name)  # fail early, with the list of spaces, on a typo
    return names

