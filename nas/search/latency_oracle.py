"""A run's latency look-ups: its device table, the budget, and the other tables that cover the space.

Why apart from training: the samplers, the screen and the outputs ask only "how fast, and does it fit?", and a
run fails on a table that lacks the space or a budget below the fastest arch before anything is trained.
"""

from __future__ import annotations

from nas.arch import Arch, Layer
from nas.errors import NasError
from nas.latency.table import CompiledTable, LatencyTable, load_table, other_tables
from nas.space import SearchSpace


def min_latency(space: SearchSpace, table: LatencyTable) -> float:
    """Exact fastest arch of the space on a table: :meth:`SearchSpace.extremes` costed by table entries."""
    def entry(layer: Layer) -> float:
        return table.contribution(layer.key) if layer.key in table.entries else float("inf")

    fastest = [space.extremes(w, r, entry)[0] for w in space.widths for r in space.resolutions]
    return float(table.compile().predict_many(fastest).min())


class LatencyOracle:
    """Predicted latencies of a space's archs on one device (and every other table that covers the space)."""

    def __init__(self, space: SearchSpace, space_name: str, device: str, budget_ms: float) -> None:
        from nas.latency.host import is_foreign, warn_if_foreign

        self.device = device
        self.table = load_table(device)
        warn_if_foreign(self.table)
        self.foreign_table = is_foreign(self.table)
        layers = space.layers()
        missing = self.table.missing(layers)
        if missing:
            raise NasError(f"table {device!r} lacks {len(missing)} layer(s) of space {space_name!r}, e.g. "
                           f"{missing[0]!r}; {self.table.fill_advice(space_name)}")
        self.budget_ms = budget_ms
        self.fastest_ms = min_latency(space, self.table)
        if self.fastest_ms > budget_ms:
            raise NasError(f"budget {budget_ms:g} ms is below the fastest arch of {space_name!r} on {device} "
                           f"({self.fastest_ms:.3f} ms): raise the budget to at least {self.fastest_ms:.3f}ms")
        self.other_tables = {name: other for name, other in other_tables(device).items() if not other.missing(layers)}
        self.compiled: CompiledTable = self.table.compile()

    def latency(self, arch: Arch) -> float:
        return self.table.predict(arch)

    def latencies(self, arch: Arch) -> dict[str, float]:
        """Predicted latency on the search's device and every other table that covers the space."""
        return {self.device: self.table.predict(arch),
                **{name: table.predict(arch) for name, table in self.other_tables.items()}}

    def feasible(self, arch: Arch) -> bool:
        return self.latency(arch) <= self.budget_ms

    def error_bar(self, arch: Arch) -> float | None:
        """The prediction's error bar in ms on the run's device (``None``: unknown)."""
        return self.table.error_bar(arch, self.foreign_table)
