"""A source table re-weighted per layer kind: the adaptation model for a host or device that speeds blocks up unevenly.

Why: one rescale of a source assumes that every kind of block speeds up alike on the new machine. Between two x86
hosts running one ONNX Runtime build, the ratio measured / table moved from 0.70 (inverted residuals, Ghost
bottlenecks) to 0.83 (NAS-Bench-Macro's networks, fused convs), so a single factor left about a quarter of the
networks more than 10 % off, however many were timed. Here each kind of layer (the key's prefix: ``ir``, ``ir_se``,
``ghost``, ``fused``, ``head``..., the grouping of the table's own ``scale_by_kind`` calibration) gets its own weight
on the source, and work terms (:data:`nas.latency.layer_work.WORK_TERMS`) carry what the source's blocks do not (an
activation written to memory costs more on one machine than on another):

    ms(arch) = sum_kind w_kind * source_kind(arch) + w_rest * source_constant + sum_t v_t * term_t(arch) + b

Few networks cannot pin down a weight per kind, so the weights are shrunk (ridge) toward the single rescale and the
work terms toward zero, by an amount chosen by leave-one-out error: with few networks, or a host where the rescale is
right, the model stays the rescale; a kind moves only as far as the networks that hold it support. A kind no
measured network holds keeps the rescale. All weights are non-negative, so every adapted entry is a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from nas.arch import Arch
from nas.latency.layer_work import WORK_TERMS, SourceReader, work_terms
from nas.latency.table import LatencyTable, key_kind
from nas.stats import nonnegative_least_squares

SHRINKAGE = (1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0, 1e3)
"""Ridge strengths tried (leave-one-out picks one): from nearly free per-kind weights to the single rescale."""
REST = "rest"
"""The column of the source's constant (offset and per-call overhead) and of any kind not listed."""


def kind_features(archs: Sequence[Arch], source: LatencyTable | SourceReader, kinds: Sequence[str]) -> np.ndarray:
    """Per arch: the source's calibrated ms summed over its layers of each kind in ``kinds``, then the rest column."""
    reader = SourceReader.of(source)
    index = {kind: i for i, kind in enumerate(kinds)}
    out = np.zeros((len(archs), len(kinds) + 1))
    for row, arch in enumerate(archs):
        out[row, -1] = reader.constant_ms
        for layer in arch.layers():
            out[row, index.get(key_kind(layer.key), len(kinds))] += reader.ms(layer)
    return out


def fit_by_kind(by_kind: np.ndarray, terms: np.ndarray, y: np.ndarray, shrinkage: float) -> np.ndarray:
    """Non-negative [kind weights..., rest, term weights..., intercept], fitted on relative error with a ridge
    pulling each kind weight toward the single rescale and each term's share of a network toward zero."""
    relative = 1.0 / y
    rescale = nonnegative_least_squares(np.column_stack([by_kind.sum(axis=1), np.ones(len(y))]) * relative[:, None],
                                        y * relative)[0]
    rescale = max(rescale, 1e-9)
    n_kinds, n_terms = by_kind.shape[1], terms.shape[1]
    data = np.column_stack([by_kind, terms, np.ones(len(y))]) * relative[:, None]
    root = np.sqrt(shrinkage)
    penalty = np.zeros((n_kinds + n_terms, n_kinds + n_terms + 1))
    penalty[:n_kinds, :n_kinds] = np.eye(n_kinds) * root / rescale
    penalty[n_kinds:, n_kinds:-1] = np.diag((terms * relative[:, None]).mean(axis=0) + 1e-12) * root
    target = np.concatenate([y * relative, np.full(n_kinds, root), np.zeros(n_terms)])
    return nonnegative_least_squares(np.vstack([data, penalty]), target)


def _predict(coef: np.ndarray, by_kind: np.ndarray, terms: np.ndarray) -> np.ndarray:
    return np.column_stack([by_kind, terms, np.ones(len(by_kind))]) @ coef


def leave_one_out(by_kind: np.ndarray, terms: np.ndarray, y: np.ndarray, shrinkage: float) -> np.ndarray:
    out = np.empty(len(y))
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        out[i] = _predict(fit_by_kind(by_kind[keep], terms[keep], y[keep], shrinkage), by_kind[i:i + 1],
                          terms[i:i + 1])[0]
    return out


@dataclass
class KindModel:
    """One source re-weighted per layer kind, with work terms; the adapted table's model when it wins leave-one-out."""

    source_index: int
    source: str
    kinds: list[str]
    coef: np.ndarray
    shrinkage: float
    with_terms: bool
    loo_mape_pct: float
    loo_within_10pct: float
    fitted_on: int
    tried: dict[str, float] = field(default_factory=dict)

    def source_weight(self, index: int, key: str | None) -> float:
        """The weight on source ``index`` for layer ``key`` (None: the source's once-per-network constant)."""
        if index != self.source_index:
            return 0.0
        kind = key_kind(key) if key is not None else REST
        return float(self.coef[self.kinds.index(kind) if kind in self.kinds else len(self.kinds)])

    @property
    def term_weights(self) -> np.ndarray:
        return self.coef[len(self.kinds) + 1:-1]

    @property
    def intercept(self) -> float:
        return float(self.coef[-1])

    def weights(self) -> dict[str, float]:
        names = [f"{self.source}:{kind}" for kind in [*self.kinds, REST]] + list(WORK_TERMS)
        return dict(zip(names, map(float, self.coef[:-1]), strict=True)) | {"intercept_ms": self.intercept}

    def describe(self) -> str:
        return _label(self.source, self.with_terms, self.shrinkage)


def _label(device: str, with_terms: bool, shrinkage: float) -> str:
    return f"{device} by kind{' + work terms' if with_terms else ''} (shrinkage {shrinkage:g})"


def fit_kind_model(archs: Sequence[Arch], y: np.ndarray, source: LatencyTable | SourceReader, source_index: int,
                   terms: np.ndarray | None = None) -> KindModel:
    """The shrinkage (and whether work terms enter) with the lowest leave-one-out MAPE, refitted on every network."""
    reader = SourceReader.of(source)
    kinds = sorted({key_kind(layer.key) for arch in archs for layer in arch.layers()})
    by_kind = kind_features(archs, reader, kinds)
    all_terms = np.array([work_terms(a) for a in archs]) if terms is None else terms
    best: tuple[float, float, bool, np.ndarray] | None = None
    tried: dict[str, float] = {}
    for with_terms in (False, True):
        used = all_terms if with_terms else np.zeros((len(y), len(WORK_TERMS)))
        for shrinkage in SHRINKAGE:
            loo = leave_one_out(by_kind, used, y, shrinkage)
            mape = float(np.mean(np.abs(loo - y) / y) * 100)
            tried[_label(reader.source.device, with_terms, shrinkage)] = mape
            if best is None or mape < best[0]:
                best = (mape, shrinkage, with_terms, loo)
    assert best is not None
    mape, shrinkage, with_terms, loo = best
    used = all_terms if with_terms else np.zeros((len(y), len(WORK_TERMS)))
    within = float(np.mean(np.abs(loo - y) / y <= 0.10) * 100)
    return KindModel(source_index, reader.source.device, kinds, fit_by_kind(by_kind, used, y, shrinkage), shrinkage,
                     with_terms, mape, within, len(y), tried)
