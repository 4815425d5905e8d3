"""The tabular source: an arch's published fully trained accuracy, looked up instead of trained.

Why: with a table, a search algorithm is judged against true 50-epoch accuracies in seconds, and an
estimator's ranking is judged against them for free. It exists only for spaces that have a table
(``nas_bench_macro``); real training stays the default everywhere else, and every output names the mode.
"""

from __future__ import annotations

import functools

from nas.accuracy.estimator import Score
from nas.accuracy.nas_bench_macro import BenchmarkError, NasBenchMacro, load_benchmark
from nas.arch import Arch

TABLES = {"nas_bench_macro": "NAS-Bench-Macro, 50 epochs, CIFAR-10 test set, mean of 3 seeds per code",
          "accel_nasbench": "Accel-NASBench, ImageNet top-1 after the paper's proxified training (one seed); a network "
                            "outside its 4,138 is predicted by a gradient-boosted surrogate (held-out Kendall 0.92, "
                            "bench/accel_surrogate.py), and each accuracy says which"}
"""Spaces with a table of trained accuracies, and what the table's numbers are."""


@functools.cache
def table_source(space: str) -> object:
    """The accuracy table of a space: an object with ``seeds(arch)`` (each published training's accuracy, as a
    fraction) and ``kind(arch)`` ('looked up' or 'predicted'). Read once per process: the search's evaluator and
    its candidate pool (:func:`table_archs`) share it, and the vendored files never change under it."""
    check_tabular_space(space)
    if space == "accel_nasbench":
        from nas.accuracy.accel_nasbench import AccelNasBench

        return AccelNasBench()
    return load_benchmark()


def table_archs(space: str) -> list[Arch]:
    """The networks a space's table measured (every one of NAS-Bench-Macro's space; Accel-NASBench's 4,138 of
    1e11): what ``--candidates table`` draws the pre-screen pool from, so that every accuracy is looked up."""
    return table_source(space).archs()  # type: ignore[attr-defined]


def check_tabular_space(space: str) -> None:
    """One clear error when a space has no table of trained accuracies."""
    if space not in TABLES:
        raise BenchmarkError(f"space {space!r} has no table of trained accuracies, so it cannot use the tabular "
                             f"source; spaces with one: {', '.join(sorted(TABLES))} (or train: the default)")


class TabularEstimator:
    name = "tabular"
    cost = "tabular"

    def __init__(self, benchmark: NasBenchMacro | None = None) -> None:
        self.benchmark = benchmark or load_benchmark()

    def score(self, arch: Arch) -> Score:
        return Score(self.benchmark.accuracy(arch), f"tabular: {TABLES['nas_bench_macro']}")


def make(name: str, data: object = None, seed: int = 0) -> TabularEstimator:
    """The registry's factory (:mod:`nas.accuracy.registry`)."""
    return TabularEstimator()
