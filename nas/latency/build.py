"""Building a table by measurement on this host: resumable, saved atomically as it goes.

``build_table`` enumerates the layer keys a space (and optionally the baselines) needs, skips those
already measured (an interrupted build resumes where it stopped), measures the rest relative to the
table's reference probe and saves the table every few seconds. It also measures FBNet's six 1x1 skip
convs (:func:`nas.latency.hwnasbench.skip_conv_layers`, ~0.1 s of latency in all): HW-NAS-Bench
publishes the other blocks of their layers as deltas against them, and the transfer fits those deltas.

By default (``passes=2``) every key is measured in two sweeps, minutes apart, so that one slow spell
of the machine cannot decide an entry: two measurements within ``AGREEMENT`` of each other are
averaged, otherwise (or when one of them saw too few steady chunks) a third one is taken and the median
kept. Each entry lists its ``measurements``; a build interrupted between the sweeps resumes with the
second. With one pass (``passes=1``, about 40 % of the timing) it instead re-measures entries whose
chunk ratios scattered too much or that saw too few steady-state chunks, keeping the steadier
measurement (the other goes to history).

Two sweeps are the default because on a shared machine a key's outliers are one-off (one measurement
off by 6-17 % while the others agree within 1-2 %), which a second sweep and a tie-breaking third
catch; the measurements are in docs/decisions/0016.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from nas import __version__
from nas.arch import Layer
from nas.latency.hwnasbench import skip_conv_layers
from nas.latency.measure import REFERENCE_LAYER, Runtime, Timer
from nas.latency.ortbench import AGREEMENT, MIN_STEADY, Timing, host_description
from nas.latency.table import Entry, LatencyTable, TableError, check_device_name, load_table, now, table_path
from nas.progress import progress
from nas.space import available_baselines, load_space, resolve_arch

log = logging.getLogger(__name__)
SCATTER_LIMIT = 0.10
"""Entries whose inter-quartile spread of chunk ratios exceeds this are measured again."""


def _steady_enough(entry: Entry) -> bool:
    """Enough of the entry's chunks were in the machine's steady state (entries of older builds: yes)."""
    return int(entry.extra.get("steady_chunks", MIN_STEADY)) >= MIN_STEADY


def unsteady(entry: Entry) -> bool:
    """An entry worth measuring again: its chunks scattered, or too few were in the machine's steady state."""
    return entry.spread > SCATTER_LIMIT or not _steady_enough(entry)


def _entry(timing: Timing, overhead_ms: float, **extra: object) -> Entry:
    return Entry(max(timing.ms - overhead_ms, 0.0), timing.spread, timing.n, "measured",
                 {"date": now(), "steady_chunks": timing.steady, **extra})


def layers_for(spaces: Iterable[str], baselines: bool) -> dict[str, Layer]:
    """Every layer key the given spaces (and, if asked, the shipped baselines) can contain."""
    layers: dict[str, Layer] = {}
    for name in spaces:
        layers.update(load_space(name).layers())
    if baselines:
        for name in available_baselines():
            for layer in resolve_arch(name).layers():
                layers.setdefault(layer.key, layer)
    return layers


def open_table(device: str, runtime: Runtime, path: str | Path | None = None) -> tuple[LatencyTable, Timer]:
    """Load the device's table (checking it was measured like this) or start a new one."""
    check_device_name(device)
    target = table_path(device) if path is None else path
    described = runtime.describe()
    try:
        table = load_table(target)
    except TableError:
        if Path(target).exists():
            raise
        timer = runtime.timer()
        meta = {"device": device, **host_description(), **described, "batch": 1, "created": now(),
                "updated": now(), "tool_version": __version__, "spaces": [],
                "reference": f"probe layer {REFERENCE_LAYER}, batch 1",
                "reference_ms": timer.reference_ms,
                "timing": "median ratio to the probe over alternating chunks in the machine's steady state "
                          "x reference_ms; entries exclude the per-call overhead"}
        table = LatencyTable(meta, {}, Path(target))
        overhead = timer.overhead()
        table.meta["overhead_ms"] = overhead.ms
        return table, timer
    for key in ("runtime", "provider", "threads"):
        if table.meta.get(key) != described.get(key):
            raise TableError(f"table {device!r} was measured with {key}={table.meta.get(key)!r}, not "
                             f"{described.get(key)!r}; use another --device name for this configuration")
    if "reference_ms" not in table.meta:
        raise TableError(f"table {device!r} has no reference_ms: it was not measured on a host by "
                         f"'nas latency build'; build a host table under another --device name")
    if REFERENCE_LAYER not in str(table.meta.get("reference", "")):
        raise TableError(f"table {device!r} was measured against another reference ({table.meta.get('reference')!r}), "
                         f"so new measurements would be in other units; build it afresh under another --device name")
    table.meta.setdefault("runtime_name", runtime.name)
    return table, runtime.timer(table.meta["reference_ms"])


