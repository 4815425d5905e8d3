"""Per-device latency lookup tables: the JSON format, loading with validation, prediction.

A table is plain, diffable JSON (never pickle, so it does not break when a library moves)::

    {"schema": "nas.latency_table/1",
     "meta": {"device": "cpu_x86", "processor": ..., "runtime": "onnxruntime", "runtime_version": ...,
              "provider": "CPUExecutionProvider", "threads": 1, "batch": 1, "created": ..., "updated": ...,
              "tool_version": ..., "spaces": [...], "reference_ms": ..., "overhead_ms": ...,
              "calibration": {"scale": a, "offset_ms": b, ...}},
     "entries": {"ir|k3|cin16|mid96|cout24|s1|hw32|relu": {"ms": 0.081, "spread": 0.02, "n": 240,
                 "origin": "measured", ...}, ...}}

Entries are per-layer latencies with the runtime's per-call overhead removed. Prediction for an arch
is ``offset_ms + scale * overhead_ms + sum of (coefficient(kind) * entry + ms_per_weight_mb * weight
MB)``: the overhead is paid once per network, and the calibration (fitted by ``nas latency validate
--fit``) absorbs what a sum of isolated blocks misses. Here, blocks timed alone run with their weights
hot in cache and the sum is about 0.75-0.8 of end to end, by an amount that depends on the block type,
so the fitted factor is per layer kind (``scale_by_kind``), falling back to ``scale`` for kinds the fit
did not see; in a whole network each block's weights come from a farther cache level, a cost that
grows with their size (``ms_per_weight_mb``, read from the key's shape).
``origin`` is ``measured``, ``predicted`` (with the model and its held-out error) or
``imported`` (with its source); when an entry is replaced, the old one is kept in its ``history``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from nas.arch import Arch, layer_from_key
from nas.errors import NasError
from nas.fileio import atomic_write_text, read_json_bounded
from nas.latency.compiled import CompiledTable
from nas.latency.runtimes import runtime_of_meta
from nas.latency.table_home import (  # noqa: F401  (re-exported: where tables live is part of the table API)
    DEVICE_NAME,
    TABLES_DIR,
    TableError,
    available_devices,
    check_device_name,
    is_shipped,
    table_home,
    table_path,
    user_reports_dir,
    user_table_path,
    user_tables_dir,
)

SCHEMA = "nas.latency_table/1"
ORIGINS = ("measured", "predicted", "imported", "adapted")


def now() -> str:
    """UTC timestamp of table entries and metadata."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


PREDICTION_FLOOR = 0.5
"""No prediction falls below this share of the network's uncalibrated sum (overhead + its layers' entries).

Why 0.5: whole networks timed end to end ran at 0.70-1.52x that sum on the hosts measured here (the fastest
network of each space included; a sum of isolated blocks misses what passes between them, it does not
double-count), while a calibration with a large negative offset predicted 0.36x for the smallest networks,
and once below zero. A fit that would predict below the floor for a network it was fitted on is refused;
a shipped table whose calibration crosses it for some networks is held at the floor for them."""

FOREIGN_HOST_MISMATCH = 0.38
"""Relative error of a host-measured entry on another processor: whole networks on a second x86 VM ran at
0.62-0.75x the shipped cpu_x86 table's prediction (docs/MEASUREMENTS.md); the largest gap is the bar."""


def error_text(bar: float | None) -> str:
    """'+-0.42 ms', or 'unknown' where an extrapolated entry has no measured error."""
    return "unknown (extrapolated layers)" if bar is None else f"+-{bar:.2f} ms"


def key_kind(key: str) -> str:
    """A key's layer kind with its SE and group suffixes (``ir_se``, ``ghost``, ``head``...): the grouping of the
    calibration's ``scale_by_kind`` and of adaptation per kind."""
    return key.split("|", 1)[0]


@functools.cache
def weight_mb(key: str) -> float:
    """Float32 weight megabytes of the layer a key names (for the calibration's weight term)."""
    from nas.cost import layer_cost

    return layer_cost(layer_from_key(key)).params * 4 / 1e6


@dataclass
class Entry:
    """One layer's latency (ms, per-call overhead excluded) and how it was obtained."""

    ms: float
    spread: float = 0.0
    n: int = 0
    origin: str = "measured"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"ms": self.ms, "spread": self.spread, "n": self.n, "origin": self.origin, **self.extra}


