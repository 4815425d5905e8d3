"""Filling a table's missing entries: few-shot transfer from a measured source table.

For a target device where only some layers were measured (imported values, or 20-50 blocks timed with
the bundle runner), every other key is predicted by a linear cost model whose terms are the work a
block does, in the units a device spends time on (nn-Meter and roofline thinking, kept small enough
to fit from a few dozen keys)::

    target_ms = a * dense MMACs + b * depthwise MMACs + c * activation MB + d * weight MB
                + e * weight MB beyond the target's cache + f * source_ms + g

* dense and depthwise MACs apart: a 1x1 conv is compute-bound, a depthwise conv memory-bound, and
  the ratio between them is what differs most between an x86 core and a Cortex-A;
* activations (the block's input and every tensor its ops write) and weights: memory traffic;
* weights beyond the target's last-level cache (1 MB on the Pi 4's Cortex-A72): on the Pi the
  last FBNet layers, 1-2.5 MB of weights, run 1.5-2x slower per MAC than the rest;
* the source device's measured latency of the same key carries what op counts miss (SE's pooling,
  GhostNet's concatenations, ONNX Runtime's fusions);
* every coefficient is >= 0 (non-negative least squares: more work never takes less time), fitted
  on relative error so that small blocks count as much as large ones.

Published per-block tables are not always absolute: HW-NAS-Bench gives the blocks of a layer that
changes shape as deltas against that layer's 1x1 skip conv, whose own cost the data do not fix. Such
entries name their reference (``relative_to``, ``delta_ms``) and are fitted as differences, features
of the block minus features of the skip conv (measured on the source), so the training target is the
published number and not an estimate. Their held-out error is the delta's error, relative to the
entry's absolute value. On the Pi 4 this took held-out MAPE from 14.3 % to 13.3 % (Spearman 0.971 ->
0.980), on the Pixel 3 from 6.3 % to 4.6 %.

The network's ends (stem and head: a different kind of layer, never a training row) are predicted by
the same model, then brought to the level of the ends the target did measure: their predictions are
multiplied by ``ends_factor``, the target's stem-plus-head milliseconds over the model's prediction of
the same keys (pooled, because HW-NAS-Bench fixes only their sum: its stem and head split K by MACs).
On the Pi 4 the model puts FBNet's stem and head at 5.16 ms where K leaves 6.49 ms (factor 1.26;
Pixel 3: 1.18); unanchored, every width other than 1.0 lost those 1.3 ms while width 1.0 kept them,
a step in the search's latency between widths that the data do not show.

Against a log-linear model on (source ms, MACs, bytes), leaving whole shapes out, this one
takes the Pi 4 from 21 % to 15 % MAPE (Spearman 0.944 -> 0.969) and the Pixel 3 from 11 % to 7 %
(0.986 -> 0.995). Held-out error is measured by leaving whole shapes out (every key of one layer
shape at a time), never by random keys that share a shape with the training set, and predicted
entries carry it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nas.arch import Layer, layer_from_key
from nas.cost import layer_cost
from nas.latency.table import Entry, LatencyTable, now
from nas.stats import nonnegative_least_squares, spearman_rho

FEATURES = ("dense_mmacs", "depthwise_mmacs", "activation_mb", "weight_mb", "weight_mb_beyond_cache", "source_ms",
            "per_block")
ENDS = ("stem", "head")
"""Layer kinds that are never training rows (one of each per network; HW-NAS-Bench fixes only their sum):
their predictions are brought to the target's level by :func:`ends_factor`."""
DEFAULT_CACHE_MB = 1.0
"""The target's last-level cache when the user does not say (Raspberry Pi 4: 1 MB L2)."""


def features(layer: Layer, source_ms: float, cache_mb: float = DEFAULT_CACHE_MB) -> np.ndarray:
    """The work terms of one block (see the module docstring), in the order of ``FEATURES``."""
    cost = layer_cost(layer)
    weight_mb = 4 * cost.params / 1e6
    return np.array([(cost.macs - cost.depthwise_macs) / 1e6, cost.depthwise_macs / 1e6,
                     4 * (layer.cin * layer.hw * layer.hw + cost.outputs) / 1e6, weight_mb,
                     max(0.0, weight_mb - cache_mb), source_ms, 1.0])


def shape_group(layer: Layer) -> str:
    """Keys that share a layer shape (what leave-shape-out cross-validation holds out together)."""
    return f"{layer.cin}|{layer.cout}|{layer.stride}|{layer.hw}"


