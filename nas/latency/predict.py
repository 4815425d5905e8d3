"""Filling a table's missing entries: few-shot transfer from a measured source table.

For a target device where only some layers were measured (imported values, or 20-50 blocks timed with
the bundle runner), every other key is predicted from the *source* device's measured latency of the
same key plus shape features, with a log-linear model fitted on the keys both tables have::

    log(target_ms) = w0 + w1 log(source_ms) + w2 log(MACs) + w3 log(weight + activation bytes)

The source latency carries what is specific to a block type on real hardware; MACs and bytes let
the model bend where the target's compute/memory balance differs. Held-out error is measured by
leaving whole shapes out (every key of one layer shape at a time), never by random keys that share
a shape with the training set, and predicted entries carry it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nas.arch import Layer
from nas.latency.build import now
from nas.latency.table import Entry, LatencyTable
from nas.model import layer_cost
from nas.stats import spearman_rho


def features(layer: Layer, source_ms: float) -> np.ndarray:
    cost = layer_cost(layer)
    activations = layer.cin * layer.hw * layer.hw + layer.cout * layer.hw_out * layer.hw_out
    return np.array([1.0, np.log(max(source_ms, 1e-4)), np.log(max(cost.macs, 1)),
                     np.log(4 * (cost.params + activations))])


def shape_group(layer: Layer) -> str:
    """Keys that share a layer shape (what leave-shape-out cross-validation holds out together)."""
    return f"{layer.cin}|{layer.cout}|{layer.stride}|{layer.hw}"


@dataclass
class TransferModel:
    weights: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray, y_ms: np.ndarray, ridge: float = 1e-3) -> TransferModel:
        penalty = ridge * np.eye(x.shape[1])
        penalty[0, 0] = 0.0
        weights = np.linalg.solve(x.T @ x + penalty, x.T @ np.log(y_ms))
        return cls(weights)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.exp(x @ self.weights)


def cross_validate(x: np.ndarray, y: np.ndarray, groups: list[str], n_train: int | None = None,
                   seed: int = 0) -> dict[str, float]:
    """Leave-one-shape-out; with ``n_train``, each fold trains on that many random keys of the other shapes."""
    rng = np.random.default_rng(seed)
    predicted = np.empty_like(y)
    unique = sorted(set(groups))
    labels = np.array(groups)
    for group in unique:
        held = labels == group
        train_idx = np.flatnonzero(~held)
        if n_train is not None and n_train < len(train_idx):
            train_idx = rng.choice(train_idx, n_train, replace=False)
        predicted[held] = TransferModel.fit(x[train_idx], y[train_idx]).predict(x[held])
    relative = np.abs(predicted - y) / y
    return {"mape_pct": float(relative.mean() * 100), "within_10pct": float((relative <= 0.10).mean() * 100),
            "spearman_rho": spearman_rho(predicted, y), "n_keys": int(len(y)), "n_shapes": len(unique),
            "n_train": int(n_train) if n_train is not None else int(len(y) - len(y) / len(unique))}


def transfer(source: LatencyTable, target: LatencyTable, layers: dict[str, Layer]) -> dict:
    """Fill every key of ``layers`` missing from ``target``; returns the held-out report."""
    known = [k for k in layers if k in target.entries and target.entries[k].origin != "predicted"
             and k in source.entries and layers[k].kind not in ("stem", "head")]
    if len(known) < 8:
        raise ValueError(f"only {len(known)} keys are in both tables; measure at least 8 on the target")
    x = np.array([features(layers[k], source.entries[k].ms) for k in known])
    y = np.array([target.entries[k].ms for k in known])
    groups = [shape_group(layers[k]) for k in known]
    report = {"source": source.device, "target": target.device, "fitted_on": len(known),
              "held_out_all": cross_validate(x, y, groups),
              "held_out_by_samples": {str(n): cross_validate(x, y, groups, n) for n in (10, 20, 50) if n < len(known)}}
    model = TransferModel.fit(x, y)
    error = report["held_out_all"]
    filled = 0
    for key, layer in layers.items():
        if key not in source.entries or (key in target.entries and target.entries[key].origin != "predicted"):
            continue  # measured and imported entries are the target's own; earlier predictions are refreshed
        value = float(model.predict(features(layer, source.entries[key].ms)[None, :])[0])
        earlier = target.entries.pop(key, None)  # an older prediction is replaced, not piled into history
        target.set_entry(key, Entry(value, 0.0, 0, "predicted", {
            "model": f"log-linear transfer from {source.device} (source ms, MACs, bytes)",
            "heldout_mape_pct": error["mape_pct"], "heldout_within_10pct": error["within_10pct"], "date": now(),
            **({"history": earlier.extra["history"]} if earlier is not None and "history" in earlier.extra else {})}))
        filled += 1
    report["filled"] = filled
    report["weights"] = model.weights.tolist()
    target.meta["transfer"] = {k: v for k, v in report.items() if k != "weights"}
    return report