def build_table(device: str, spaces: list[str], runtime: Runtime, baselines: bool = True, path: str | Path | None = None,
                target_s: float = 0.3, show_progress: bool = True, limit: int | None = None,
                save_every_s: float = 10.0, passes: int = 2) -> LatencyTable:
    """Measure every missing key of ``spaces`` into the device's table; returns the saved table."""
    if passes not in (1, 2):
        raise TableError(f"passes must be 1 or 2, got {passes}")
    layers = {**layers_for(spaces, baselines), **skip_conv_layers()}  # + 6 small transfer anchors (hwnasbench)
    table, timer = open_table(device, runtime, path)
    todo = [key for key in sorted(layers) if table.entries.get(key, Entry(0, origin="none")).origin != "measured"]
    if limit is not None:
        todo = todo[:limit]
    log.info("%d keys needed, %d to measure", len(layers), len(todo))
    last_save = time.monotonic()

    def save_now_and_then() -> None:
        nonlocal last_save
        if time.monotonic() - last_save > save_every_s:
            _finish(table, spaces)
            last_save = time.monotonic()

    try:
        measure_into(table, timer, layers, todo, target_s, passes, show_progress, save_now_and_then)
    finally:
        _mark_foreign_host(table, todo)
        _finish(table, spaces if limit is None else [])
    return table


def _mark_foreign_host(table: LatencyTable, keys: list[str]) -> None:
    """Entries measured on another processor than the table's record it (``host``): they are in the table's units
    through the probe ratio, which carries level but not every layer's relative speed between processors."""
    here = host_description()["processor"]
    if not table.meta.get("processor") or table.meta["processor"] == here:
        return
    log.warning("table %s was built on %s; %d new entries measured on %s are in its units through the probe",
                table.device, table.meta["processor"], len(keys), here)
    for key in keys:
        if key in table.entries:
            table.entries[key].extra["host"] = here


def measure_into(table: LatencyTable, timer: Timer, layers: dict[str, Layer], keys: list[str], target_s: float,
                 passes: int, show_progress: bool = False, after_each: Callable[[], None] = lambda: None) -> None:
    """Measure ``keys`` into ``table`` (one or two sweeps, see the module docstring)."""
    label = f"measuring {table.device}" + (" (sweep 1 of 2)" if passes == 2 else "")
    for key in progress(keys, len(keys), label, show_progress):
        entry = _entry(timer.time_layer(layers[key], target_s), table.overhead_ms)
        if passes == 2:
            entry.extra["measurements"] = [entry.ms]
        table.set_entry(key, entry)
        after_each()
    if passes == 1:
        scattered = [key for key in keys if unsteady(table.entries[key])]
        for key in progress(scattered, len(scattered), "re-measuring unsteady entries", show_progress and bool(scattered)):
            again = _entry(timer.time_layer(layers[key], target_s * 2), table.overhead_ms, remeasured=True)
            if _steadiness(again) > _steadiness(table.entries[key]):
                table.set_entry(key, again)
        return
    second = [key for key in layers if len(table.entries.get(key, Entry(0)).extra.get("measurements", [])) == 1]
    for key in progress(second, len(second), f"measuring {table.device} (sweep 2 of 2)", show_progress):
        first = table.entries[key]
        entries = [first, _entry(timer.time_layer(layers[key], target_s), table.overhead_ms)]
        if abs(entries[1].ms / max(first.ms, 1e-9) - 1) > AGREEMENT or not all(map(_steady_enough, entries)):
            entries.append(_entry(timer.time_layer(layers[key], target_s * 2), table.overhead_ms))
        table.entries[key] = _combined(entries)  # the sweeps are one measurement: no history entry for sweep 1
        after_each()


def _combined(entries: list[Entry]) -> Entry:
    """One entry from two or three measurements of a key: their median (two: their mean)."""
    values = [e.ms for e in entries]
    ms = float(np.median(values))
    return Entry(ms, float(np.median([e.spread for e in entries])), sum(e.n for e in entries), "measured",
                 {"date": now(), "steady_chunks": max(int(e.extra.get("steady_chunks", 0)) for e in entries),
                  "measurements": values, "repeat_spread": (max(values) - min(values)) / ms if ms > 0 else 0.0,
                  **({"history": entries[0].extra["history"]} if "history" in entries[0].extra else {})})


def _steadiness(entry: Entry) -> tuple[bool, float]:
    """Orders two measurements of a key: enough steady chunks first, then the smaller spread."""
    return _steady_enough(entry), -entry.spread


def _finish(table: LatencyTable, spaces: list[str]) -> None:
    table.meta["spaces"] = sorted(set(table.meta.get("spaces", [])) | set(spaces))
    table.meta["updated"] = now()
    table.save()