@dataclass
class LatencyTable:
    """Metadata and entries of one device's table."""

    meta: dict[str, Any]
    entries: dict[str, Entry]
    path: Path | None = None

    # -- construction and persistence --------------------------------------------------------
    @property
    def device(self) -> str:
        return str(self.meta["device"])

    @property
    def calibration(self) -> tuple[float, float]:
        cal = self.meta.get("calibration") or {}
        return float(cal.get("scale", 1.0)), float(cal.get("offset_ms", 0.0))

    def coefficient(self, key: str) -> float:
        """Calibration factor of one entry: per layer kind (``ir_se``, ``ghost``, ``head``...) when fitted."""
        cal = self.meta.get("calibration") or {}
        return float((cal.get("scale_by_kind") or {}).get(key_kind(key), cal.get("scale", 1.0)))

    @property
    def ms_per_weight_mb(self) -> float:
        """Calibration's cost of fetching weights that a block timed alone finds hot in cache (0 if not fitted)."""
        return float((self.meta.get("calibration") or {}).get("ms_per_weight_mb", 0.0))

    def contribution(self, key: str) -> float:
        """Calibrated ms one layer adds to a network: scaled entry plus its weight-fetch term."""
        term = self.ms_per_weight_mb
        return self.coefficient(key) * self.entries[key].ms + (term * weight_mb(key) if term else 0.0)

    @property
    def overhead_ms(self) -> float:
        return float(self.meta.get("overhead_ms", 0.0))

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "meta": self.meta,
                "entries": {key: self.entries[key].to_json() for key in sorted(self.entries)}}

    def save(self, path: str | Path | None = None) -> Path:
        """Write atomically (temp file + rename): an interrupted write never leaves a broken table.

        A shipped table is never rewritten: a table read from the shipped folder (or aimed at it) is written to
        the user folder under its device name, where it shadows the shipped one."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise TableError("this table has no path; give one to save()")
        if is_shipped(target):
            target = user_table_path(str(self.meta.get("device") or target.stem))
        atomic_write_text(target, json.dumps(self.to_json(), indent=1) + "\n")
        self.path = target
        return target

    def set_entry(self, key: str, entry: Entry) -> None:
        """Add or replace an entry; a replaced entry moves into the new one's history."""
        old = self.entries.get(key)
        if old is not None:
            history = list(old.extra.pop("history", []))
            history.append(old.to_json())
            entry.extra["history"] = history
        self.entries[key] = entry

    # -- prediction -------------------------------------------------------------------------
    def missing(self, keys: Iterable[str]) -> list[str]:
        return sorted({k for k in keys if k not in self.entries})

    def raw_sum(self, arch: Arch) -> float:
        """Overhead plus the sum of the arch's entries, before calibration."""
        keys = arch.keys()
        missing = self.missing(keys)
        if missing:
            raise TableError(
                f"table {self.device!r} has no entry for {missing[0]!r}"
                + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
                + f"; {self.fill_advice()}")
        return self.overhead_ms + sum(self.entries[k].ms for k in keys)

    def measured_by_a_host(self) -> bool:
        """Whether ``nas latency build`` measured this table (so a host like the one it names can add entries)."""
        return "reference_ms" in self.meta and runtime_of_meta(self.meta) is not None

    def fill_advice(self, space: str = "SPACE") -> str:
        """How to add the entries a space needs to this table: it depends on where its numbers come from.

        A table measured by ``nas latency build`` grows by building on its own kind of host; a device's table
        (a board, a phone, published numbers) cannot be measured from here: its layers are measured on the
        device through a bundle, or predicted from a measured table by ``nas latency transfer``.
        """
        if self.measured_by_a_host():
            return (f"measure them on the host the table was built on ({self.meta.get('processor', 'unknown')}): "
                    f"nas latency build --device {self.device} --space {space}")
        return (f"{self.device} cannot be measured from this host: measure on the device (nas latency bundle --space "
                f"{space} --out bundle/, python3 runner.py there, nas latency import results.json --device "
                f"{self.device} --bundle bundle/), or predict from a measured table (nas latency transfer --from "
                f"cpu_x86 --to {self.device} --space {space})")

    def predict(self, arch: Arch) -> float:
        """Predicted end-to-end latency in ms: calibrated sum of entries, overhead counted once."""
        scale, offset = self.calibration
        self.raw_sum(arch)  # raises, naming the key, when an entry is missing
        measured = self.measured_networks.get(str(arch))
        if measured is not None:  # a network measured whole on the device is its own best prediction
            return float(measured)
        calibrated = offset + scale * self.overhead_ms + sum(self.contribution(k) for k in arch.keys())
        return max(self.check_positive(calibrated), PREDICTION_FLOOR * self.raw_sum(arch))

    def below_floor(self, archs: Sequence[Arch]) -> tuple[Arch, float, float] | None:
        """The first arch whose calibrated prediction (before the floor) is below :data:`PREDICTION_FLOOR` x its raw
        sum, with both numbers; None if every one is physically possible."""
        scale, offset = self.calibration
        for arch in archs:
            if str(arch) in self.measured_networks:
                continue
            calibrated = offset + scale * self.overhead_ms + sum(self.contribution(k) for k in arch.keys())
            if calibrated < PREDICTION_FLOOR * self.raw_sum(arch):
                return arch, calibrated, self.raw_sum(arch)
        return None

    def check_positive(self, ms: float) -> float:
        """A latency <= 0 is a broken calibration (a negative offset larger than a small net), never a fast net:
        a search would accept any budget with it."""
        if not ms > 0:
            raise TableError(f"table {self.device!r} predicts {ms:.4f} ms for a network: its calibration offset "
                             f"({self.calibration[1]:+.4f} ms) is larger than small networks; refit it (nas latency "
                             "calibrate or adapt) on networks as small as the ones searched")
        return ms

    @property
    def measured_networks(self) -> dict[str, float]:
        """Whole networks measured on the device (an adapted table keeps the ones it was fitted on)."""
        return self.meta.get("measured_networks") or {}

    def breakdown(self, arch: Arch) -> dict[str, float]:
        """Share of the predicted latency by entry origin (measured / predicted / imported)."""
        self.raw_sum(arch)
        shares: dict[str, float] = {}
        total = sum(self.entries[k].ms for k in arch.keys()) or 1.0
        for key in arch.keys():
            entry = self.entries[key]
            shares[entry.origin] = shares.get(entry.origin, 0.0) + entry.ms / total
        return shares

    def error_bar(self, arch: Arch, foreign_host: bool = False) -> float | None:
        """+- ms that means something, or None where it is unknown.

        * a network measured whole on the device (``measured_networks``): 0;
        * predicted and adapted entries: their held-out MAPE x their contribution, added as if the errors were
          correlated (conservative);
        * extrapolated entries (a layer no measured network on the device had): unknown, so the bar is None;
        * measured entries: 0 on the host that measured them; with ``foreign_host`` (the table was measured on
          another processor), :data:`FOREIGN_HOST_MISMATCH` of their contribution.
        """
        self.raw_sum(arch)
        if str(arch) in self.measured_networks:
            return 0.0
        total = 0.0
        for key in arch.keys():
            entry = self.entries[key]
            if entry.extra.get("extrapolated"):
                return None
            if entry.origin in ("predicted", "adapted"):
                total += self.coefficient(key) * entry.ms * float(entry.extra.get("heldout_mape_pct", 0)) / 100
            elif entry.origin == "measured" and foreign_host:
                total += self.coefficient(key) * entry.ms * FOREIGN_HOST_MISMATCH
        return total

    def heldout_summary(self) -> str:
        """The table's error in a few words: an adapted table's leave-one-network-out MAPE, else the median
        held-out MAPE of its predicted entries, else '-' (measured entries carry the host mismatch instead)."""
        adapted, checked = self.meta.get("adapted"), self.meta.get("validation")
        if isinstance(checked, dict) and _finite(checked.get("mape_pct")) and _finite(checked.get("within_10pct")):
            return (f"{checked['mape_pct']:.1f}% MAPE, {checked['within_10pct']:.0f}% within 10% "
                    f"({checked.get('networks', '?')} nets held out)")
        if isinstance(adapted, dict) and _finite(adapted.get("heldout_mape_pct")):
            return f"{adapted['heldout_mape_pct']:.1f}% (whole networks, {adapted.get('fitted_on', '?')} nets)"
        errors = [float(e.extra["heldout_mape_pct"]) for e in self.entries.values()
                  if e.origin == "predicted" and _finite(e.extra.get("heldout_mape_pct"))]
        return f"{float(np.median(errors)):.1f}% (predicted layers)" if errors else "-"

    def compile(self, keys: Sequence[str] | None = None) -> CompiledTable:
        """A vectorised view for predicting many archs at once."""
        keys = list(self.entries) if keys is None else list(keys)
        return CompiledTable(self, keys, PREDICTION_FLOOR)


