"""Latency tables: format validation, prediction, vectorised prediction, build/resume, bundle/import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nas.arch import parse_arch
from nas.latency.build import build_table, layers_for
from nas.latency.bundle import import_results, write_bundle
from nas.latency.measure import Runtime, RuntimeUnavailable
from nas.latency.table import SCHEMA, Entry, LatencyTable, TableError, load_table, parse_table, weight_mb
from nas.latency.validate import Sample, fit_calibration, report, samples_from_reports, write_report
from nas.space import load_space
from nas.stats import error_report, kendall_tau, spearman_rho

ARCH = parse_arch("r32_w1-stem_c16_k3_s1-ir_k3_e6_c24_s2-ghost_se_k5_e3_c24_s1-head_c64")


def _table(**meta: object) -> LatencyTable:
    entries = {key: Entry(0.1 * (i + 1), 0.01, 10, "measured") for i, key in enumerate(ARCH.keys())}
    return LatencyTable({"device": "t", "runtime": "onnxruntime", "threads": 1, "batch": 1, "overhead_ms": 0.05, **meta},
                        entries)


def test_predict_sums_entries_overhead_and_calibration() -> None:
    table = _table()
    assert table.predict(ARCH) == pytest.approx(0.05 + 0.1 + 0.2 + 0.3 + 0.4)
    table.meta["calibration"] = {"scale": 2.0, "offset_ms": 0.5}
    assert table.predict(ARCH) == pytest.approx(2 * 1.05 + 0.5)
    assert table.breakdown(ARCH) == {"measured": pytest.approx(1.0)}


def test_missing_key_names_key_and_command() -> None:
    table = _table()
    del table.entries[ARCH.keys()[2]]
    with pytest.raises(TableError, match=r"no entry for 'ghost_se\|k5.*t cannot be measured from this host.*"
                                         r"nas latency bundle.*nas latency transfer --from cpu_x86 --to t"):
        table.predict(ARCH)  # not measured by 'nas latency build': a device's table grows through a bundle
    table.meta.update({"reference_ms": 0.08, "runtime": "onnxruntime"})
    with pytest.raises(TableError, match=r"no entry for 'ghost_se\|k5.*nas latency build --device t"):
        table.predict(ARCH)


def test_vectorised_prediction_matches_scalar() -> None:
    space = load_space("shufflenet_v2")
    layers = space.layers()
    table = LatencyTable({"device": "v", "runtime": "onnxruntime", "threads": 1, "batch": 1, "overhead_ms": 0.02,
                          "calibration": {"scale": 1.3, "offset_ms": 0.1}},
                         {k: Entry(float(i % 7) / 10 + 0.01) for i, k in enumerate(sorted(layers))})
    archs = space.sample_random(200, seed=3)
    fast = table.compile().predict_many(archs)
    assert np.allclose(fast, [table.predict(a) for a in archs])
    foreign = table.compile().predict_many([ARCH])
    assert np.isnan(foreign[0])


def test_save_load_round_trip_is_atomic(tmp_path: Path) -> None:
    table = _table()
    path = table.save(tmp_path / "t.json")
    loaded = load_table(path)
    assert loaded.predict(ARCH) == pytest.approx(table.predict(ARCH))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.json"]
    table.set_entry(ARCH.keys()[0], Entry(9.0, origin="imported", extra={"source": "x"}))
    assert table.entries[ARCH.keys()[0]].extra["history"][0]["ms"] == pytest.approx(0.1)


@pytest.mark.parametrize("mutate,fragment", [
    (lambda d: d.update(schema="other"), "not a nas latency table"),
    (lambda d: d["meta"].pop("threads"), "meta lacks 'threads'"),
    (lambda d: d["entries"][next(iter(d["entries"]))].update(ms="fast"), "'ms' must be a finite number"),
    (lambda d: d["entries"][next(iter(d["entries"]))].update(ms=float("nan")), "'ms' must be a finite number"),
    (lambda d: d["entries"][next(iter(d["entries"]))].update(origin="guessed"), "origin must be one of"),
    (lambda d: d["meta"].update(calibration={"scale": -1}), "calibration"),
    (lambda d: d["meta"].update(calibration={"scale": 1, "ms_per_weight_mb": -0.1}), "ms_per_weight_mb"),
])
def test_hand_broken_tables_are_rejected_whole(tmp_path: Path, mutate: object, fragment: str) -> None:
    data = _table().to_json()
    mutate(data)  # type: ignore[operator]
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(data))
    with pytest.raises(TableError, match=fragment):
        load_table(path)


def test_corrupt_json_and_unknown_device(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"schema": "nas.latency_table/1", "meta": {')
    with pytest.raises(TableError, match="not a readable JSON table"):
        load_table(path)
    with pytest.raises(TableError, match="no latency table for device 'nonexistent'"):
        load_table("nonexistent")
    with pytest.raises(TableError, match="not allowed"):
        load_table("../etc/passwd")
    assert parse_table({"schema": SCHEMA, "meta": {"device": "d", "runtime": "r", "threads": 1, "batch": 1},
                        "entries": {}}).entries == {}


def test_unknown_runtime() -> None:
    with pytest.raises(RuntimeUnavailable, match="unknown runtime 'tpu'"):
        Runtime("tpu")


def test_calibration_fit_recovers_per_kind_factors() -> None:
    space = load_space("ghost_mbv2")
    layers = space.layers()
    rng = np.random.default_rng(0)
    table = LatencyTable({"device": "c", "runtime": "onnxruntime", "threads": 1, "batch": 1, "overhead_ms": 0.02},
                         {k: Entry(float(rng.uniform(0.01, 0.2))) for k in layers})
    truth = {"ir": 1.2, "ir_se": 1.5, "ghost": 1.8, "ghost_se": 2.0, "stem": 1.1, "head": 1.3}
    archs = space.sample_random(60, seed=1)
    measured = [0.4 + sum(truth[k.split("|")[0]] * table.entries[k].ms for k in a.keys()) for a in archs]
    samples = [Sample(a, table.raw_sum(a), 0.0, m, 0.0) for a, m in zip(archs, measured)]
    calibration = fit_calibration(table, samples)
    assert calibration["scale_by_kind"] == pytest.approx(truth)
    assert max(calibration["relative_se_by_kind"].values()) < 1e-6  # exact data pin every factor
    # with 3 % measurement noise the blocks stay pinned, while the stem (nearly the same in every arch,
    # so collinear with the offset) is reported as loose
    noise = np.random.default_rng(5).normal(1.0, 0.03, len(samples))
    noisy = fit_calibration(table, [Sample(s.arch, s.raw_ms, 0.0, s.measured_ms * e, 0.0)
                                    for s, e in zip(samples, noise)])
    errors = noisy["relative_se_by_kind"]
    assert set(errors) == set(noisy["scale_by_kind"])
    assert max(errors[k] for k in ("ir", "ghost", "ghost_se")) < 0.1 and errors["stem"] > 0.25
    table.meta["calibration"] = calibration
    assert table.compile().predict_many(archs) == pytest.approx(measured)
    assert [table.predict(a) for a in archs] == pytest.approx(measured)


def test_calibration_fit_recovers_weight_fetch_term() -> None:
    space = load_space("mbv2")
    rng = np.random.default_rng(1)
    table = LatencyTable({"device": "w", "runtime": "onnxruntime", "threads": 1, "batch": 1, "overhead_ms": 0.02},
                         {k: Entry(float(rng.uniform(0.01, 0.2))) for k in space.layers()})
    archs = space.sample_random(80, seed=2)
    measured = [0.3 + sum(1.4 * table.entries[k].ms + 0.05 * weight_mb(k) for k in a.keys()) for a in archs]
    samples = [Sample(a, table.raw_sum(a), 0.0, m, 0.0) for a, m in zip(archs, measured)]
    calibration = fit_calibration(table, samples)
    assert calibration["ms_per_weight_mb"] == pytest.approx(0.05)
    assert list(calibration["scale_by_kind"].values()) == pytest.approx([1.4] * len(calibration["scale_by_kind"]))
    table.meta["calibration"] = calibration
    assert table.compile().predict_many(archs) == pytest.approx(measured)
    assert [table.predict(a) for a in archs] == pytest.approx(measured)
    # a term that would come out negative is dropped, not kept as a "speed-up"
    faster = [m - 0.05 * sum(2 * weight_mb(k) for k in a.keys()) for a, m in zip(archs, measured)]
    refit = fit_calibration(table, [Sample(a, 0.0, 0.0, m, 0.0) for a, m in zip(archs, faster)])
    assert "ms_per_weight_mb" not in refit


def test_weight_mb_reads_the_shape_from_the_key() -> None:
    from nas.cost import layer_cost

    for layer in ARCH.layers():
        assert weight_mb(layer.key) == pytest.approx(layer_cost(layer).params * 4 / 1e6)


def test_fit_from_earlier_reports_and_repeatability(tmp_path: Path) -> None:
    table = _table()
    samples = [Sample(ARCH, table.raw_sum(ARCH), table.predict(ARCH), 1.0, 0.01, (1.0, 1.04)),
               Sample(ARCH, table.raw_sum(ARCH), table.predict(ARCH), 1.2, 0.01, (1.1, 1.3))]
    metrics = report(samples)
    assert metrics["repeat_within_5pct"] == 50.0 and metrics["repeat_within_10pct"] == 50.0
    paths = write_report(table, "x", samples, {}, directory=tmp_path)
    again = samples_from_reports(table, [paths["csv"]])
    assert [s.measured_ms for s in again] == pytest.approx([1.0, 1.2])
    assert again[0].predicted_ms == pytest.approx(table.predict(ARCH))
    other = LatencyTable({**table.meta, "device": "other"}, table.entries)
    with pytest.raises(TableError, match="measured for table 't'.*not 'other'"):
        samples_from_reports(other, [paths["csv"]])
    bad = tmp_path / "bad.csv"
    bad.write_text("arch,measured_ms\nnot-an-arch,1.0\n")
    with pytest.raises(TableError, match="not a validation CSV"):
        samples_from_reports(table, [bad])


def test_rank_statistics() -> None:
    x = np.array([1.0, 2, 3, 4, 5])
    assert kendall_tau(x, x) == pytest.approx(1.0) and kendall_tau(x, -x) == pytest.approx(-1.0)
    assert spearman_rho(x, x**3) == pytest.approx(1.0)
    report = error_report(np.array([1.0, 2.0, 3.3]), np.array([1.0, 2.08, 3.0]))
    assert report["within_5pct"] == pytest.approx(200 / 3) and report["within_10pct"] == pytest.approx(100.0)


def test_nonnegative_least_squares_matches_brute_force_over_active_sets() -> None:
    from itertools import combinations

    from nas.stats import nonnegative_least_squares

    rng = np.random.default_rng(0)
    for trial in range(30):
        a = rng.normal(size=(12, 5))
        b = rng.normal(size=12)
        best_residual = float(np.linalg.norm(b))
        for size in range(1, 6):  # the optimum is the unconstrained fit on some subset, all coefficients > 0
            for subset in combinations(range(5), size):
                x = np.zeros(5)
                x[list(subset)] = np.linalg.lstsq(a[:, subset], b, rcond=None)[0]
                if x.min() >= 0 and np.linalg.norm(a @ x - b) < best_residual:
                    best_residual = float(np.linalg.norm(a @ x - b))
        found = nonnegative_least_squares(a, b)
        assert found.min() >= 0, trial
        assert np.linalg.norm(a @ found - b) == pytest.approx(best_residual, rel=1e-9, abs=1e-12), trial


def test_transfer_model_recovers_a_device_from_its_work_terms() -> None:
    """A synthetic target: depthwise MACs 0.5 ms/M, activations 0.3 ms/MB, spill 2 ms/MB, 0.02 ms per block."""
    from nas.latency.transfer_model import FEATURES, Rows, TransferModel, cross_validate, features, shape_group

    layers = layers_for(["mbv2", "ghost_mbv2"], baselines=False)
    keys = [k for k in sorted(layers) if layers[k].kind not in ("stem", "head")][::7]
    truth = np.zeros(len(FEATURES))
    truth[[1, 2, 4, 6]] = [0.5, 0.3, 2.0, 0.02]
    x = np.array([features(layers[k], source_ms=0.1 + 0.01 * (i % 5), cache_mb=0.5) for i, k in enumerate(keys)])
    assert x[:, 4].max() > 0  # some keys spill beyond the 0.5 MB cache, or the test would not test that term
    y = x @ truth
    model = TransferModel.fit(x, y)
    assert model.weights.min() >= 0
    np.testing.assert_allclose(model.ms_from_features(x), y, rtol=1e-6)
    held = cross_validate(Rows(keys, x, y, np.zeros(len(y)), [shape_group(layers[k]) for k in keys],
                               np.zeros(len(y), dtype=bool)))
    assert held["mape_pct"] < 1e-3 and held["spearman_rho"] > 0.999


def test_shape_level_floor_separates_a_per_shape_bias_from_scatter_within_shapes() -> None:
    """A target that is a cost model times a per-shape factor: held-out error comes mostly from the factor,
    which the oracle that knows each shape's level removes; scatter within a shape stays in the floor."""
    from nas.latency.transfer_model import FEATURES, Rows, _best_rescaled_errors, cross_validate, features, shape_group

    np.testing.assert_allclose(_best_rescaled_errors(np.array([2.0, 4.0, 6.0]), np.array([1.0, 2.0, 3.0])), 0,
                               atol=1e-12)
    np.testing.assert_allclose(_best_rescaled_errors(np.array([1.0, 2.0, 4.5]), np.array([1.0, 2.0, 3.0])),
                               [0, 0, 0.5], atol=1e-12)

    layers = layers_for(["mbv2"], baselines=False)
    keys = [k for k in sorted(layers) if layers[k].kind == "ir"]
    groups = [shape_group(layers[k]) for k in keys]
    factor = {g: 1.0 + 0.3 * (i % 3) for i, g in enumerate(sorted(set(groups)))}
    truth = np.zeros(len(FEATURES))
    truth[[1, 2, 6]] = [0.5, 0.3, 0.02]
    x = np.array([features(layers[k], 0.1, 1.0) for k in keys])
    y = x @ truth * np.array([factor[g] for g in groups])
    level_only = cross_validate(Rows(keys, x, y, np.zeros(len(y)), groups, np.zeros(len(y), dtype=bool)))
    assert level_only["mape_pct"] > 10 and level_only["mape_if_shape_level_known_pct"] < level_only["mape_pct"] / 5
    scatter = y * np.where(np.arange(len(y)) % 2, 1.2, 0.8)
    noisy = cross_validate(Rows(keys, x, scatter, np.zeros(len(y)), groups, np.zeros(len(y), dtype=bool)))
    assert noisy["mape_if_shape_level_known_pct"] > 5
    assert noisy["mape_if_shape_level_known_pct"] <= noisy["mape_pct"]


