"""Checking a table against end-to-end measurement, and fitting its calibration.

``validate`` measures random archs of a space end to end on this host, with the table's runtime and
in the table's units (relative to its reference probe), and compares them with the table's
prediction. ``fit_calibration`` fits the table's calibration (per-kind factors, a weight-fetch term and
an offset; see :mod:`nas.latency.table`) by least squares on such measurements; the fit is always
judged on *fresh* archs that were not used for fitting.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from nas.arch import Arch, parse_arch
from nas.errors import ArchError
from nas.fileio import atomic_write_text
from nas.latency.build import open_table
from nas.latency.measure import Runtime
from nas.latency.ortbench import host_description
from nas.latency.runtimes import runtime_of_meta
from nas.latency.table import PREDICTION_FLOOR, LatencyTable, TableError, key_kind, now, weight_mb
from nas.progress import progress
from nas.stats import error_report

REPORTS_DIR = Path(__file__).resolve().parent.parent.parent / "latency_tables" / "reports"
"""The shipped tables' reports (written by the benches that build them, read by the rest)."""


@dataclass(frozen=True)
class Sample:
    """One arch: the table's uncalibrated sum, its calibrated prediction and the measurement."""

    arch: Arch
    raw_ms: float
    predicted_ms: float
    measured_ms: float
    spread: float
    passes_ms: tuple[float, ...] = ()


def runtime_of(table: LatencyTable) -> Runtime:
    """The runtime a table was measured with, checked to be runnable here, on the same processor."""
    backend = runtime_of_meta(table.meta)
    if backend is None:
        raise TableError(f"table {table.device!r} was measured with runtime {table.meta.get('runtime')!r}, "
                         "which this host cannot run")
    if "reference_ms" not in table.meta:
        raise TableError(f"table {table.device!r} was not measured on a host by 'nas latency build' "
                         "(no reference_ms), so it cannot be validated by measuring here")
    here = host_description()["processor"]
    if table.meta.get("processor") and table.meta["processor"] != here:
        raise TableError(f"table {table.device!r} was measured on {table.meta['processor']!r}, "
                         f"this host is {here!r}: end-to-end measurements here would not be comparable")
    return Runtime(backend.name, int(table.meta["threads"]))


def measure_archs(table: LatencyTable, archs: list[Arch], target_s: float = 1.0, show_progress: bool = True,
                  passes: int = 1) -> list[Sample]:
    """End-to-end measurement of ``archs`` in the table's units; ``passes`` > 1 repeats and takes the median."""
    runtime = runtime_of(table)
    _, timer = open_table(table.device, runtime, table.path)
    measured = np.zeros((passes, len(archs)))
    spreads = np.zeros((passes, len(archs)))
    for p in range(passes):
        for i, arch in enumerate(progress(archs, len(archs), f"end-to-end pass {p + 1}/{passes}", show_progress)):
            timing = timer.time_arch(arch, target_s)
            measured[p, i], spreads[p, i] = timing.ms, timing.spread
    samples = samples_from(table, archs, np.median(measured, 0), np.median(spreads, 0))
    if passes > 1:
        samples = [replace(s, passes_ms=tuple(float(v) for v in measured[:, i])) for i, s in enumerate(samples)]
    return samples


def samples_from(table: LatencyTable, archs: list[Arch], measured: np.ndarray, spreads: np.ndarray) -> list[Sample]:
    predicted = table.compile().predict_many(archs)
    return [Sample(a, table.raw_sum(a), float(p), float(m), float(s))
            for a, p, m, s in zip(archs, predicted, measured, spreads)]


def repredicted(table: LatencyTable, samples: list[Sample]) -> list[Sample]:
    """The same measurements predicted again with ``table`` as it is now (e.g. after a new calibration)."""
    return samples_from(table, [s.arch for s in samples], np.array([s.measured_ms for s in samples]),
                        np.array([s.spread for s in samples]))


