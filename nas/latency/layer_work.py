"""What a layer costs in work terms, and what a source table would contribute for a layer it lacks.

Why its own module: adapting a table (:mod:`nas.latency.adapt`) and re-weighting a source per layer kind
(:mod:`nas.latency.kind_model`) both read a source layer by layer, and both need the same answer for a layer the
source never measured (FBNet's grouped blocks, a 100-class head, a space the source never covered).
"""

from __future__ import annotations

import numpy as np

from nas.arch import Arch, Layer
from nas.cost import layer_cost
from nas.errors import NasError
from nas.latency.table import LatencyTable, TableError
from nas.stats import nonnegative_least_squares

WORK_TERMS = ("layers", "mmacs", "mparams", "act_mb")


def layer_terms(layer: Layer) -> np.ndarray:
    """The work terms of one layer: 1 (a layer), MACs (M), parameters (M), output activation (MB, float32)."""
    cost = layer_cost(layer)
    out = layer.classes if layer.kind == "head" else layer.cout * layer.hw_out * layer.hw_out
    return np.array([1.0, cost.macs / 1e6, cost.params / 1e6, out * 4 / 1e6])


def work_terms(arch: Arch) -> np.ndarray:
    return np.sum([layer_terms(layer) for layer in arch.layers()], axis=0)


class StandIn:
    """What a source would contribute for a layer it has no entry for: its own entries of the same kind (all of them
    if it has none of that kind) fitted by non-negative work terms (:func:`layer_terms`), evaluated at the layer. An
    extrapolation: the entry it makes carries no error bar. Fitted once, when a source first lacks a layer."""

    def __init__(self, source: LatencyTable) -> None:
        from nas.layer import layer_from_key

        rows: dict[str, list[tuple[np.ndarray, float]]] = {"": []}
        for key in source.entries:
            try:
                layer = layer_from_key(key)
            except NasError:  # ArchError: a key this version cannot read stands in for nothing
                continue
            row = (layer_terms(layer), source.contribution(key))
            rows[""].append(row)
            rows.setdefault(layer.kind, []).append(row)
        self.fits = {kind: nonnegative_least_squares(np.array([r[0] for r in pairs]), np.array([r[1] for r in pairs]))
                     for kind, pairs in rows.items() if len(pairs) >= len(WORK_TERMS)}
        if "" not in self.fits:
            raise TableError(f"source table {source.device!r} has too few entries to stand in for a layer it lacks")

    def ms(self, layer: Layer) -> float:
        return float(layer_terms(layer) @ self.fits.get(layer.kind, self.fits[""]))


class SourceReader:
    """One source's calibrated contribution per layer, its stand-in where it lacks the layer (fitted on first need).

    Why one object per source: the stand-in is a fit over every entry of the source, and one adaptation reads each
    source three times (its predictions, its per-kind sums, the written entries); a reader fits it once."""

    def __init__(self, source: LatencyTable) -> None:
        self.source = source
        self._stand_in: StandIn | None = None

    @classmethod
    def of(cls, source: LatencyTable | SourceReader) -> SourceReader:
        return source if isinstance(source, SourceReader) else cls(source)

    @property
    def constant_ms(self) -> float:
        """What the source adds once per network: its calibration offset and its scaled per-call overhead."""
        scale, offset = self.source.calibration
        return offset + scale * self.source.overhead_ms

    def ms(self, layer: Layer) -> float:
        if layer.key in self.source.entries:
            return self.source.contribution(layer.key)
        if self._stand_in is None:
            self._stand_in = StandIn(self.source)
        return self._stand_in.ms(layer)
