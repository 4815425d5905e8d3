"""Signs of life for long work: progress bars with an honest ETA, and numbered stages.

Trainings finish in batches (a batch of side-by-side trainings ends together), so a bar's rate is the
average since it started (tqdm ``smoothing=0``), not tqdm's default moving average: that one reads a
batch's results arriving within milliseconds of each other as a huge rate and promises the rest in
seconds. Stages say where a multi-step command is ("stage 2/4: ...") and how long it has run.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
BAR_FORMAT = "{desc} {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]"


def bar(total: int | None, desc: str = "", unit: str = "it", initial: int = 0) -> Any:  # noqa: ANN401 (tqdm)
    """A tqdm bar on stderr whose ETA is the average rate since it started (see the module's docstring)."""
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit=unit, dynamic_ncols=True, leave=True, smoothing=0,
                bar_format=BAR_FORMAT)


def progress(items: Iterable[T], total: int | None = None, desc: str = "", enabled: bool = True) -> Iterator[T]:
    if not enabled:
        yield from items
        return
    with bar(total, desc) as shown:
        for item in items:
            yield item
            shown.update(1)


class Stages:
    """Numbered stages of one command, printed on stderr as they begin, with the time spent so far."""

    def __init__(self, total: int, enabled: bool = True) -> None:
        self.total = total
        self.enabled = enabled
        self.current = 0
        self.started = time.perf_counter()

    def begin(self, text: str) -> None:
        self.current += 1
        if self.enabled:
            elapsed = time.perf_counter() - self.started
            sys.stderr.write(f"stage {self.current}/{self.total}: {text} [{elapsed / 60:.1f} min so far]\n")
            sys.stderr.flush()