def samples_from_reports(table: LatencyTable, paths: list[str] | list[Path]) -> list[Sample]:
    """End-to-end measurements kept in validation CSVs, predicted again with ``table`` as it is now.

    Lets a calibration be fitted on archs measured earlier (same host, same units) without timing them
    again; the fit is then judged on fresh archs, as always.
    """
    archs, measured, spreads = [], [], []
    for path in paths:
        _check_measured_for(table, Path(path))
        try:
            with open(path, newline="") as handle:
                for row in csv.DictReader(handle):
                    archs.append(parse_arch(row["arch"]))
                    measured.append(float(row["measured_ms"]))
                    spreads.append(float(row.get("measured_spread") or 0.0))
        except (OSError, KeyError, ValueError, ArchError) as exc:
            raise TableError(f"{path}: not a validation CSV written by 'nas latency validate' ({exc})") from None
    if not archs:
        raise TableError("no measured archs in " + ", ".join(map(str, paths)))
    return samples_from(table, archs, np.array(measured), np.array(spreads))


def _check_measured_for(table: LatencyTable, csv_path: Path) -> None:
    """Refuse measurements that the report beside the CSV says were taken for another table.

    End-to-end milliseconds of another device (or of a table in other units) would fit a calibration
    that is silently wrong. A CSV without its report (the kept ``calibration_fit`` files) is taken as is.
    """
    report_path = csv_path.with_suffix(".json")
    try:
        device = json.loads(report_path.read_text()).get("device")
    except (OSError, ValueError, AttributeError):
        return
    if device is not None and device != table.device:
        raise TableError(f"{csv_path}: measured for table {device!r} (says {report_path.name}), not {table.device!r}; "
                         f"use {table.device!r}'s own validation CSVs")


def kind_sums(table: LatencyTable, arch: Arch) -> dict[str, float]:
    """Uncalibrated entry sums per layer kind."""
    sums: dict[str, float] = {}
    for key in arch.keys():
        kind = key_kind(key)
        sums[kind] = sums.get(kind, 0.0) + table.entries[key].ms
    return sums


def fit_calibration(table: LatencyTable, samples: list[Sample], min_archs: int = 10,
                    weight_term: bool = True) -> dict[str, Any]:
    """Least squares ``measured = offset + sum_kind scale_kind * entries_kind + c * weight MB`` on relative error.

    A kind gets its own factor when at least ``min_archs`` archs contain it; the rest share one factor
    (``scale``); a kind whose fitted factor comes out non-positive joins the shared factor (or, where
    that one cannot be fitted either, is taken at face value). The
    weight term (``ms_per_weight_mb``: weights that are hot in cache when a block is timed alone come
    from L3 inside a network) is kept only when its fitted cost is positive. Cross-validated on the 400
    archs of the validation reports it raised within +-10 % from 76 to 83 %.
    """
    problem = _CalibrationProblem([kind_sums(table, s.arch) for s in samples],
                                  [sum(weight_mb(k) for k in s.arch.keys()) for s in samples],
                                  np.array([s.measured_ms for s in samples]))
    counts: dict[str, int] = {}
    for row in problem.sums:
        for kind in row:
            counts[kind] = counts.get(kind, 0) + 1
    own = sorted(k for k, c in counts.items() if c >= min_archs)
    solve = problem.solve
    with_weight = weight_term
    factors, errors, shared, per_mb, offset = solve(own, with_weight)
    if with_weight and per_mb <= 0:
        with_weight = False
        factors, errors, shared, per_mb, offset = solve(own, with_weight)
    fixed = None
    while own and (np.any(factors <= 0) or shared <= 0):
        # a kind the data cannot separate (the stem: nearly the same in every arch, so collinear with the
        # offset) leaves its own factor and is taken at face value (factor 1) with the other such kinds
        if np.any(factors <= 0):
            own = [k for k in own if k != own[int(np.argmin(factors))]]
        else:
            fixed = 1.0
        factors, errors, shared, per_mb, offset = solve(own, with_weight, fixed)
    if shared <= 0 or (with_weight and per_mb <= 0):
        own, with_weight = [], False
        factors, errors, shared, per_mb, offset = solve(own, with_weight)
    calibration: dict[str, Any] = {"scale": shared, "scale_by_kind": {k: float(c) for k, c in zip(own, factors)},
                                   "offset_ms": offset - shared * table.overhead_ms}
    if with_weight:
        calibration["ms_per_weight_mb"] = per_mb
    # how well the data pin each kind's factor: a kind that is nearly the same in every arch (stem, head)
    # trades off against the offset; fitted on 40 archs its factor swung from 0.4 to 14 (docs/decisions/0017)
    calibration["relative_se_by_kind"] = {k: float(e / c) for k, c, e in zip(own, factors, errors)}
    return calibration