# ------------------------------------------------------------------------------------------------
# Loading


def readable_tables(skip: str | None = None) -> dict[str, LatencyTable]:
    """Every readable table, user and shipped, but ``skip``; the one rule for a stray or broken file in either tables
    folder (a ``notes.json``, a truncated table): a warning that names the file, and the others are used.

    Why one rule: ``nas devices``, ``nas latency adapt`` and a search all list tables; one refusing what another
    skips made a stray file stop some commands and not others."""
    import logging

    tables = {}
    for device in available_devices():
        if device == skip:
            continue
        try:
            tables[device] = load_table(device)
        except NasError as exc:
            logging.getLogger(__name__).warning("skipping %s: not a usable latency table (%s)", table_path(device), exc)
    return tables


def other_tables(skip: str) -> dict[str, LatencyTable]:
    """Every readable table but ``skip`` (:func:`readable_tables`): a search or an export shows these beside its own
    device's numbers."""
    return readable_tables(skip)


def load_table(device_or_path: str | Path) -> LatencyTable:
    """A table by device name (the user's ``<name>.json``, else the shipped one) or path; validated before use."""
    path = Path(device_or_path)
    if path.suffix != ".json":
        check_device_name(str(device_or_path))
        path = table_path(str(device_or_path))
        if not path.is_file():
            raise TableError(f"no latency table for device {str(device_or_path)!r}; available: "
                             f"{', '.join(available_devices()) or 'none'}; build one with: "
                             f"nas latency build --device {device_or_path} --space SPACE")
    if not path.is_file():
        raise TableError(f"latency table {str(path)!r} does not exist")
    try:
        data = read_json_bounded(path, TableError, "latency table")
    except TableError as exc:
        raise TableError(f"{path}: not a readable JSON table ({exc}); rebuild it or restore it from git") from None
    return parse_table(data, path)


