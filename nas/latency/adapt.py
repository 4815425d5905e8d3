"""Adapting to a device from a few whole-network measurements, with the shipped tables as sources.

A device's latency for a network is modelled as a non-negative combination of what the source tables
predict for it and of work terms counted from the arch (layers, MACs, parameters, activation
megabytes), plus an intercept:

    ms(arch) = sum_s w_s * source_s(arch) + sum_t v_t * term_t(arch) + b,   w, v, b >= 0

Every term is a sum over the arch's layers, so a fitted model is itself a per-layer table: layer
``l`` costs ``sum_s w_s * contribution_s(l) + sum_t v_t * term_t(l)`` and the intercept joins the
per-network overhead. Few networks cannot pin down many weights, so the model is chosen among a few
candidate feature sets (each source alone, with the layer count, all sources, with the work terms) by
leave-one-out error on the measured networks; that error is the figure every adapted entry carries. A source
re-weighted per layer kind (:mod:`nas.latency.kind_model`) competes with these on the same error, for hosts and
devices that speed some kinds of block up more than others.

Why whole networks: a device's per-layer numbers miss what happens between layers (cache reuse,
fusion, launch overhead); a handful of end-to-end timings carry it, and they are what a user can
measure on any device, torch or not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nas.arch import Arch, Layer
from nas.latency.kind_model import KindModel, fit_kind_model
from nas.latency.layer_work import WORK_TERMS, SourceReader, layer_terms, work_terms
from nas.latency.table import Entry, LatencyTable, TableError, now
from nas.stats import nonnegative_least_squares

MIN_NETWORKS = 3


def source_predictions(source: LatencyTable | SourceReader, archs: Sequence[Arch]) -> np.ndarray:
    """The source's latency for each arch; a layer it lacks counts as its work-term stand-in
    (:class:`nas.latency.layer_work.StandIn`)."""
    reader = SourceReader.of(source)
    if not any(reader.source.missing(arch.keys()) for arch in archs):
        return reader.source.compile().predict_many(list(archs))
    return np.array([reader.constant_ms + sum(reader.ms(layer) for layer in arch.layers()) for arch in archs])


def feature_matrix(archs: Sequence[Arch], sources: Sequence[LatencyTable | SourceReader]) -> np.ndarray:
    """Per arch: each source's prediction, then the work terms (columns in that order)."""
    predicted = [source_predictions(source, archs) for source in sources]
    terms = np.array([work_terms(a) for a in archs])
    return np.column_stack([*predicted, terms]) if predicted else terms


def candidate_sets(n_sources: int) -> list[tuple[int, ...]]:
    """Column subsets tried (indices into feature_matrix's columns); the intercept is always in."""
    terms = list(range(n_sources, n_sources + len(WORK_TERMS)))
    sets: list[tuple[int, ...]] = [(t,) for t in terms]
    sets += [(a, b) for i, a in enumerate(terms) for b in terms[i + 1:]]
    for s in range(n_sources):
        sets += [(s,), *[(s, t) for t in terms]]
    if n_sources > 1:
        sets += [tuple(range(n_sources)), *[(*range(n_sources), t) for t in terms]]
    sets.append(tuple(range(n_sources + len(WORK_TERMS))))
    return sets


def _fit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Non-negative weights for the columns of ``x`` and an intercept (last), fitted on relative error."""
    design = np.column_stack([x, np.ones(len(x))])
    scale = np.abs(design).mean(axis=0) + 1e-12
    weight = 1.0 / y  # relative error: a 1 ms net and a 100 ms net count alike
    coef = nonnegative_least_squares(design / scale * weight[:, None], y * weight)
    return coef / scale


def _predict(coef: np.ndarray, x: np.ndarray) -> np.ndarray:
    return x @ coef[:-1] + coef[-1]


def leave_one_out(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Each network predicted by the model fitted on the others."""
    out = np.empty(len(y))
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        out[i] = _predict(_fit(x[keep], y[keep]), x[i:i + 1])[0]
    return out


@dataclass
class AdaptedModel:
    """The chosen feature set, its weights, and its leave-one-out error on the networks it was fitted on."""

    columns: tuple[int, ...]
    coef: np.ndarray
    names: list[str]
    loo_mape_pct: float
    loo_within_10pct: float
    fitted_on: int
    tried: dict[str, float] = field(default_factory=dict)

    def ms_from_features(self, x: np.ndarray) -> np.ndarray:
        return _predict(self.coef, x[:, list(self.columns)])

    def weights(self) -> dict[str, float]:
        return {self.names[c]: float(w) for c, w in zip(self.columns, self.coef[:-1])} | {"intercept_ms": float(self.coef[-1])}

    def _weight_of(self, column: int) -> float:
        return float(self.coef[self.columns.index(column)]) if column in self.columns else 0.0

    def source_weight(self, index: int, key: str | None) -> float:
        """The weight on source ``index``: one for every layer and for its once-per-network constant."""
        return self._weight_of(index)

    @property
    def term_weights(self) -> np.ndarray:
        n_sources = len(self.names) - len(WORK_TERMS)
        return np.array([self._weight_of(n_sources + t) for t in range(len(WORK_TERMS))])

    @property
    def intercept(self) -> float:
        return float(self.coef[-1])

    def describe(self) -> str:
        return " + ".join(self.names[c] for c in self.columns)