@dataclass
class _CalibrationProblem:
    """Whole-network measurements and their per-kind entry sums: the least-squares problem of a calibration."""

    sums: list[dict[str, float]]
    weight_column: list[float]
    measured: np.ndarray

    def solve(self, kinds: list[str], with_weight: bool, shared_fixed: float | None = None
              ) -> tuple[np.ndarray, np.ndarray, float, float, float]:
        """Factors of ``kinds`` and their standard errors, the shared factor of the other kinds, the weight
        term and the offset, on relative error.

        With ``shared_fixed`` the other kinds are taken at that factor instead of being fitted.
        """
        sums, weights = self.sums, 1.0 / self.measured  # minimise relative, not absolute, error
        columns = [[row.get(k, 0.0) for row in sums] for k in kinds]
        others = np.array([sum(v for k, v in row.items() if k not in kinds) for row in sums])
        fit_shared = bool(others.any()) and shared_fixed is None
        if fit_shared:
            columns.append(list(others))
        if with_weight:
            columns.append(self.weight_column)
        columns.append([1.0] * len(sums))
        target = self.measured - (others * shared_fixed if shared_fixed is not None else 0.0)
        design = np.array(columns).T * weights[:, None]
        coef, *_ = np.linalg.lstsq(design, target * weights, rcond=None)
        residual = target * weights - design @ coef
        variance = float(residual @ residual) / max(1, len(residual) - len(coef))
        errors = np.sqrt(np.maximum(np.diag(np.linalg.pinv(design.T @ design)) * variance, 0.0))[: len(kinds)]
        if shared_fixed is not None:
            shared = shared_fixed
        else:
            shared = float(coef[len(kinds)]) if fit_shared else float(np.mean(coef[: len(kinds)]))
        return coef[: len(kinds)], errors, shared, float(coef[-2]) if with_weight else 0.0, float(coef[-1])


def apply_calibration(table: LatencyTable, calibration: dict[str, Any], samples: list[Sample], spaces: list[str],
                      seed: int | str, save: bool = True) -> None:
    """Put ``calibration`` with its provenance into the table's metadata; write the table unless ``save`` is False."""
    before = table.meta.get("calibration")
    table.meta["calibration"] = calibration
    crossing = table.below_floor([s.arch for s in samples])
    if crossing is not None:
        if before is None:
            table.meta.pop("calibration")
        else:
            table.meta["calibration"] = before
        arch, calibrated, raw = crossing
        raise TableError(f"the fitted calibration would predict {calibrated:.3f} ms for {arch.id}, below "
                         f"{PREDICTION_FLOOR:g} x its layers' sum ({raw:.3f} ms), which no measured network comes near; "
                         "refused: fit on more networks, or on networks closer in size to this one")
    table.meta["calibration"] = {**calibration, "fitted_on": len(samples), "spaces": spaces, "seed": seed,
                                 "date": now(), "model": "end_to_end = offset_ms + scale * overhead_ms + "
                                                         "sum over layers of (scale_by_kind[kind] * entry + "
                                                         "ms_per_weight_mb * weight MB of the layer)"}
    if save:
        table.save()


