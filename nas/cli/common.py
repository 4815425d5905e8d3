"""What the command groups share: one-line usage errors, tables printed in columns, space arguments."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TextIO


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line (the default prints the whole usage)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message}{self._suggestion(message)} (see '{self.prog} --help')\n")
        raise SystemExit(2)

    def _suggestion(self, message: str) -> str:
        """' (did you mean --device?)' for a mistyped option, from every option of this parser and its commands."""
        import difflib

        if "unrecognized arguments:" not in message:
            return ""
        typed = [word for word in message.split(":", 1)[1].split() if word.startswith("--")]
        known = sorted(self._command(sys.argv[1:] if self.words is None else self.words)._option_strings())
        for word in typed:
            close = difflib.get_close_matches(word.split("=", 1)[0], known, n=1, cutoff=0.75)
            if close:
                return f" (did you mean {close[0]}?)"
        return ""

    words: Sequence[str] | None = None
    """The command line being parsed (set by ``nas.cli.main``; else ``sys.argv``), to find the command it names."""

    def _command(self, words: Sequence[str]) -> OneLineParser:
        """The deepest command the words name (``nas latency predict``), whose options a suggestion is drawn from."""
        for action in self._actions:
            choices = getattr(action, "choices", None)
            if isinstance(choices, dict):
                for position, word in enumerate(words):
                    sub = choices.get(word)
                    if isinstance(sub, OneLineParser):
                        return sub._command(words[position + 1:])
        return self

    def _option_strings(self) -> set[str]:
        options: set[str] = set()
        for action in self._actions:
            options.update(o for o in action.option_strings if o.startswith("--"))
            choices = getattr(action, "choices", None)
            for sub in choices.values() if isinstance(choices, dict) else ():
                if isinstance(sub, OneLineParser):
                    options |= sub._option_strings()
        return options


def print_table(rows: Sequence[Sequence[str]], file: TextIO | None = None) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip(), file=file)


def spaces_arg(values: list[str] | None) -> list[str]:
    from nas.space import available_spaces, load_space

    names = values or available_spaces()
    for name in names:
        load_space(name)  # fail early, with the list of spaces, on a typo
    return names



SEED_MAX = 2**31 - 1


def bounded(low: float, high: float, kind: type = int) -> Callable[[str], float]:
    """An argparse ``type`` for a count or amount with a range: a value outside it is one usage line saying the range.

    Why every count has an upper bound: ``--host-networks 1000000000`` was taken as given and ran for ever; no
    option of this tool means anything near such values."""
    import math

    noun = "a whole number" if kind is int else "a number"

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None
        if not math.isfinite(value) or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text} is out of range: give {noun} from {_plain(low)} to {_plain(high)}")
        return value

    parse.__name__ = noun  # argparse names the type in its own messages
    return parse


def _plain(value: float) -> str:
    """2147483647 -> '2,147,483,647', 0.01 -> '0.01': a range a person can read."""
    return f"{int(value):,}" if float(value).is_integer() and abs(value) >= 1 else f"{value:g}"