def test_transfer_fits_published_deltas_not_the_estimated_absolute_values() -> None:
    """Like HW-NAS-Bench: some target entries are a published delta against a skip conv plus an estimate
    of that conv's cost (here 3x too high). Fitted as deltas, the estimate cannot bias the model."""
    from nas.latency.hwnasbench import skip_conv_layers
    from nas.latency.table import Entry, LatencyTable
    from nas.latency.transfer_model import FEATURES, features, training_rows, transfer

    layers = layers_for(["mbv2"], baselines=False)
    convs = skip_conv_layers()
    truth = np.zeros(len(FEATURES))
    truth[[0, 1, 2, 6]] = [0.05, 0.5, 0.3, 0.02]
    source_ms = {k: 0.01 + 0.001 * (i % 7) for i, k in enumerate([*layers, *convs])}
    ms = {k: float(features(layer, source_ms[k], 1.0) @ truth) for k, layer in [*layers.items(), *convs.items()]}
    source = LatencyTable({"device": "src"}, {k: Entry(v, 0.0, 1, "measured") for k, v in source_ms.items()}, None)
    target = LatencyTable({"device": "tgt"}, {}, None)
    blocks = [k for k in sorted(layers) if layers[k].kind == "ir"]
    reference = next(iter(convs))
    for i, key in enumerate(blocks[::5]):
        if i % 2:
            delta = ms[key] - ms[reference]
            target.entries[key] = Entry(delta + 3 * ms[reference], 0.0, 0, "imported",
                                        {"split_estimated": True, "relative_to": reference, "delta_ms": delta})
        else:
            target.entries[key] = Entry(ms[key], 0.0, 0, "imported")
    target.entries[reference] = Entry(3 * ms[reference], 0.0, 0, "imported", {"split_estimated": True})
    rows = training_rows(source, target, {**layers, **convs}, 1.0)
    assert reference not in rows.keys and 0 < rows.deltas < len(rows.keys)  # the estimate itself is not fitted
    report = transfer(source, target, layers, cache_mb=1.0)
    assert report["fitted_as_deltas"] == rows.deltas
    assert report["held_out_all"]["n_delta_keys"] == rows.deltas
    predicted = [k for k, e in target.entries.items() if e.origin == "predicted"]
    assert predicted
    np.testing.assert_allclose([target.entries[k].ms for k in predicted], [ms[k] for k in predicted], rtol=1e-6)


