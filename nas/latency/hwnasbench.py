"""Importing HW-NAS-Bench's published FBNet (CIFAR) latencies: Raspberry Pi 4 and Pixel 3.

The data (see ``data/hw_nas_bench/README.md``) are per-(layer, op) *deltas* against the
layer's skip block, plus a constant ``K`` (the all-skip network: stem, head conv, pool, FC and the
22 skip entries). An arch's published latency is ``K + sum of its deltas``. Our tables hold absolute
per-layer entries; the mapping keeps every published total exact:

* an FBNet op at layer ``l`` becomes the key of our resolved ``ir`` block (``ir_g2`` for the grouped
  ops) with value ``delta + c_l``;
* an identity skip is an absent block (c_l = 0: its cost stays inside K);
* where the shape changes, FBNet's skip is a 1x1 conv + BN + ReLU: our ``conv`` block, with value
  ``c_l``. The data do not say how K splits between those skip convs, the stem and the head, and
  no FBNet total depends on it (every arch has exactly one block in such a layer), so ``c_l`` is
  estimated at that layer's ms-per-MAC (from its k5_e6 delta) and the remainder of K is split
  between stem and head by MACs. Entries whose *absolute* value therefore rests on that estimate
  say so (``split_estimated``).
* the ops of such a layer also keep their published delta and the skip conv's key
  (``delta_ms``, ``relative_to``): the transfer fits them as differences against the skip conv
  measured on the source device, so the estimated ``c_l`` never becomes a training target;
* FBNet here has 100 classes; our spaces have 10. The 10-class head gets the 100-class head's
  value (an FC of 1504x100 vs 1504x10 MACs: 0.14 M of the net's 6-80 M), labelled as adapted.

The 5000 published archs are reproduced through ``LatencyTable.predict`` to < 1e-6 ms
(``tests/test_hwnasbench.py``).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from nas.arch import Arch, BlockSpec, HeadSpec, Layer, StemSpec
from nas.cost import layer_cost
from nas.latency.table import Entry, LatencyTable, now
from nas.space import load_space

DEVICES = {
    "rpi4": ("raspi4", "Raspberry Pi 4 Model B (Cortex-A72, 4 cores)", 1.0),
    "pixel3": ("pixel3", "Google Pixel 3 (Snapdragon 845)", 2.0),
}
"""Our name -> (the data's column, what the device is, its last-level cache in MB: the Pi 4's 1 MB L2, the
Snapdragon 845's 2 MB L3; the transfer model's weight-spill term starts there)."""
OPS = ("k3_e1", "k3_e1_g2", "k3_e3", "k3_e6", "k5_e1", "k5_e1_g2", "k5_e3", "k5_e6", "skip")
SOURCE = ("HW-NAS-Bench (Li et al., ICLR 2021), FBNet CIFAR-100 per-block table, as redistributed by HELP "
          "(Lee et al., NeurIPS 2021); MIT licences")


@dataclass(frozen=True)
class FbnetLayer:
    index: int
    cin: int
    cout: int
    stride: int
    identity_skip: bool


def skip_conv_layers() -> dict[str, Layer]:
    """FBNet's 1x1-conv skip blocks (where a stage changes shape), from the ``mbv2`` space at width 1.0.

    That space *is* FBNet's CIFAR macro-architecture (``tests/test_hwnasbench.py`` pins it to the
    published blocks), so its stages say where the skip convs are. HW-NAS-Bench publishes every op of
    such a layer as a delta against this block, so a host table measures them too (``nas latency
    build``): with their source latency the transfer fits the published deltas, not estimates.
    """
    space = load_space("mbv2")
    inputs = [space.stem.channels, *(stage.channels for stage in space.stages[:-1])]
    blocks = tuple(BlockSpec("conv", 1, 1, stage.channels, stage.stride) for cin, stage in zip(inputs, space.stages)
                   if cin != stage.channels or stage.stride != 1)
    arch = Arch(32, 1.0, space.stem, blocks, space.head, num_classes=100)
    return {layer.key: layer for layer in arch.layers()[1:-1]}


def read_layers(folder: Path) -> tuple[list[FbnetLayer], dict[tuple[int, str], dict[str, float]]]:
    """Layer shapes and per-(layer, op) deltas per device."""
    layers: dict[int, FbnetLayer] = {}
    deltas: dict[tuple[int, str], dict[str, float]] = {}
    with open(folder / "fbnet_cifar100_block_latency_delta.csv") as handle:
        for row in csv.DictReader(handle):
            index = int(row["layer"])
            layers[index] = FbnetLayer(index, int(row["C_in"]), int(row["C_out"]), int(row["stride"]),
                                       row["skip_is_identity"] == "1")
            deltas[(index, row["op"])] = {"raspi4": float(row["raspi4_delta_ms"]), "pixel3": float(row["pixel3_delta_ms"])}
    return [layers[i] for i in sorted(layers)], deltas


def block_for(layer: FbnetLayer, op: str) -> BlockSpec | None:
    """Our block for an FBNet op at a layer (None: identity skip, no block)."""
    if op == "skip":
        return None if layer.identity_skip else BlockSpec("conv", 1, 1, layer.cout, layer.stride)
    kernel, expansion = int(op[1]), int(op.split("_")[1][1:])
    groups = 2 if op.endswith("_g2") else 1
    return BlockSpec("ir", kernel, expansion, layer.cout, layer.stride, groups=groups)


def fbnet_arch(layers: list[FbnetLayer], ops: list[str], num_classes: int = 100) -> Arch:
    """The FBNet CIFAR arch with the given 22 ops, in our vocabulary."""
    blocks = tuple(b for layer, op in zip(layers, ops, strict=True) if (b := block_for(layer, op)) is not None)
    return Arch(32, 1.0, StemSpec(16, 3, 1), blocks, HeadSpec(1504), num_classes=num_classes)


def fbnet_ops(arch: Arch, layers: list[FbnetLayer]) -> list[str]:
    """The 22 FBNet ops of an arch of the ``fbnet`` space, skips last in each stage (where an identity skip sits in a
    stage does not change the network, so this is its canonical op list; :func:`fbnet_arch` inverts it)."""
    from nas.errors import ArchError

    ops: list[str] = []
    blocks = list(arch.blocks)
    stages: list[list[FbnetLayer]] = []
    for layer in layers:  # a stage begins where the shape changes (or at the first layer)
        if not stages or not layer.identity_skip:
            stages.append([])
        stages[-1].append(layer)
    for stage in stages:
        for layer in stage:
            block = blocks[0] if blocks else None
            fits = block is not None and block.channels == layer.cout and block.stride == layer.stride
            if fits and block.type == "conv" and not layer.identity_skip:
                ops.append("skip")
                blocks.pop(0)
            elif fits and block.type == "ir" and not block.se:
                ops.append(f"k{block.kernel}_e{int(block.expansion)}" + ("_g2" if block.groups == 2 else ""))
                blocks.pop(0)
            elif layer.identity_skip:
                ops.append("skip")
            else:
                raise ArchError(f"arch {arch.id} is not an FBNet network: layer {layer.index} has no block it allows")
    if blocks or any(op not in OPS for op in ops):
        raise ArchError(f"arch {arch.id} is not an FBNet network (space fbnet)")
    return ops


def import_table(folder: Path, device: str) -> LatencyTable:
    """A table of the published values for ``rpi4`` or ``pixel3``."""
    column, description, cache_mb = DEVICES[device]
    layers, deltas = read_layers(folder)
    constants = json.loads((folder / "fbnet_cifar100_constants.json").read_text())
    k_ms = float(constants["K_ms"][column])
    entries: dict[str, Entry] = {}
    skip_conv_total = 0.0
    for layer in layers:
        c_layer = 0.0
        if not layer.identity_skip:
            conv_layer, largest = _resolved(layers, layer, "skip"), _resolved(layers, layer, "k5_e6")
            extra_macs = max(1, layer_cost(largest).macs - layer_cost(conv_layer).macs)
            c_layer = deltas[(layer.index, "k5_e6")][column] / extra_macs * layer_cost(conv_layer).macs
            skip_conv_total += c_layer
            entries[conv_layer.key] = Entry(c_layer, 0.0, 0, "imported", {
                "source": SOURCE, "split_estimated": True,
                "note": "FBNet skip conv; value = layer ms-per-MAC x MACs (the data fix only K + sum of deltas)"})
        for op in OPS[:-1]:
            key = _resolved(layers, layer, op).key
            delta = deltas[(layer.index, op)][column]
            relative = {} if layer.identity_skip else {"delta_ms": delta, "relative_to": conv_layer.key}
            entries[key] = Entry(delta + c_layer, 0.0, 0, "imported", {
                "source": SOURCE, "fbnet_layer": layer.index, "op": op, "split_estimated": not layer.identity_skip,
                **relative})
    all_skip = fbnet_arch(layers, ["skip"] * len(layers))
    stem, head = all_skip.layers()[0], all_skip.layers()[-1]
    rest = k_ms - skip_conv_total
    stem_ms = rest * layer_cost(stem).macs / (layer_cost(stem).macs + layer_cost(head).macs)
    split = {"source": SOURCE, "split_estimated": True,
             "note": "stem + head (+ pool, FC, identity skips) = K - skip convs, split by MACs"}
    entries[stem.key] = Entry(stem_ms, 0.0, 0, "imported", dict(split))
    entries[head.key] = Entry(rest - stem_ms, 0.0, 0, "imported", dict(split))
    head10 = fbnet_arch(layers, ["skip"] * len(layers), num_classes=10).layers()[-1]
    entries[head10.key] = Entry(rest - stem_ms, 0.0, 0, "imported", {
        **split, "adapted": "value of the 100-class head (FC 1504x100 -> 1504x10: 0.14 M MACs fewer)"})
    meta = {"device": device, "device_description": description, "processor": description,
            "runtime": "TensorFlow Lite (per the HW-NAS-Bench paper; no measurement code was released)",
            "provider": "CPU", "threads": "unknown", "batch": 1, "created": now(), "updated": now(),
            "spaces": [], "overhead_ms": 0.0, "last_level_cache_mb": cache_mb,
            "source": SOURCE, "timing": "per-block latencies measured on the device and summed (HW-NAS-Bench); "
                                       "not end-to-end runs",
            "calibration": {"scale": 1.0, "offset_ms": 0.0, "note": "sum of blocks, as published"}}
    return LatencyTable(meta, entries, None)


def merge_published(existing: LatencyTable, published: LatencyTable) -> int:
    """Bring freshly imported published values into an existing table of the same device.

    Entries measured on the device (``nas latency import``) stay, with the published value in their history;
    earlier imported entries are replaced (into history if the value changed); predicted entries stay
    until the next transfer. Returns how many measured or predicted entries were kept.
    """
    for key, entry in published.entries.items():
        current = existing.entries.get(key)
        if current is not None and current.origin == "measured":
            history = current.extra.setdefault("history", [])
            if entry.to_json() not in history:  # importing again does not pile the same published value up
                history.append(entry.to_json())
        elif current is None or current.origin != "imported" or current.ms != entry.ms:
            existing.set_entry(key, entry)
        elif current.to_json() != entry.to_json():  # same value, newer labels: no history entry
            if current.extra.get("history"):
                entry.extra["history"] = current.extra["history"]
            existing.entries[key] = entry
    existing.meta.update({k: v for k, v in published.meta.items() if k not in ("created", "spaces", "transfer")})
    return sum(e.origin != "imported" for e in existing.entries.values())


def _resolved(layers: list[FbnetLayer], layer: FbnetLayer, op: str) -> Layer:
    """Our resolved layer for ``op`` at ``layer``: every other layer skips, so the blocks before it
    are exactly the skip convs of the non-identity layers before it."""
    ops = ["skip"] * len(layers)
    ops[layer.index] = op
    blocks = fbnet_arch(layers, ops).layers()[1:-1]
    return blocks[sum(1 for lay in layers[: layer.index] if not lay.identity_skip)]
