"""Adapting to a device from whole-network measurements: recovers a known device, keeps measured networks exact,
and refuses bad measurement files without touching any table."""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import nas.latency.table as tables
from nas.cli import main
from nas.latency.adapt import adapt_table, read_measurements
from nas.latency.build import layers_for
from nas.latency.table import TableError, load_table
from nas.space import load_space


@pytest.fixture
def table_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "tables"
    folder.mkdir()
    for name in ("rpi4", "pixel3"):
        shutil.copy(tables.TABLES_DIR / f"{name}.json", folder / f"{name}.json")
    monkeypatch.setattr("nas.latency.table_home.TABLES_DIR", folder)
    return folder


def _device(arch) -> float:  # noqa: ANN001 (Arch)
    """A made-up device: 1.3x the Raspberry Pi 4 plus 2 ms per network."""
    return load_table("rpi4").predict(arch) * 1.3 + 2.0


def _write(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["arch", "ms"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_a_known_device_is_recovered_from_ten_networks(table_dir: Path) -> None:
    space = load_space("mbv2")
    measured = [(a, _device(a)) for a in space.sample_random(10, seed=1)]
    table, model = adapt_table("board", measured, [load_table("rpi4"), load_table("pixel3")],
                               layers_for(["mbv2"], False))
    assert model.weights()["rpi4"] == pytest.approx(1.3, rel=1e-3) and model.loo_mape_pct < 0.5
    fresh = space.sample_random(50, seed=2)
    predicted = table.compile().predict_many(fresh)
    truth = np.array([_device(a) for a in fresh])
    assert np.max(np.abs(predicted - truth) / truth) < 0.01
    assert all(e.origin == "adapted" and "heldout_mape_pct" in e.extra for e in table.entries.values())
    arch, ms = measured[0]
    table.meta["measured_networks"][str(arch)] = ms * 1.1  # as if the device had said so
    assert table.predict(arch) == pytest.approx(ms * 1.1) and table.compile().predict_many([arch])[0] == pytest.approx(ms * 1.1)



KIND_SPEED = {"ghost": 0.5, "ghost_se": 0.6, "ir": 1.2, "ir_se": 1.3, "stem": 0.8, "head": 0.9}
"""A made-up host that speeds each kind of block up by its own factor relative to the Raspberry Pi 4."""


def _uneven_device(arch) -> float:  # noqa: ANN001 (Arch)
    rpi4 = load_table("rpi4")
    return 1.0 + sum(KIND_SPEED[layer.key.split("|", 1)[0]] * rpi4.contribution(layer.key) for layer in arch.layers())


def test_a_device_that_speeds_kinds_up_unevenly_is_fitted_per_kind(table_dir: Path) -> None:
    """One rescale cannot follow Ghost blocks at 0.5x and inverted residuals at 1.2x; the per-kind model does, and
    the single rescale fitted on the same networks is measurably worse (so this test can tell the two apart)."""
    from nas.latency.adapt import feature_matrix, fit_adapted
    from nas.latency.kind_model import KindModel
    from nas.latency.layer_work import WORK_TERMS

    space = load_space("ghost_mbv2")
    archs = space.sample_random(30, seed=1)
    measured = [(a, _uneven_device(a)) for a in archs]
    table, model = adapt_table("host", measured, [load_table("rpi4")], layers_for(["ghost_mbv2"], False))
    assert isinstance(model, KindModel) and model.describe().startswith("rpi4 by kind")
    weights = model.weights()
    assert weights["rpi4:ghost"] == pytest.approx(0.5, rel=0.05) and weights["rpi4:ir"] == pytest.approx(1.2, rel=0.05)
    fresh = space.sample_random(60, seed=2)
    truth = np.array([_uneven_device(a) for a in fresh])
    per_kind = np.abs(table.compile().predict_many(fresh) - truth) / truth
    rescale = fit_adapted(feature_matrix(archs, [load_table("rpi4")]), np.array([ms for _, ms in measured]),
                          ["rpi4", *WORK_TERMS])
    single = np.abs(rescale.ms_from_features(feature_matrix(fresh, [load_table("rpi4")])) - truth) / truth
    assert np.max(per_kind) < 0.02 and np.mean(single) > 2 * np.mean(per_kind)
    assert all(e.ms >= 0 for e in table.entries.values())
    assert table.meta["adapted"]["model"].startswith("adapted: rpi4 by kind")


def test_host_networks_cover_every_space_before_any_twice(table_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nas.latency.host as host

    timed: list = []

    class FakeTimer:
        reference_ms = 0.08

        def time(self, archs: list) -> list[float]:
            timed.extend(archs)
            return [_device(a) for a in archs]

    monkeypatch.setattr(host, "HostTimer", FakeTimer)
    assert main(["latency", "adapt", "--device", "here", "--host-networks", "3", "--from", "rpi4",
                 "--space", "mbv2", "--space", "shufflenet_v2"]) == 0
    kinds = [{layer.kind for layer in arch.layers()} for arch in timed]
    assert len(timed) == 3 and "shuffle" not in kinds[0] and "shuffle" in kinds[1] and "shuffle" not in kinds[2]
    assert load_table("here").meta["adapted"]["host_probe"]["ms"] == 0.08  # later timings can use the same units

def test_an_adapted_table_predicts_every_network_of_its_family_even_layers_no_source_holds(
        table_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """FBNet networks with a 1,000-class head (no shipped table holds one): the command adapts to them through the
    user's path, and the written table predicts every other such network; the layers no source held are labelled
    extrapolated and leave their predictions without an error bar."""
    from nas.latency.provenance import provenance

    space = load_space("fbnet")
    imagenet = lambda a: replace(a, num_classes=1000)  # noqa: E731 (an ImageNet head)
    measured = [imagenet(a) for a in space.sample_random(10, seed=4)]
    assert all(load_table("rpi4").missing(a.keys()) for a in measured)  # the head is no source's
    path = _write(tmp_path / "m.csv", [{"arch": str(a), "ms": _device(replace(a, num_classes=10))} for a in measured])
    assert main(["latency", "adapt", "--device", "board", "--measurements", str(path), "--space", "fbnet"]) == 0
    assert not (table_dir / "board.json").exists() and (tables.user_tables_dir() / "board.json").is_file()
    table = load_table("board")
    fresh = [imagenet(a) for a in space.sample_random(200, seed=5)]
    predicted = table.compile().predict_many(fresh)
    truth = np.array([_device(replace(a, num_classes=10)) for a in fresh])
    assert np.median(np.abs(predicted - truth) / truth) < 0.05
    heads = [e for k, e in table.entries.items() if k.startswith("head") and "nc1000" in k]
    assert heads and all(e.extra.get("extrapolated") for e in heads)
    assert provenance(table, fresh[0])["error_bar_ms"] is None
    assert provenance(table, space.sample_random(1, seed=6)[0])["error_bar_ms"] is not None  # 10-class: held


@pytest.mark.e2e
def test_the_command_writes_an_adapted_table_and_refuses_to_replace_a_measured_one(table_dir: Path, tmp_path: Path,
                                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    rows = [{"arch": str(a), "ms": _device(a)} for a in load_space("mbv2").sample_random(10, seed=3)]
    rows.append({"arch": "mobilenet_v2_0.5", "ms": 30.0})  # a baseline by name
    path = _write(tmp_path / "m.csv", rows)
    assert main(["latency", "adapt", "--device", "board", "--measurements", str(path), "--space", "mbv2"]) == 0
    table = load_table("board")
    assert table.meta["adapted"]["fitted_on"] == 11 and "held out" in capsys.readouterr().out
    assert main(["latency", "adapt", "--device", "rpi4", "--measurements", str(path), "--space", "mbv2"]) == 2
    assert "another --device" in capsys.readouterr().err


@pytest.mark.e2e
@pytest.mark.parametrize("bad,fragment", [
    ({"ms": "nan"}, "finite number"),
    ({"ms": "inf"}, "finite number"),
    ({"ms": "0"}, r"finite number in \(0"),
    ({"ms": "-3"}, r"finite number in \(0"),
    ({"ms": "1e300"}, r"finite number in \(0"),
    ({"ms": "fast"}, "must be a number"),
    ({"arch": "not-an-arch"}, "unknown arch"),
    ({"arch": None}, "needs the fields"),
])
def test_a_bad_measurements_file_is_one_line_and_writes_no_table(table_dir: Path, tmp_path: Path, bad: dict,
                                                                 fragment: str) -> None:
    rows = [{"arch": str(a), "ms": 10.0 + i} for i, a in enumerate(load_space("mbv2").sample_random(5, seed=4))]
    rows[2] = {**rows[2], **bad}
    if bad.get("arch", "") is None:
        rows[2] = {"ms": 1.0}
        path = tmp_path / "m.json"
        path.write_text(json.dumps(rows))
    else:
        path = _write(tmp_path / "m.csv", rows)
    with pytest.raises(TableError, match=fragment):
        read_measurements(path)
    assert main(["latency", "adapt", "--device", "board", "--measurements", str(path)]) == 2
    assert not (table_dir / "board.json").exists()


def test_repeated_timings_of_one_network_are_averaged_unless_more_than_20_percent_apart(tmp_path: Path) -> None:
    archs = load_space("mbv2").sample_random(4, seed=8)
    rows = [{"arch": str(a), "ms": 10.0 + i} for i, a in enumerate(archs)]
    agreeing = _write(tmp_path / "ok.csv", [*rows, {"arch": str(archs[0]), "ms": 11.0}])  # 10 % apart: host noise
    assert dict((str(a), ms) for a, ms in read_measurements(agreeing))[str(archs[0])] == pytest.approx(10.5)
    conflicting = _write(tmp_path / "bad.csv", [*rows, {"arch": str(archs[0]), "ms": 12.5}])  # 25 % apart
    with pytest.raises(TableError, match="more than 20% apart"):
        read_measurements(conflicting)

def test_too_few_networks_are_refused(tmp_path: Path) -> None:
    path = _write(tmp_path / "m.csv", [{"arch": "mobilenet_v2_0.5", "ms": 3.0}, {"arch": "ghostnet_0.5", "ms": 2.0}])
    with pytest.raises(TableError, match="at least 3"):
        read_measurements(path)


def test_a_table_from_another_processor_is_named_with_the_fix() -> None:
    from nas.latency.host import foreign_host_warning, this_processor

    table = load_table("cpu_x86")
    table.meta["processor"] = "Some Other CPU"
    message = foreign_host_warning(table)
    assert message and "Some Other CPU" in message and "nas latency adapt --device cpu_x86_here --host-networks" in message
    table.meta["processor"] = this_processor()
    assert foreign_host_warning(table) is None
    assert foreign_host_warning(load_table("rpi4")) is None  # a device's table is not a host's
    from nas.latency.ortbench import host_description, vector_isa

    other = "avx2" if host_description()["vector_isa"] != "avx2" else "avx512"
    table.meta["vector_isa"] = other
    message = foreign_host_warning(table)
    assert message and f"({other})" in message, "the same processor name with another vector ISA is another host"
    table.meta["vector_isa"] = host_description()["vector_isa"]
    assert foreign_host_warning(table) is None
    assert vector_isa({"sse4_2", "avx", "avx2"}) == "avx2" and vector_isa({"asimd"}) == "neon"
    assert vector_isa(set()) == "unknown"


@pytest.mark.e2e
def test_host_networks_are_timed_here_and_adapted(table_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    import nas.latency.validate as validate

    shutil.copy(Path(__file__).resolve().parent.parent / "latency_tables" / "cpu_x86.json", table_dir / "cpu_x86.json")
    monkeypatch.setattr(validate, "REPORTS_DIR", table_dir / "reports")
    assert main(["latency", "adapt", "--device", "here", "--host-networks", "3", "--from", "cpu_x86",
                 "--space", "shufflenet_v2"]) == 0
    table = load_table("here")
    assert len(table.meta["measured_networks"]) == 3 and all(v > 0 for v in table.meta["measured_networks"].values())
    assert table.meta["adapted"]["host_probe"]["ms"] > 0
    assert (tables.user_reports_dir() / "adapt_here_networks.csv").is_file()
    assert not (table_dir / "reports").exists(), "shipped reports are never written"
    assert main(["latency", "adapt", "--device", "x", "--host-networks", "3", "--measurements", "m.csv"]) == 2
    assert "one of the two" in capsys.readouterr().err