def test_transfer_brings_predicted_stems_and_heads_to_the_level_of_the_targets_own() -> None:
    """The target's one stem and head cost 1.5x what the block model says: every other width's stem and
    head is predicted at 1.5x too (blocks are untouched); without such entries nothing is rescaled."""
    from nas.latency.table import Entry, LatencyTable
    from nas.latency.transfer_model import FEATURES, features, transfer

    layers = layers_for(["mbv2"], baselines=False)
    truth = np.zeros(len(FEATURES))
    truth[[0, 1, 2, 6]] = [0.05, 0.5, 0.3, 0.02]
    source_ms = {k: 0.01 + 0.001 * (i % 7) for i, k in enumerate(layers)}
    ms = {k: float(features(layer, source_ms[k], 1.0) @ truth) for k, layer in layers.items()}
    source = LatencyTable({"device": "src"}, {k: Entry(v, 0.0, 1, "measured") for k, v in source_ms.items()}, None)
    ends = sorted(k for k in layers if layers[k].kind in ("stem", "head"))
    assert len(ends) >= 4  # several widths: one stem and one head to anchor, others to predict
    anchored = [next(k for k in ends if k.startswith("stem")), next(k for k in ends if k.startswith("head"))]

    def target_table(with_ends: bool) -> LatencyTable:
        target = LatencyTable({"device": "tgt"}, {}, None)
        for key in [k for k in sorted(layers) if layers[k].kind == "ir"][::4]:
            target.entries[key] = Entry(ms[key], 0.0, 0, "imported")
        for key in anchored if with_ends else []:
            target.entries[key] = Entry(1.5 * ms[key], 0.0, 0, "imported")
        return target

    target = target_table(True)
    report = transfer(source, target, layers, cache_mb=1.0)
    assert report["ends_factor"]["factor"] == pytest.approx(1.5) and report["ends_factor"]["anchors"] == sorted(anchored)
    for key in ends:
        expected = 1.5 * ms[key]
        assert target.entries[key].ms == pytest.approx(expected, rel=1e-6), key
        assert (target.entries[key].origin == "predicted") == (key not in anchored)
    blocks = [k for k, e in target.entries.items() if e.origin == "predicted" and layers[k].kind == "ir"]
    np.testing.assert_allclose([target.entries[k].ms for k in blocks], [ms[k] for k in blocks], rtol=1e-6)
    plain = target_table(False)
    assert transfer(source, plain, layers, cache_mb=1.0)["ends_factor"] == {"factor": 1.0, "anchors": []}
    np.testing.assert_allclose([plain.entries[k].ms for k in ends], [ms[k] for k in ends], rtol=1e-6)