@dataclass
class TransferModel:
    """Non-negative coefficients of ``FEATURES``, fitted on relative error."""

    weights: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, scale_ms: np.ndarray | None = None) -> TransferModel:
        """Least squares of ``(x @ w - y) / scale_ms`` (``scale_ms``: each row's absolute ms, default ``y``)."""
        scale = 1.0 / (y if scale_ms is None else scale_ms)  # each row in units of its own latency
        return cls(nonnegative_least_squares(x * scale[:, None], y * scale))

    def ms_from_features(self, x: np.ndarray) -> np.ndarray:
        return np.maximum(x @ self.weights, 1e-6)


@dataclass
class Rows:
    """The fitting data: one row per target key known on both devices.

    Absolute rows: ``x`` the key's features, ``y`` its ms, ``offset`` 0. Delta rows (an entry published
    against a reference block): ``x`` and ``y`` are differences to the reference, and ``offset`` is what
    turns them back into the entry's absolute ms (``y + offset``), so every error is relative to that.
    """

    keys: list[str]
    x: np.ndarray
    y: np.ndarray
    offset: np.ndarray
    groups: list[str]
    is_delta: np.ndarray

    @property
    def absolute_ms(self) -> np.ndarray:
        return self.y + self.offset

    @property
    def deltas(self) -> int:
        return int(self.is_delta.sum())


def training_rows(source: LatencyTable, target: LatencyTable, layers: dict[str, Layer], cache_mb: float) -> Rows:
    """Rows for every non-predicted target key of ``layers`` that the source measured.

    Entries whose value is itself an estimate (``split_estimated`` without a published delta: the
    skip convs) are left out; delta entries whose reference the source lacks are fitted as absolute
    values, as before the anchors were measured.
    """
    keys, x, y, offset, is_delta = [], [], [], [], []
    for key, layer in layers.items():
        entry = target.entries.get(key)
        if (entry is None or entry.origin == "predicted" or key not in source.entries
                or layer.kind in ENDS):
            continue
        row = features(layer, source.entries[key].ms, cache_mb)
        reference = entry.extra.get("relative_to") if entry.origin == "imported" else None
        if reference is not None and reference in source.entries:
            delta = float(entry.extra["delta_ms"])
            row = row - features(layer_from_key(reference), source.entries[reference].ms, cache_mb)
            value, base, relative = delta, entry.ms - delta, True
        elif reference is None and entry.extra.get("split_estimated"):
            continue  # the value is an estimate (FBNet's skip convs), not a measurement
        else:
            value, base, relative = entry.ms, 0.0, False
        keys.append(key)
        x.append(row)
        y.append(value)
        offset.append(base)
        is_delta.append(relative)
    return Rows(keys, np.array(x).reshape(len(keys), len(FEATURES)), np.array(y), np.array(offset),
                [shape_group(layers[k]) for k in keys], np.array(is_delta, dtype=bool))


