"""NAS-Bench-Macro: every code is a network of the nas_bench_macro space with the benchmark's params and MACs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from nas.accuracy.nas_bench_macro import BenchmarkError, arch_to_codes, code_to_arch, load_benchmark
from nas.cost import arch_cost
from nas.model import build
from nas.space import load_space


@pytest.fixture(scope="module")
def bench():  # noqa: ANN201 (NasBenchMacro)
    return load_benchmark()


def test_every_code_has_the_benchmarks_params_and_macs_and_maps_back(bench) -> None:  # noqa: ANN001
    space = load_space("nas_bench_macro")
    distinct = set()
    for code, record in bench.records.items():
        arch = code_to_arch(code)
        cost = arch_cost(arch)
        assert (cost.params, cost.macs) == (record.params, record.macs), code
        assert code in arch_to_codes(arch) and space.contains(arch), code
        distinct.add(str(arch))
    assert len(bench.records) == 6561 and len(distinct) == space.size() == 3969


def test_identities_inside_a_stage_are_one_network_and_the_canonical_code_comes_first() -> None:
    arch = code_to_arch("10120210")  # stages 10 | 120 | 210: the 2 and the 1 may sit before or after an identity
    codes = arch_to_codes(arch)
    assert codes[0] == "10120210" and sorted(codes) == ["10102201", "10102210", "10120201", "10120210"]
    assert len({str(code_to_arch(c)) for c in codes}) == 1
    assert len(arch_to_codes(code_to_arch("20000000"))) == 1  # identities already last


def test_the_strided_identity_is_a_linear_1x1_conv_and_the_torch_model_has_the_published_params(bench) -> None:  # noqa: ANN001
    linear, full = code_to_arch("00000000"), code_to_arch("22222222")
    assert [b.token() for b in linear.blocks] == [f"conv_k1_e1_c{c}_s2_linear" for c in (64, 128, 256)]
    model = build(linear)
    relus = sum(isinstance(m, torch.nn.ReLU) for m in model.modules())
    assert relus == 2  # the stem's and the head's: the three 1x1 convs carry none
    for code, arch in (("00000000", linear), ("22222222", full)):
        assert sum(p.numel() for p in build(arch).parameters()) == bench.records[code].params


def test_accuracy_is_the_mean_over_equivalent_codes(bench) -> None:  # noqa: ANN001
    arch = code_to_arch("10120210")
    codes = arch_to_codes(arch)
    expected = sum(bench.records[c].mean for c in codes) / len(codes)
    assert bench.accuracy(arch) == pytest.approx(expected) and 0.4 < expected < 0.95
    assert len(bench.seeds(arch)) == 3 * len(codes)


def test_an_arch_outside_the_benchmark_is_one_error(bench) -> None:  # noqa: ANN001
    other = load_space("mbv2").sample_random(1, seed=0)[0]
    assert arch_to_codes(other) == []
    with pytest.raises(BenchmarkError, match="not a NAS-Bench-Macro network"):
        bench.accuracy(other)
    with pytest.raises(BenchmarkError):
        code_to_arch("0123")


def test_a_missing_or_corrupt_benchmark_file_is_one_error(tmp_path: Path) -> None:
    with pytest.raises(BenchmarkError, match="does not exist"):
        load_benchmark(tmp_path / "none.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{\"0000")
    with pytest.raises(BenchmarkError, match="not a readable"):
        load_benchmark(broken)
    broken.write_text(json.dumps({"00000000": {"test_acc": [1, 2, 3]}}))
    with pytest.raises(BenchmarkError, match="expected a mapping of 6561"):
        load_benchmark(broken)


@pytest.mark.e2e
def test_a_tabular_search_looks_accuracies_up_and_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The tabular source on a table whose entries are proportional to MACs: no training, no data, seconds."""
    from nas.cost import layer_cost
    from nas.latency.table import Entry, LatencyTable
    from nas.search.config import SearchConfig
    from nas.search.run import run_search

    space = load_space("nas_bench_macro")
    table = LatencyTable({"device": "macs_device", "runtime": "none", "threads": 1, "batch": 1, "overhead_ms": 0.0},
                         {key: Entry(layer_cost(layer).macs / 1e7, origin="measured")
                          for key, layer in space.layers().items()})
    monkeypatch.setattr("nas.latency.table_home.TABLES_DIR", tmp_path / "tables")
    table.save(tmp_path / "tables" / "macs_device.json")
    bench = load_benchmark()
    config = SearchConfig(space="nas_bench_macro", device="macs_device", budget="5ms", trials=8, accuracy="tabular",
                          screen="none", workers=1, runs_dir=str(tmp_path / "runs"), name="tab", data="/nonexistent")
    result = run_search(config, show_progress=False)
    assert result.best is not None and result.baseline is None and result.training_seconds < 5
    assert result.accuracy_source.startswith("tabular: NAS-Bench-Macro")
    for candidate in result.candidates:
        for rung, by_seed in candidate.samples.items():
            for seed, accuracy in by_seed.items():
                seeds = bench.seeds(candidate.arch)
                assert accuracy == seeds[seed % len(seeds)], (rung, seed)
    summary = json.loads((tmp_path / "runs" / "tab" / "pareto.json").read_text())
    assert summary["accuracy_source"].startswith("tabular") and summary["front"]