def fit_adapted(x: np.ndarray, y: np.ndarray, names: list[str]) -> AdaptedModel:
    """Choose the candidate feature set with the lowest leave-one-out MAPE, and fit it on every network."""
    y = np.asarray(y, float)
    if len(y) < MIN_NETWORKS:
        raise ValueError(f"adapting needs at least {MIN_NETWORKS} measured networks, got {len(y)}")
    n_sources = len(names) - len(WORK_TERMS)
    best: tuple[float, tuple[int, ...], np.ndarray] | None = None
    tried = {}
    for columns in candidate_sets(n_sources):
        if len(columns) + 2 > len(y):  # leave-one-out needs more networks than weights
            continue
        loo = leave_one_out(x[:, list(columns)], y)
        mape = float(np.mean(np.abs(loo - y) / y) * 100)
        tried["+".join(names[c] for c in columns)] = mape
        if best is None or mape < best[0]:
            best = (mape, columns, loo)
    assert best is not None
    mape, columns, loo = best
    within = float(np.mean(np.abs(loo - y) / y <= 0.10) * 100)
    return AdaptedModel(columns, _fit(x[:, list(columns)], y), names, mape, within, len(y), tried)


KIND_MODEL_GAIN = (0.05, 0.1)
"""A per-kind model replaces the simpler one only when it cuts the leave-one-out MAPE by 5 % of it and by 0.1 points:
on a device that is a rescale of a source the two tie near zero, and the model with fewer weights is the one to
trust."""


def choose_model(archs: Sequence[Arch], y: np.ndarray, sources: Sequence[LatencyTable | SourceReader]
                 ) -> AdaptedModel | KindModel:
    """The sources rescaled, with work terms (:func:`fit_adapted`), against each source re-weighted per layer kind
    (:mod:`nas.latency.kind_model`): the lowest leave-one-out MAPE wins, and every candidate's error is kept."""
    y = np.asarray(y, float)
    readers = [SourceReader.of(s) for s in sources]
    names = [r.source.device for r in readers] + list(WORK_TERMS)
    x = feature_matrix(archs, readers)
    best: AdaptedModel | KindModel = fit_adapted(x, y, names)
    tried = dict(best.tried)
    for index, reader in enumerate(readers):
        by_kind = fit_kind_model(archs, y, reader, index, x[:, len(readers):])
        tried |= by_kind.tried
        relative, points = KIND_MODEL_GAIN
        if best.loo_mape_pct - by_kind.loo_mape_pct > max(relative * best.loo_mape_pct, points):
            best = by_kind
    best.tried = tried
    return best


MAX_NETWORK_MS = 600_000.0
"""No small CNN takes ten minutes for one image: a larger value is a unit error or a forged file."""
MAX_MEASUREMENTS = 1_000
"""Rows a measurements file may hold: the fit's leave-one-out error costs one fit per row and candidate feature set,
and a device timed by hand gives tens of networks, not thousands."""
MAX_MEASUREMENTS_BYTES = 2_000_000
"""A measurements file larger than this is refused before it is parsed."""
REPEAT_AGREEMENT = 0.20
"""Two rows of one arch within this (relative) are averaged; further apart, the file contradicts itself and is refused.
Why not tighter: two timings of one network on a shared 2-core host differed by more than 5 % for 19-51 % of 80
networks and by more than 10 % for 2-25 % (by timing protocol and hour, decision 0034), so a tight rule refuses honest
repeats; a factor of 1.2 is a different network, a different setting or a unit slip."""


def _ms_value(value: object, where: str) -> float:
    """A row's ms as a finite number in range; a boolean or a non-numeric text is refused (``float(True)`` is 1)."""
    import math

    if isinstance(value, bool) or value is None or isinstance(value, (list, dict)):
        raise TableError(f"{where}: ms must be a number, got {value!r}")
    try:
        ms = float(value)  # a CSV cell is text
    except (TypeError, ValueError):
        raise TableError(f"{where}: ms must be a number, got {value!r}") from None
    if not math.isfinite(ms) or not 0 < ms <= MAX_NETWORK_MS:
        raise TableError(f"{where}: ms must be a finite number in (0, {MAX_NETWORK_MS:g}], got {value!r}")
    return ms