def test_cost_splits_depthwise_macs_and_counts_outputs() -> None:
    from nas.arch import Layer
    from nas.cost import layer_cost

    layer = Layer(kind="ir", cin=16, cout=24, kernel=3, stride=2, hw=32, mid=96)
    cost = layer_cost(layer)
    assert cost.depthwise_macs == 96 * 9 * 16 * 16
    assert cost.macs == 16 * 96 * 32 * 32 + cost.depthwise_macs + 96 * 24 * 16 * 16
    assert cost.outputs == 96 * 32 * 32 + 96 * 16 * 16 + 24 * 16 * 16


def _few_layers(n: int = 4) -> dict:
    layers = layers_for(["shufflenet_v2"], baselines=False)
    return {k: layers[k] for k in sorted(layers)[:n]}


@pytest.mark.e2e
def test_build_measures_then_resumes_without_remeasuring(tmp_path: Path) -> None:
    path = tmp_path / "host.json"
    runtime = Runtime("ort-cpu", 1)
    table = build_table("host", ["shufflenet_v2"], runtime, baselines=False, path=path, target_s=0.02,
                        show_progress=False, limit=3, passes=1)
    assert len(table.entries) == 3 and all(e.origin == "measured" and e.ms >= 0 and e.n > 0
                                           for e in table.entries.values())
    first = {k: e.ms for k, e in table.entries.items()}
    table = build_table("host", ["shufflenet_v2"], runtime, baselines=False, path=path, target_s=0.02,
                        show_progress=False, limit=2, passes=1)
    assert len(table.entries) == 5
    assert all(table.entries[k].ms == ms for k, ms in first.items())  # kept, not re-measured
    assert load_table(path).meta["reference_ms"] > 0
    with pytest.raises(TableError, match="threads=1"):
        build_table("host", ["shufflenet_v2"], Runtime("ort-cpu", 2), baselines=False, path=path, limit=1,
                    show_progress=False)