def parse_table(data: Any, path: Path | None = None) -> LatencyTable:
    """Validate a table document completely; a broken table is rejected whole, never half-used."""
    where = str(path) if path else "<table>"

    def fail(message: str) -> TableError:
        return TableError(f"{where}: {message}")

    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise fail(f"not a nas latency table (expected \"schema\": \"{SCHEMA}\")")
    meta, raw = data.get("meta"), data.get("entries")
    if not isinstance(meta, dict) or not isinstance(raw, dict):
        raise fail("'meta' and 'entries' must be objects")
    for key in ("device", "runtime", "threads", "batch"):
        if key not in meta:
            raise fail(f"meta lacks {key!r}")
    cal = meta.get("calibration")
    if cal is not None and not (isinstance(cal, dict) and _finite(cal.get("scale", 1.0)) and cal.get("scale", 1.0) > 0
                                and _finite(cal.get("offset_ms", 0.0)) and _finite(cal.get("ms_per_weight_mb", 0.0))
                                and cal.get("ms_per_weight_mb", 0.0) >= 0):
        raise fail("meta.calibration must have a positive finite 'scale', a finite 'offset_ms' and a finite "
                   "'ms_per_weight_mb' >= 0")
    by_kind = (cal or {}).get("scale_by_kind", {})
    if not isinstance(by_kind, dict) or not all(isinstance(k, str) and _finite(v) and v > 0 for k, v in by_kind.items()):
        raise fail(f"meta.calibration.scale_by_kind must map layer kinds to positive finite factors, got {by_kind!r}")
    for key in ("overhead_ms", "reference_ms"):
        if key in meta and not (_finite(meta[key]) and meta[key] >= 0):
            raise fail(f"meta.{key} must be a finite number >= 0")
    networks = meta.get("measured_networks", {})
    if not isinstance(networks, dict) or not all(isinstance(k, str) and _finite(v) and v > 0 for k, v in networks.items()):
        raise fail("meta.measured_networks must map arch strings to positive finite milliseconds")
    entries: dict[str, Entry] = {}
    for key, value in raw.items():
        if not isinstance(value, dict):
            raise fail(f"entry {key!r} must be an object")
        ms, origin = value.get("ms"), value.get("origin")
        if not _finite(ms) or ms < -1e-3:
            raise fail(f"entry {key!r}: 'ms' must be a finite number >= 0, got {ms!r}")
        if origin not in ORIGINS:
            raise fail(f"entry {key!r}: origin must be one of {', '.join(ORIGINS)}, got {origin!r}")
        spread, n = value.get("spread", 0.0), value.get("n", 0)
        if not _finite(spread) or not isinstance(n, int):
            raise fail(f"entry {key!r}: 'spread' must be a number and 'n' an integer")
        extra = {k: v for k, v in value.items() if k not in ("ms", "spread", "n", "origin")}
        entries[key] = Entry(float(ms), float(spread), n, origin, extra)
    return LatencyTable(meta, entries, path)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and bool(np.isfinite(value))