def read_measurements(path: str | Path) -> list[tuple[Arch, float]]:
    """Rows of (arch string or baseline name, ms) from CSV (columns ``arch``, ``ms``) or JSON (a list of objects with
    those fields), validated whole: every failure is one :class:`TableError` naming the file and the row.

    Bounded (:data:`MAX_MEASUREMENTS` rows, :data:`MAX_MEASUREMENTS_BYTES`); an arch given twice is averaged when
    its values agree within :data:`REPEAT_AGREEMENT`, and refused otherwise (one network cannot take both)."""
    import csv
    import json

    from nas.errors import NasError
    from nas.space import resolve_arch

    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_MEASUREMENTS_BYTES:
            raise TableError(f"{path}: {size:,} bytes is too large for a measurements file (at most "
                             f"{MAX_MEASUREMENTS_BYTES:,}; about {MAX_MEASUREMENTS:,} networks)")
        text = path.read_text()
        rows = json.loads(text) if path.suffix == ".json" else list(csv.DictReader(text.splitlines()))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, csv.Error) as exc:
        raise TableError(f"cannot read measurements {path}: {exc}") from None
    if not isinstance(rows, list):
        raise TableError(f"{path}: expected a list of {{arch, ms}} objects")
    if len(rows) > MAX_MEASUREMENTS:
        raise TableError(f"{path}: {len(rows):,} rows; a measurements file holds at most {MAX_MEASUREMENTS:,} networks "
                         "(tens are enough to adapt a table)")
    by_arch: dict[str, tuple[Arch, list[float], int]] = {}
    for number, row in enumerate(rows, start=1):
        where = f"{path}: row {number}"
        if not isinstance(row, dict) or "arch" not in row or "ms" not in row:
            raise TableError(f"{where}: needs the fields arch and ms")
        ms = _ms_value(row["ms"], where)
        if not isinstance(row["arch"], str):
            raise TableError(f"{where}: arch must be an arch string or a baseline name, got {row['arch']!r:.60}")
        try:
            arch = resolve_arch(row["arch"])
        except NasError as exc:
            raise TableError(f"{where}: unknown arch ({exc})") from None
        _, values, first = by_arch.setdefault(str(arch), (arch, [], number))
        values.append(ms)
        if max(values) / min(values) - 1 > REPEAT_AGREEMENT:
            raise TableError(f"{where}: the same network as row {first} at {ms:g} ms where that row says {values[0]:g} ms "
                             f"(more than {REPEAT_AGREEMENT:.0%} apart): time it again and keep one row")
    out = [(arch, sum(values) / len(values)) for arch, values, _ in by_arch.values()]
    if len(out) < MIN_NETWORKS:
        raise TableError(f"{path}: {len(out)} distinct measured network(s); adapting needs at least {MIN_NETWORKS} (about "
                         "10 gives a useful error estimate)")
    return out


def adapt_table(device: str, measurements: list[tuple[Arch, float]], sources: list[LatencyTable],
                keys: dict[str, Layer]) -> tuple[LatencyTable, AdaptedModel | KindModel]:
    """A table for ``device`` over ``keys`` and every layer of the measured networks, from the fitted model; the
    measured networks are kept in the table and predict exactly their measurements.

    A key that a source with a weight lacks (FBNet's grouped blocks, a 100-class head, a space the source never
    covered) is not left out: that source's part is its work-term stand-in (:class:`nas.latency.layer_work.StandIn`),
    and the entry says ``extrapolated``, so a prediction that uses it has no error bar. So the table predicts every
    network built from these layers, never failing on a key."""
    archs = [a for a, _ in measurements]
    keys = dict(keys)
    for arch in archs:
        for layer in arch.layers():
            keys.setdefault(layer.key, layer)
    readers = [SourceReader(s) for s in sources]  # each source's stand-in is fitted once, for the model and the entries
    model = choose_model(archs, np.array([ms for _, ms in measurements]), readers)
    extra = {"heldout_mape_pct": model.loo_mape_pct}  # the model, its date and fit are in meta.adapted, once
    entries = {}
    for key, layer in keys.items():
        weighted = [(model.source_weight(i, key), reader) for i, reader in enumerate(readers)]
        weighted = [(w, reader) for w, reader in weighted if w]
        lacking = [reader.source.device for _, reader in weighted if key not in reader.source.entries]
        ms = sum(w * reader.ms(layer) for w, reader in weighted) + float(model.term_weights @ layer_terms(layer))
        note = {"extrapolated": True, "stand_in_for": lacking} if lacking else {}
        entries[key] = Entry(float(ms), 0.0, 0, "adapted", {**extra, **note})
    overhead = sum(model.source_weight(i, None) * reader.constant_ms for i, reader in enumerate(readers))
    constant = float(overhead + model.intercept)  # may be < 0 where a source's calibration offset is
    meta = {"device": device, "runtime": "adapted", "threads": "unknown", "batch": 1, "created": now(), "updated": now(),
            "overhead_ms": max(constant, 0.0),
            "calibration": {"scale": 1.0, "offset_ms": min(constant, 0.0),
                            "note": "the adapted model's constant where it is negative (a source's offset)"},
            "timing": f"adapted from {model.fitted_on} whole-network measurements (nas latency adapt)",
            "adapted": {"sources": [s.device for s in sources], "weights": model.weights(), "date": now(),
                        "model": f"adapted: {model.describe()}: "
                                 + " + ".join(f"{w:.4g} x {n}" for n, w in model.weights().items() if w),
                        "heldout_mape_pct": model.loo_mape_pct, "heldout_within_10pct": model.loo_within_10pct,
                        "fitted_on": model.fitted_on, "candidates_heldout_mape_pct": model.tried},
            "measured_networks": {str(a): ms for a, ms in measurements}}
    return LatencyTable(meta, entries), model
