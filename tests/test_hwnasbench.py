"""HW-NAS-Bench import reproduces every published total; transfer fills a table with held-out error."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from nas.latency.build import layers_for
from nas.latency.hwnasbench import OPS, fbnet_arch, import_table, read_layers
from nas.latency.table import load_table
from nas.latency.transfer_model import transfer
from nas.space import load_space
from nas.vendored import HW_NAS_BENCH as DATA


@pytest.mark.parametrize("device,column", [("rpi4", "raspi4_latency_ms"), ("pixel3", "pixel3_latency_ms")])
def test_imported_table_reproduces_the_5000_published_archs(device: str, column: str) -> None:
    table = import_table(DATA, device)
    layers, _ = read_layers(DATA)
    with open(DATA / "fbnet_cifar100_arch_latency.csv") as handle:
        rows = list(csv.DictReader(handle))
    archs = [fbnet_arch(layers, [OPS[int(i)] for i in row["op_idx_list"].split()]) for row in rows]
    published = np.array([float(row[column]) for row in rows])
    assert len(archs) == 5000
    assert np.max(np.abs(table.compile().predict_many(archs) - published)) < 1e-6
    assert abs(table.predict(archs[0]) - published[0]) < 1e-6
    assert all(e.origin == "imported" and e.ms >= 0 for e in table.entries.values())


def test_mbv2_width_one_blocks_are_exactly_the_measured_ones() -> None:
    table = import_table(DATA, "rpi4")
    space = load_space("mbv2")
    for arch in space.sample_random(200, seed=0):
        if arch.width == 1.0:
            assert not table.missing(arch.keys())


def test_skip_convs_from_the_macro_architecture_are_the_published_ones() -> None:
    from nas.latency.hwnasbench import _resolved, read_layers, skip_conv_layers

    layers, _ = read_layers(DATA)
    published = {_resolved(layers, layer, "skip").key for layer in layers if not layer.identity_skip}
    assert set(skip_conv_layers()) == published and len(published) == 6


def test_notebook_reference_values() -> None:
    # HW-NAS-Bench's example.ipynb: [0]*22, [0]*21+[1], [0]*20+[1,1] on the Pi 4 (cifar100)
    table = import_table(DATA, "rpi4")
    layers, _ = read_layers(DATA)
    expected = [17.618579145142576, 17.505280663142912, 17.43969264414045]
    for ops, value in zip(([0] * 22, [0] * 21 + [1], [0] * 20 + [1, 1]), expected):
        assert table.predict(fbnet_arch(layers, [OPS[i] for i in ops])) == pytest.approx(value, abs=1e-9)


def test_transfer_fills_every_key_with_labelled_error() -> None:
    target = import_table(DATA, "rpi4")
    layers = layers_for(["ghost_mbv2"], baselines=False)
    report = transfer(load_table("cpu_x86"), target, layers)
    assert not target.missing(layers)
    predicted = [e for e in target.entries.values() if e.origin == "predicted"]
    assert predicted and all("heldout_mape_pct" in e.extra for e in predicted)
    held = report["held_out_all"]
    assert held["n_shapes"] > 5 and 0 <= held["within_10pct"] <= 100 and held["spearman_rho"] > 0.5
    assert set(report["held_out_by_samples"]) == {"10", "20", "50"}
    arch = load_space("ghost_mbv2").sample_random(1, seed=3)[0]
    shares = target.breakdown(arch)
    assert sum(shares.values()) == pytest.approx(1.0)


def test_transfer_again_refreshes_predictions_and_keeps_imported_entries() -> None:
    from dataclasses import replace

    target = import_table(DATA, "rpi4")
    layers = layers_for(["ghost_mbv2"], baselines=False)
    source = load_table("cpu_x86")
    transfer(source, target, layers)
    before = {k: (e.ms, e.origin) for k, e in target.entries.items()}
    source.entries = {k: replace(e, ms=e.ms * (2.0 if k.startswith("ghost") else 1.0)) for k, e in source.entries.items()}
    transfer(source, target, layers)
    changed = {k for k, e in target.entries.items() if e.ms != before[k][0]}
    assert changed and all(before[k][1] == "predicted" for k in changed)
    assert any(k.startswith("ghost") for k in changed)
    assert all(target.entries[k].ms == v for k, (v, origin) in before.items() if origin == "imported")
    assert all("history" not in target.entries[k].extra for k in changed)  # refreshed, not piled up


@pytest.mark.e2e
def test_importing_again_keeps_device_measurements_and_predictions(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from nas.cli import main
    from nas.latency.table import Entry

    monkeypatch.setattr("nas.latency.table_home.TABLES_DIR", tmp_path)
    assert main(["latency", "import-hwnasbench", "--data", str(DATA), "--device", "rpi4"]) == 0
    table = load_table("rpi4")
    imported_key = next(k for k, e in table.entries.items() if e.origin == "imported" and k.startswith("ir|"))
    table.set_entry(imported_key, Entry(9.9, 0.1, 30, "measured", {"bundle": "b1"}))
    table.set_entry("ghost|k3|cin16|mid16|cout16|s1|hw32|relu", Entry(1.5, origin="predicted"))
    relabelled = next(k for k, e in table.entries.items() if "relative_to" in e.extra)
    del table.entries[relabelled].extra["relative_to"]  # an older import, written before the label existed
    table.save()
    assert main(["latency", "import-hwnasbench", "--data", str(DATA), "--device", "rpi4"]) == 0
    again = load_table("rpi4")
    assert again.entries[imported_key].origin == "measured" and again.entries[imported_key].ms == 9.9
    assert again.entries[imported_key].extra["history"][-1]["origin"] == "imported"  # the published value is kept
    assert again.entries["ghost|k3|cin16|mid16|cout16|s1|hw32|relu"].ms == 1.5
    assert "relative_to" in again.entries[relabelled].extra  # new labels arrive ...
    assert not any("history" in e.extra for e in again.entries.values() if e.origin == "imported")  # ... as no history
    assert sum(e.origin == "imported" for e in again.entries.values()) == len(table.entries) - 2