@pytest.mark.e2e
def test_two_sweep_build_keeps_every_measurement_and_resumes_between_sweeps(tmp_path: Path) -> None:
    path = tmp_path / "host.json"
    runtime = Runtime("ort-cpu", 1)
    table = build_table("host", ["shufflenet_v2"], runtime, baselines=False, path=path, target_s=0.02,
                        show_progress=False, limit=3, passes=2)
    for entry in table.entries.values():
        values = entry.extra["measurements"]
        assert len(values) in (2, 3) and entry.ms == pytest.approx(float(np.median(values)))
        if len(values) == 2:  # averaged only when the two sweeps agree
            assert abs(values[1] / values[0] - 1) <= 0.03
    key = sorted(table.entries)[0]
    table.entries[key].extra["measurements"] = table.entries[key].extra["measurements"][:1]  # killed between sweeps
    table.save()
    before = {k: e.ms for k, e in table.entries.items() if k != key}
    table = build_table("host", ["shufflenet_v2"], runtime, baselines=False, path=path, target_s=0.02,
                        show_progress=False, limit=0, passes=2)
    assert len(table.entries[key].extra["measurements"]) >= 2
    assert {k: e.ms for k, e in table.entries.items() if k != key} == before


@pytest.mark.e2e
def test_bundle_runner_works_without_torch_and_imports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = tmp_path / "bundle"
    write_bundle(_few_layers(), bundle, ["shufflenet_v2"], show_progress=False)
    blocker = tmp_path / "block"
    (blocker / "torch").mkdir(parents=True)
    (blocker / "torch" / "__init__.py").write_text("raise ImportError('torch is not available on this device')\n")
    env = {**os.environ, "PYTHONPATH": str(blocker)}
    check = subprocess.run([sys.executable, "-c", "import torch"], env=env, capture_output=True, text=True)
    assert check.returncode != 0 and "not available" in check.stderr
    results = tmp_path / "results.json"
    run = subprocess.run([sys.executable, str(bundle / "runner.py"), "--out", str(results), "--target-seconds", "0.02"],
                         env=env, capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    document = json.loads(results.read_text())
    assert set(document["results"]) == set(_few_layers())

    monkeypatch.setattr("nas.latency.bundle.table_path", lambda device: tmp_path / f"{device}.json")
    table = import_results(results, "board", bundle)
    assert set(table.entries) == set(_few_layers())
    assert all(e.extra["source"] == "bundle runner" for e in table.entries.values())
    again = import_results(results, "board", bundle)  # re-import keeps history
    assert all(len(e.extra["history"]) == 1 for e in again.entries.values())

    other = tmp_path / "other"
    write_bundle(_few_layers(2), other, ["shufflenet_v2"], show_progress=False)
    with pytest.raises(TableError, match="comes from bundle"):
        import_results(results, "board", other)


def test_device_measurements_replace_predicted_entries_of_a_published_table(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    layers = _few_layers(4)
    keys = sorted(layers)
    published = LatencyTable({"device": "board", "runtime": "tflite", "threads": "unknown", "batch": 1,
                              "overhead_ms": 0.0},
                             {keys[0]: Entry(2.0, origin="imported", extra={"source": "paper"}),
                              keys[1]: Entry(5.0, origin="predicted", extra={"heldout_mape_pct": 20.0})})
    monkeypatch.setattr("nas.latency.bundle.table_path", lambda device: tmp_path / f"{device}.json")
    published.save(tmp_path / "board.json")
    bundle = tmp_path / "bundle"
    manifest = json.loads(write_bundle(layers, bundle, ["shufflenet_v2"], show_progress=False).read_text())
    results = {"schema": "nas.bundle_results/1", "bundle_id": manifest["bundle_id"], "overhead_ms": 0.0,
               "reference_ms": 1.0, "runtime": "onnxruntime", "threads": 1, "created": "now",
               "results": {k: {"ms": 1.0 + i, "spread": 0.01, "n": 30} for i, k in enumerate(keys)}}
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    table = import_results(path, "board", bundle)
    assert table.entries[keys[0]].origin == "imported" and table.entries[keys[0]].ms == 2.0  # published value kept
    replaced = table.entries[keys[1]]
    assert replaced.origin == "measured" and replaced.ms == pytest.approx(2.0 * 2.0)  # scaled by 2.0 / 1.0
    assert replaced.extra["history"][0]["origin"] == "predicted"
    assert table.entries[keys[3]].origin == "measured"  # new keys are added too


class _TwoStateMachine:
    """Scripted chunk times of a VM that alternates between a fast and a slow state every few probe chunks.

    In the slow state the item slows more than the probe (2x vs 1.7x), as measured on this machine, so
    a plain median of ratios over both states is biased; ``slow_from`` keeps it slow from that probe chunk on.
    """

    def __init__(self, period: int = 5, slow_from: int | None = None) -> None:
        self.probe_chunks = 0
        self.period = period
        self.slow_from = slow_from

    def fast(self) -> bool:
        if self.slow_from is not None and self.probe_chunks >= self.slow_from:
            return False
        return (self.probe_chunks // self.period) % 2 == 0

    def probe(self) -> None: ...

    def item(self) -> None: ...

    def chunk(self, run: object, count: int) -> float:
        if run == self.probe:  # bound methods compare equal, never identical
            self.probe_chunks += 1
            return 1.0e-4 if self.fast() else 1.7e-4
        return 3.0e-4 if self.fast() else 6.0e-4


def test_steady_state_timing_uses_only_fast_state_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    from nas.latency import ortbench

    machine = _TwoStateMachine()
    monkeypatch.setattr(ortbench, "_chunk", machine.chunk)
    reference = ortbench.Reference(machine.probe, nominal_ms=2.0, settle_s=0.01)
    assert reference.level_ms == pytest.approx(0.1)  # the fast state's probe chunk, in ms
    timing = ortbench.time_relative(machine.item, reference, target_s=0.01, chunks=8)
    assert timing.steady == 8 and not timing.starved
    assert timing.ms == pytest.approx(3.0 / 1.0 * 2.0)  # fast-state ratio x nominal; mixing states would give more


def test_a_timing_that_never_sees_the_steady_state_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    from nas.latency import ortbench
    from nas.latency.build import _entry, unsteady

    machine = _TwoStateMachine(slow_from=3)
    monkeypatch.setattr(ortbench, "_chunk", machine.chunk)
    monkeypatch.setattr(ortbench, "_deadline", lambda target_s: 0.0)  # give up at once
    reference = ortbench.Reference(machine.probe, nominal_ms=1.0, settle_s=0.0)
    timing = ortbench.time_relative(machine.item, reference, target_s=0.01, chunks=8)
    assert timing.starved and timing.chunks == 8
    assert unsteady(_entry(timing, overhead_ms=0.0))  # so a build measures it again


def test_absolute_timing_keeps_the_fast_state(monkeypatch: pytest.MonkeyPatch) -> None:
    from nas.latency import ortbench

    machine = _TwoStateMachine(period=3)
    monkeypatch.setattr(ortbench, "_chunk", lambda run, count: machine.chunk(machine.probe, count))
    timing = ortbench.time_callable(lambda: None, target_s=0.01, chunks=8)
    assert timing.ms == pytest.approx(0.1) and timing.steady >= 8


@pytest.mark.e2e
def test_calibrate_fits_stored_measurements_and_judges_held_out_ones(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`nas latency calibrate`: no timing; fits on one set of CSVs, re-predicts another, writes only on request."""
    from nas.cli import main

    space = load_space("mbv2")
    rng = np.random.default_rng(3)
    table = LatencyTable({"device": "c", "runtime": "onnxruntime", "threads": 1, "batch": 1, "overhead_ms": 0.02},
                         {k: Entry(float(rng.uniform(0.01, 0.2))) for k in space.layers()})
    path = table.save(tmp_path / "c.json")

    def measured(arch):  # noqa: ANN001, ANN202
        return 0.3 + sum((1.25 if k.startswith("ir|") else 1.0) * table.entries[k].ms for k in arch.keys())

    def csv_of(name: str, seed: int) -> Path:
        archs = space.sample_random(40, seed=seed)
        samples = [Sample(a, table.raw_sum(a), table.predict(a), measured(a), 0.0) for a in archs]
        return write_report(table, name, samples, {}, directory=tmp_path)["csv"]

    fit_csv, judge_csv = csv_of("fit", 1), csv_of("judge", 2)
    before = path.read_text()
    argv = ["latency", "calibrate", "--device", str(path), "--fit-from", str(fit_csv), "--judge", str(judge_csv)]
    assert main([*argv, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "ir x1.250" in out and "not written" in out and "mbv2" in out.split("spaces ")[1]
    judged = next(line for line in out.splitlines() if line.startswith(str(judge_csv))).split()
    assert judged[1:4] == ["40", "100.0", "100.0"]  # n, within 5 %, within 10 %
    assert path.read_text() == before
    assert main(argv) == 0
    calibration = load_table(path).meta["calibration"]
    assert calibration["scale_by_kind"]["ir"] == pytest.approx(1.25, rel=1e-4) and calibration["fitted_on"] == 40
    assert "mbv2" in calibration["spaces"] and "shufflenet_v2" not in calibration["spaces"]
    assert str(fit_csv) in calibration["seed"]
    # judging on the fit's own archs is refused, and the table is left as it was
    written = path.read_text()
    capsys.readouterr()
    assert main(["latency", "calibrate", "--device", str(path), "--fit-from", str(fit_csv), "--judge", str(fit_csv)]) == 2
    assert "also in --fit-from" in capsys.readouterr().err
    assert path.read_text() == written


@pytest.mark.parametrize("break_it,fragment", [
    (lambda r, k: r["results"][k].update(ms=float("nan")), "finite number"),
    (lambda r, k: r["results"][k].update(ms=float("inf")), "finite number"),
    (lambda r, k: r["results"][k].update(ms=-5.0), "must be > 0"),
    (lambda r, k: r["results"][k].update(ms=1e300), "at most"),
    (lambda r, k: r["results"][k].update(ms="fast"), "finite number"),
    (lambda r, k: r["results"][k].pop("n"), "n must be a positive integer"),
    (lambda r, k: r.update(results={}), "holds no measurements"),
    (lambda r, k: r.update(reference_ms=0), "reference_ms must be > 0"),
    (lambda r, k: r.update(host={"processor": "x", "calibration": {"scale": 1000}}), "host must hold only"),
    (lambda r, k: r.pop("overhead_ms"), "lacks 'overhead_ms'"),
])
def test_a_bad_results_file_changes_no_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, break_it: Any,
                                             fragment: str) -> None:
    layers = _few_layers(3)
    bundle = tmp_path / "bundle"
    manifest = json.loads(write_bundle(layers, bundle, ["shufflenet_v2"], show_progress=False).read_text())
    results = {"schema": "nas.bundle_results/1", "bundle_id": manifest["bundle_id"], "overhead_ms": 0.0,
               "reference_ms": 1.0, "runtime": "onnxruntime", "threads": 1, "created": "now",
               "host": {"processor": "board cpu"},
               "results": {k: {"ms": 1.0, "spread": 0.01, "n": 30} for k in sorted(layers)}}
    break_it(results, sorted(layers)[0])
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    monkeypatch.setattr("nas.latency.bundle.table_path", lambda device: tmp_path / f"{device}.json")
    with pytest.raises(TableError, match=fragment):
        import_results(path, "board", bundle)
    assert not (tmp_path / "board.json").exists()


@pytest.mark.parametrize("factor", ["x", -5, float("nan")])
def test_a_tables_per_kind_calibration_is_checked_on_load(tmp_path: Path, factor: object) -> None:
    document = _table().to_json()
    document["meta"]["calibration"] = {"scale": 1.0, "offset_ms": 0.0, "scale_by_kind": {"ir": factor}}
    path = tmp_path / "t.json"
    path.write_text(json.dumps(document))
    with pytest.raises(TableError, match="scale_by_kind must map"):
        load_table(path)


@pytest.mark.e2e
def test_the_runner_refuses_a_tampered_reference_model(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    write_bundle(_few_layers(1), bundle, ["shufflenet_v2"], show_progress=False)
    reference = bundle / json.loads((bundle / "manifest.json").read_text())["reference"]["file"]
    reference.write_bytes(reference.read_bytes() + b"\0")
    run = subprocess.run([sys.executable, str(bundle / "runner.py"), "--out", str(tmp_path / "r.json"),
                          "--target-seconds", "0.02"], capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode != 0 and "does not match the manifest" in run.stderr and not (tmp_path / "r.json").exists()


@pytest.mark.e2e
def test_an_interrupted_runner_resumes_from_what_it_measured(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    layers = _few_layers(3)
    manifest = json.loads(write_bundle(layers, bundle, ["shufflenet_v2"], show_progress=False).read_text())
    out = tmp_path / "results.json"
    done = sorted(layers)[0]
    kept = {"ms": 123.0, "spread": 0.01, "n": 7}
    (tmp_path / "results.json.partial").write_text(json.dumps({"bundle_id": manifest["bundle_id"],
                                                               "results": {done: kept}}))
    run = subprocess.run([sys.executable, str(bundle / "runner.py"), "--out", str(out), "--target-seconds", "0.02"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0 and "resuming, 1 of 3" in run.stderr
    results = json.loads(out.read_text())["results"]
    assert set(results) == set(layers) and results[done]["ms"] == 123.0  # not measured again
    assert not (tmp_path / "results.json.partial").exists()
    (tmp_path / "results.json.partial").write_text(json.dumps({"bundle_id": "another", "results": {done: kept}}))
    run = subprocess.run([sys.executable, str(bundle / "runner.py"), "--out", str(out), "--target-seconds", "0.02"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0 and json.loads(out.read_text())["results"][done]["ms"] != 123.0


def test_a_calibration_that_predicts_zero_or_less_is_refused() -> None:
    table = _table()
    table.meta["calibration"] = {"scale": 1.0, "offset_ms": -5.0}  # larger than the whole 1.05 ms network
    with pytest.raises(TableError, match="calibration offset"):
        table.predict(ARCH)
    with pytest.raises(TableError, match="calibration offset"):
        table.compile().predict_many([ARCH])


@pytest.mark.e2e
def test_whole_networks_in_a_bundle_calibrate_the_imported_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nas.accuracy.nas_bench_macro import code_to_arch

    networks = [code_to_arch(c) for c in ("00000000", "11111111", "22222222", "12000100")]
    layers = {layer.key: layer for arch in networks for layer in arch.layers()}
    bundle = tmp_path / "bundle"
    manifest = json.loads(write_bundle(layers, bundle, ["nas_bench_macro"], show_progress=False,
                                       networks=networks).read_text())
    assert len(manifest["networks"]) == 4
    out = tmp_path / "results.json"
    run = subprocess.run([sys.executable, str(bundle / "runner.py"), "--out", str(out), "--target-seconds", "0.02"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    timed = json.loads(out.read_text())["networks"]
    assert set(timed) == {str(a) for a in networks}
    monkeypatch.setattr("nas.latency.bundle.table_path", lambda device: tmp_path / f"{device}.json")
    table = import_results(out, "board", bundle)
    assert table.meta["calibration"]["fitted_on"] == 4
    for arch in networks:  # measured whole: predicted exactly
        assert table.predict(arch) == pytest.approx(timed[str(arch)]["ms"])
    assert load_table(tmp_path / "board.json").meta["measured_networks"] == table.meta["measured_networks"]


def test_the_runner_combines_two_sweeps_and_settles_a_disagreement_with_a_third() -> None:
    from nas.latency.ortbench import two_sweeps

    def timing(ms: float, steady: int = 5) -> dict:
        return {"ms": ms, "spread": 0.01, "n": 10, "steady": steady, "chunks": 8}

    agreeing = iter([timing(1.01)])
    combined = two_sweeps(timing(1.0), lambda factor: next(agreeing))
    assert combined["measurements"] == [1.0, 1.01] and combined["ms"] == pytest.approx(1.005) and combined["n"] == 20
    asked = []
    later = iter([timing(1.3), timing(1.02)])

    def again(factor: float) -> dict:
        asked.append(factor)
        return next(later)

    combined = two_sweeps(timing(1.0), again)
    assert asked == [1.0, 2.0] and combined["measurements"] == [1.0, 1.3, 1.02] and combined["ms"] == 1.02
    unsteady = iter([timing(1.0, steady=1), timing(1.0)])
    assert len(two_sweeps(timing(1.0), lambda factor: next(unsteady))["measurements"]) == 3


@pytest.mark.e2e
def test_the_runner_measures_in_two_sweeps_and_resumes_in_the_second(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = tmp_path / "bundle"
    layers = _few_layers(3)
    manifest = json.loads(write_bundle(layers, bundle, ["shufflenet_v2"], show_progress=False).read_text())
    keys = sorted(layers)
    partial = {keys[0]: {"ms": 0.5, "spread": 0.01, "n": 7, "steady": 5, "chunks": 8, "measurements": [0.5, 0.5]},
               keys[1]: {"ms": 0.4, "spread": 0.01, "n": 7, "steady": 5, "chunks": 8, "measurements": [0.4]},
               keys[2]: {"ms": 0.3, "spread": 0.01, "n": 7, "steady": 5, "chunks": 8, "measurements": [0.3]}}
    (tmp_path / "results.json.partial").write_text(json.dumps({"bundle_id": manifest["bundle_id"], "results": partial}))
    out = tmp_path / "results.json"
    run = subprocess.run([sys.executable, str(bundle / "runner.py"), "--out", str(out), "--target-seconds", "0.02"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "sweep 2 of 2" in run.stderr
    results = json.loads(out.read_text())["results"]
    assert results[keys[0]] == partial[keys[0]], "a key both sweeps measured is not timed again"
    assert all(len(results[k]["measurements"]) >= 2 and results[k]["measurements"][0] == partial[k]["ms"]
               for k in keys[1:])
    monkeypatch.setattr("nas.latency.bundle.table_path", lambda device: tmp_path / f"{device}.json")
    table = import_results(out, "board", bundle)
    assert all(len(e.extra["measurements"]) >= 2 for e in table.entries.values())
    document = json.loads(out.read_text())
    document["results"][keys[0]]["measurements"] = [0.5, float("nan")]
    out.write_text(json.dumps(document))
    with pytest.raises(TableError, match="measurements"):
        import_results(out, "board", bundle)


def test_no_prediction_falls_below_the_floor_and_a_fit_that_would_is_refused() -> None:
    from nas.latency.table import PREDICTION_FLOOR
    from nas.latency.validate import Sample, apply_calibration

    table = _table()
    raw = table.raw_sum(ARCH)
    table.meta["calibration"] = {"scale": 0.2, "offset_ms": 0.0}  # 0.2 x the sum: faster than physics allows
    assert table.predict(ARCH) == pytest.approx(PREDICTION_FLOOR * raw)
    assert table.compile().predict_many([ARCH])[0] == pytest.approx(PREDICTION_FLOOR * raw)
    assert table.below_floor([ARCH]) is not None
    fitted = _table()
    sample = Sample(ARCH, raw, raw, raw, 0.0)
    with pytest.raises(TableError, match="below 0.5 x its layers' sum"):
        apply_calibration(fitted, {"scale": 0.2, "offset_ms": 0.0}, [sample], ["x"], 0, save=False)
    assert "calibration" not in fitted.meta, "a refused fit leaves the table as it was"
    apply_calibration(fitted, {"scale": 0.9, "offset_ms": 0.0}, [sample], ["x"], 0, save=False)
    assert fitted.predict(ARCH) == pytest.approx(0.9 * raw)


def test_the_shipped_cpu_table_measures_every_layer_of_every_shipped_space() -> None:
    """A search on any shipped space and cpu_x86 needs no missing-key fallback (fused_mbv2's fused-MBConv keys
    included: a new block's keys are measured, not predicted)."""
    from nas.space import available_spaces

    table = load_table("cpu_x86")
    missing = {name: [k for k in load_space(name).layers() if k not in table.entries] for name in available_spaces()}
    assert not any(missing.values()), {name: keys[:3] for name, keys in missing.items() if keys}
    fused = [e for k, e in table.entries.items() if k.startswith("fused|")]
    assert fused and all(e.origin == "measured" for e in fused)