def report(samples: list[Sample]) -> dict[str, float]:
    """Prediction error metrics; with two or more passes also the measurement's own repeatability.

    ``repeat_within_5pct``/``10pct``: share of archs whose first two end-to-end passes agree that
    closely, i.e. the ceiling any predictor is judged against on this host.
    """
    metrics = error_report(np.array([s.predicted_ms for s in samples]), np.array([s.measured_ms for s in samples]))
    if samples and all(len(s.passes_ms) >= 2 for s in samples):
        first, second = np.array([s.passes_ms[:2] for s in samples]).T
        change = np.abs(second / first - 1)
        metrics["repeat_within_5pct"] = float(np.mean(change <= 0.05) * 100)
        metrics["repeat_within_10pct"] = float(np.mean(change <= 0.10) * 100)
        metrics["repeat_median_change_pct"] = float(np.median(change) * 100)
    return metrics


def write_report(table: LatencyTable, name: str, samples: list[Sample], extra: dict[str, Any],
                 directory: Path | None = None) -> dict[str, Path]:
    """CSV of every arch, JSON of the metrics, PNG scatter of predicted vs measured; by default beside the user's
    tables (the shipped reports are never rewritten)."""
    from nas.latency.table import user_reports_dir

    directory = directory or user_reports_dir()
    directory.mkdir(parents=True, exist_ok=True)
    stem = directory / f"{table.device}_{name}"
    metrics = report(samples)
    paths = {"csv": stem.with_suffix(".csv"), "json": stem.with_suffix(".json"), "png": stem.with_suffix(".png")}
    rows = [{"arch": str(s.arch), "raw_sum_ms": f"{s.raw_ms:.5f}", "predicted_ms": f"{s.predicted_ms:.5f}",
             "measured_ms": f"{s.measured_ms:.5f}", "error_pct": f"{(s.predicted_ms / s.measured_ms - 1) * 100:.2f}",
             "measured_spread": f"{s.spread:.4f}", "measured_passes_ms": ";".join(f"{v:.5f}" for v in s.passes_ms)}
            for s in samples]
    atomic_write_text(paths["csv"], _csv_text(rows))
    document = {"device": table.device, "name": name, "metrics": metrics, "calibration": table.meta.get("calibration"),
                "host": host_description(), "date": now(), **extra}
    atomic_write_text(paths["json"], json.dumps(document, indent=1) + "\n")
    _scatter(samples, metrics, f"{table.device} / {name}", paths["png"])
    return paths


def _csv_text(rows: list[dict[str, str]]) -> str:
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _scatter(samples: list[Sample], metrics: dict[str, float], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measured = np.array([s.measured_ms for s in samples])
    predicted = np.array([s.predicted_ms for s in samples])
    fig, ax = plt.subplots(figsize=(5, 5), dpi=110)
    ax.scatter(measured, predicted, s=12, alpha=0.75)
    low, high = float(min(measured.min(), predicted.min())) * 0.9, float(max(measured.max(), predicted.max())) * 1.1
    grid = np.linspace(low, high, 10)
    ax.plot(grid, grid, "k-", lw=1, label="y = x")
    ax.fill_between(grid, grid * 0.9, grid * 1.1, color="grey", alpha=0.15, label="+-10 %")
    ax.fill_between(grid, grid * 0.95, grid * 1.05, color="grey", alpha=0.25, label="+-5 %")
    ax.set_xlim(low, high)
    ax.set_ylim(low, high)
    ax.set_xlabel("measured end to end (ms)")
    ax.set_ylabel("predicted by the table (ms)")
    ax.set_title(f"{title}\n{metrics['within_10pct']:.0f}% within 10%, {metrics['within_5pct']:.0f}% within 5%, "
                 f"tau {metrics['kendall_tau']:.3f}", fontsize=9)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".png")
    os.close(fd)
    fig.savefig(tmp)
    plt.close(fig)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
