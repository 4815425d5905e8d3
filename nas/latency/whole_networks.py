"""A per-layer table fitted on many whole-network timings: each layer key's cost, non-negative, by least squares.

    ms(network) = sum over its layers of cost(key) + overhead,   cost >= 0, overhead >= 0

With thousands of timed networks of one space (a published benchmark's measurements), every layer key of the
space appears in hundreds of them and its cost is pinned down; this is the additive per-layer model at its ceiling,
the best any per-layer table can do on those networks. The fit weighs each network by 1/ms (relative error), so a
fast network counts as much as a slow one.

Why apart from :mod:`nas.latency.adapt`: adaptation fits a handful of weights on a few networks of a device never
seen, through other tables; here the device's own networks are plentiful and every key gets its own cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nas.arch import Arch, Layer
from nas.latency.table import Entry, LatencyTable, TableError, now
from nas.stats import error_report, nonnegative_least_squares

MIN_NETWORKS_PER_KEY = 5
"""A key seen in fewer fitted networks than this is not given a cost: too few to pin it down."""


def count_matrix(archs: Sequence[Arch], keys: Sequence[str]) -> np.ndarray:
    """Per network, how many times each key occurs, and a last column of ones (the per-network overhead)."""
    index = {key: i for i, key in enumerate(keys)}
    counts = np.zeros((len(archs), len(keys) + 1))
    for row, arch in enumerate(archs):
        for key in arch.keys():
            counts[row, index[key]] += 1
    counts[:, -1] = 1.0
    return counts


def fit_layer_costs(archs: Sequence[Arch], ms: Sequence[float]) -> tuple[dict[str, float], float]:
    """Each key's non-negative cost and the overhead, fitted on relative error; one error line when a key of the
    networks is in too few of them."""
    ms_array = np.asarray(ms, float)
    if len(archs) != len(ms_array) or not len(archs) or not np.all(np.isfinite(ms_array) & (ms_array > 0)):
        raise TableError("fitting a per-layer table needs networks with finite positive timings")
    keys = sorted({key for arch in archs for key in arch.keys()})
    counts = count_matrix(archs, keys)
    rare = [key for key, seen in zip(keys, (counts[:, :-1] > 0).sum(axis=0)) if seen < MIN_NETWORKS_PER_KEY]
    if rare:
        raise TableError(f"{len(rare)} layer key(s) appear in fewer than {MIN_NETWORKS_PER_KEY} of the networks "
                         f"(e.g. {rare[0]!r}): time more networks")
    weight = 1.0 / ms_array
    coef = nonnegative_least_squares(counts * weight[:, None], ms_array * weight)
    return dict(zip(keys, map(float, coef[:-1]))), float(coef[-1])


def layer_table(device: str, archs: Sequence[Arch], ms: Sequence[float], layers: dict[str, Layer],
                meta: dict[str, Any]) -> LatencyTable:
    """A table of the fitted costs (origin ``adapted``; every entry carries ``heldout_mape_pct`` once validated)."""
    costs, overhead = fit_layer_costs(archs, ms)
    missing = sorted(set(layers) - set(costs))
    if missing:
        raise TableError(f"no fitted network has layer {missing[0]!r} ({len(missing)} such keys)")
    entries = {key: Entry(costs[key], 0.0, 0, "adapted", {"fitted_on_networks": len(archs)}) for key in layers}
    table_meta = {"device": device, "runtime": "fitted", "threads": "unknown", "batch": 1, "created": now(),
                  "updated": now(), "overhead_ms": overhead, "calibration": {"scale": 1.0, "offset_ms": 0.0},
                  "timing": f"per-layer costs fitted on {len(archs)} whole-network timings "
                            "(non-negative least squares on relative error, nas.latency.whole_networks)", **meta}
    return LatencyTable(table_meta, entries)


def validate(table: LatencyTable, archs: Sequence[Arch], ms: Sequence[float]) -> dict[str, float]:
    """The table against networks it was not fitted on; the held-out MAPE goes into every entry (its error bar)."""
    report = error_report(table.compile().predict_many(list(archs)), np.asarray(ms, float))
    checked = {"networks": report["n"], "spearman": round(report["spearman_rho"], 4),
               "kendall": round(report["kendall_tau"], 4), "mape_pct": round(report["mape_pct"], 2),
               "within_10pct": round(report["within_10pct"], 1)}
    for entry in table.entries.values():
        entry.extra["heldout_mape_pct"] = checked["mape_pct"]
    table.meta["validation"] = checked
    return checked