def _best_rescaled_errors(predicted: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """Relative errors of ``s * predicted`` for the one factor ``s`` that minimises their mean.

    The mean absolute relative error is convex and piecewise linear in ``s``, so its minimum lies on a
    breakpoint ``actual_i / predicted_i``.
    """
    candidates = actual / predicted
    errors = np.abs(candidates[:, None] * predicted[None, :] - actual[None, :]) / actual[None, :]
    return errors[int(np.argmin(errors.mean(axis=1)))]


def cross_validate(rows: Rows, n_train: int | None = None, seed: int = 0) -> dict[str, float]:
    """Leave-one-shape-out; with ``n_train``, each fold trains on that many random keys of the other shapes.

    ``mape_if_shape_level_known_pct`` is a diagnostic, not a prediction error: the held-out MAPE left if
    an oracle rescaled each held-out shape's predictions by the one factor that suits that shape best.
    What it leaves is the scatter between the blocks of one shape that the model's terms do not explain;
    the rest of ``mape_pct`` is the shape's overall level, which only the other shapes can teach.
    """
    rng = np.random.default_rng(seed)
    absolute = rows.absolute_ms
    predicted = np.empty_like(absolute)
    unique = sorted(set(rows.groups))
    labels = np.array(rows.groups)
    for group in unique:
        held = labels == group
        train_idx = np.flatnonzero(~held)
        if n_train is not None and n_train < len(train_idx):
            train_idx = rng.choice(train_idx, n_train, replace=False)
        model = TransferModel.fit(rows.x[train_idx], rows.y[train_idx], absolute[train_idx])
        predicted[held] = np.maximum(rows.x[held] @ model.weights + rows.offset[held], 1e-6)
    relative = np.abs(predicted - absolute) / absolute
    floor = np.concatenate([_best_rescaled_errors(predicted[labels == g], absolute[labels == g]) for g in unique])
    return {"mape_pct": float(relative.mean() * 100), "within_10pct": float((relative <= 0.10).mean() * 100),
            "spearman_rho": spearman_rho(predicted, absolute), "mape_if_shape_level_known_pct": float(floor.mean() * 100),
            "n_keys": len(rows.keys), "n_shapes": len(unique),
            "n_delta_keys": rows.deltas,
            "n_train": int(n_train) if n_train is not None else int(len(rows.keys) - len(rows.keys) / len(unique))}


def _few_shot(rows: Rows, n_train: int, repeats: int = 5) -> dict[str, float]:
    """Leave-shape-out from ``n_train`` random target keys, averaged over ``repeats`` draws of them."""
    runs = [cross_validate(rows, n_train, seed) for seed in range(repeats)]
    return {**{k: float(np.mean([r[k] for r in runs])) for k in ("mape_pct", "within_10pct", "spearman_rho",
                                                                 "mape_if_shape_level_known_pct")},
            "n_keys": runs[0]["n_keys"], "n_shapes": runs[0]["n_shapes"], "n_train": n_train, "draws": repeats}


def ends_factor(model: TransferModel, source: LatencyTable, target: LatencyTable, layers: dict[str, Layer],
                cache_mb: float) -> dict:
    """How far the target's own stem and head entries are from the model's prediction of them (see module doc).

    ``factor`` is 1 when the target has no stem or head entry of its own among ``layers``.
    """
    anchors = sorted(key for key, layer in layers.items()
                     if layer.kind in ENDS and key in source.entries and key in target.entries
                     and target.entries[key].origin != "predicted")
    if not anchors:
        return {"factor": 1.0, "anchors": []}
    x = np.array([features(layers[key], source.entries[key].ms, cache_mb) for key in anchors])
    predicted = float(model.ms_from_features(x).sum())
    return {"factor": sum(target.entries[key].ms for key in anchors) / predicted, "anchors": anchors,
            "target_ms": sum(target.entries[key].ms for key in anchors), "model_ms": predicted}


def transfer(source: LatencyTable, target: LatencyTable, layers: dict[str, Layer], cache_mb: float | None = None) -> dict:
    """Fill every key of ``layers`` missing from ``target``; returns the held-out report.

    ``cache_mb``: the target's last-level cache; by default the table's ``last_level_cache_mb``, else 1 MB.
    """
    if cache_mb is None:
        cache_mb = float(target.meta.get("last_level_cache_mb", DEFAULT_CACHE_MB))
    if not cache_mb > 0:
        raise ValueError(f"the target's cache size must be > 0 MB, got {cache_mb}")
    target.meta["last_level_cache_mb"] = cache_mb
    rows = training_rows(source, target, layers, cache_mb)
    if len(rows.keys) < 8:
        raise ValueError(f"only {len(rows.keys)} keys are in both tables; measure at least 8 on the target")
    report = {"source": source.device, "target": target.device, "fitted_on": len(rows.keys),
              "fitted_as_deltas": rows.deltas, "cache_mb": cache_mb, "held_out_all": cross_validate(rows),
              "held_out_by_samples": {str(n): _few_shot(rows, n) for n in (10, 20, 50) if n < len(rows.keys)}}
    model = TransferModel.fit(rows.x, rows.y, rows.absolute_ms)
    ends = ends_factor(model, source, target, layers, cache_mb)
    report["ends_factor"] = ends
    error = report["held_out_all"]
    filled = 0
    for key, layer in layers.items():
        if key not in source.entries or (key in target.entries and target.entries[key].origin != "predicted"):
            continue  # measured and imported entries are the target's own; earlier predictions are refreshed
        value = float(model.ms_from_features(features(layer, source.entries[key].ms, cache_mb)[None, :])[0])
        if layer.kind in ENDS:
            value *= ends["factor"]
        earlier = target.entries.pop(key, None)  # an older prediction is replaced, not piled into history
        target.set_entry(key, Entry(value, 0.0, 0, "predicted", {
            "model": f"non-negative linear transfer from {source.device} (MACs, bytes, source ms)",
            "heldout_mape_pct": error["mape_pct"], "heldout_within_10pct": error["within_10pct"], "date": now(),
            **({"ends_factor": ends["factor"]} if layer.kind in ENDS else {}),
            **({"history": earlier.extra["history"]} if earlier is not None and "history" in earlier.extra else {})}))
        filled += 1
    report["filled"] = filled
    report["weights"] = dict(zip(FEATURES, model.weights.tolist(), strict=True))
    target.meta["transfer"] = {k: v for k, v in report.items() if k != "weights"}
    return report
