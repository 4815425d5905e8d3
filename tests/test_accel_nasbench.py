"""Accel-NASBench's 4,138 published networks, written as archs of this tool: the same networks, counted alike."""

from __future__ import annotations

import pytest

from nas.accuracy.accel_nasbench import AccelNasBench, BenchmarkError, load_rows, published_macs, stage_choices_to_arch
from nas.cost import arch_cost


@pytest.fixture(scope="module")
def rows() -> list:
    return load_rows()


def test_every_published_network_has_the_published_params_and_operations(rows: list) -> None:
    assert len(rows) == 4138
    worst_params = worst_macs = 0.0
    for row in rows:
        arch = stage_choices_to_arch(row.stages)
        worst_params = max(worst_params, abs(arch_cost(arch).params / 1e6 / row.values["params_m"] - 1))
        worst_macs = max(worst_macs, abs(published_macs(arch) / 1e6 / row.values["macs_m"] - 1))
    assert worst_params < 1e-6 and worst_macs < 0.01, (worst_params, worst_macs)


def test_the_arch_builds_to_a_network_with_those_params(rows: list) -> None:
    from nas.model import build

    arch = stage_choices_to_arch(rows[0].stages)
    assert sum(p.numel() for p in build(arch).parameters()) == arch_cost(arch).params == 2_501_160


@pytest.mark.parametrize("stages,fragment", [
    (((6, 3, 1, 0),) * 6, "7 stages"),
    (((6, 3, 1, 0),) * 6 + ((2, 3, 1, 0),), "outside Accel-NASBench's space"),
    (((6, 3, 4, 0),) + ((6, 3, 1, 0),) * 6, "stage 0"),
])
def test_a_network_outside_the_space_is_one_line(stages: tuple, fragment: str) -> None:
    with pytest.raises(BenchmarkError, match=fragment):
        stage_choices_to_arch(stages)


def test_a_damaged_file_is_one_line(tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "a.csv"
    path.write_text("id,b0_e\n1,x\n")
    with pytest.raises(BenchmarkError, match="line 2 is malformed"):
        load_rows(path)


def test_the_space_holds_every_published_network_with_choices_tied_per_stage(rows: list) -> None:
    from nas.space import load_space

    space = load_space("accel_nasbench")
    assert space.size() == 36 ** 6 * 48  # 12 choices x 1-3 layers per stage (x 1-4 in stage 5)
    assert all(space.contains(stage_choices_to_arch(row.stages)) for row in rows)
    for arch in space.sample_random(20, seed=1):
        assert space.contains(arch)
        by_channels: dict[int, set] = {}
        for block in arch.blocks:
            by_channels.setdefault(block.channels, set()).add((block.type, block.se, block.kernel, block.expansion))
        assert all(len(choices) == 1 for choices in by_channels.values()), by_channels
    untied = stage_choices_to_arch(rows[0].stages)
    blocks = list(untied.blocks)
    blocks[2] = blocks[2].__class__(**{**blocks[2].__dict__, "kernel": 3 if blocks[2].kernel == 5 else 5})
    assert not space.contains(untied.__class__(untied.resolution, untied.width, untied.stem, tuple(blocks),
                                               untied.head, untied.num_classes, untied.divisor))


def test_the_tabular_source_looks_up_a_published_network_and_predicts_another(rows: list) -> None:
    from nas.space import load_space

    bench = AccelNasBench(rows)
    published = stage_choices_to_arch(rows[0].stages)
    assert bench.accuracy(published) == (rows[0].values["val_top1"] / 100, "looked up")
    unseen = next(a for a in load_space("accel_nasbench").sample_random(50, seed=7) if str(a) not in bench.published)
    value, kind = bench.accuracy(unseen)
    assert kind == "predicted" and 0.40 < value < 0.70  # the published range is 42.9-67.1 %
    from nas.arch import parse_arch

    untied = str(published).replace("mb_k5_e4_c24_s1", "mb_k3_e4_c24_s1")  # one layer of stage 1 changed
    assert untied != str(published)
    with pytest.raises(BenchmarkError, match="not an Accel-NASBench network"):
        bench.accuracy(parse_arch(untied))
    with pytest.raises(BenchmarkError, match="not an Accel-NASBench network"):
        bench.accuracy(parse_arch("r32_w1-stem_c16_k3_s1-ir_k3_e1_c16_s1-head_c64"))


@pytest.mark.e2e
def test_a_tabular_search_runs_the_default_algorithm_on_the_published_networks(tmp_path, capsys) -> None:  # noqa: ANN001
    """``--accuracy tabular`` screens as the default does (the space's snip, at its screen resolution), and
    ``--candidates table`` keeps every candidate among the published networks, so every accuracy is looked up."""
    import json

    from conftest import run_main

    result = run_main(capsys, "search", "--space", "accel_nasbench", "--device", "a100", "--budget", "0.14ms",
                      "--accuracy", "tabular", "--candidates", "table", "--trials", "4", "--data", "synthetic",
                      "--runs-dir", str(tmp_path), "--name", "a")
    assert result.returncode == 0, result.stderr
    pareto = json.loads((tmp_path / "a" / "pareto.json").read_text())
    assert pareto["front"] and {p["accuracy_kind"] for p in pareto["front"]} == {"looked up"}
    assert "Accel-NASBench" in pareto["accuracy_source"]
    assert [e["estimator"] for e in pareto["estimators"][:2]] == ["params", "snip"]  # the space's own (decision 0031)
    assert all(p["latency_ms"] <= 0.14 for p in pareto["front"])
    published = set(AccelNasBench().published)
    screened = [json.loads(line) for line in (tmp_path / "a" / "screening.jsonl").read_text().splitlines()]
    assert len(screened) == 16 and {r["estimator"] for r in screened} == {"snip"}
    assert {r["resolution"] for r in screened} == {64} and {r["arch"] for r in screened} <= published
    assert "not the default algorithm" not in result.stderr


def test_a_per_layer_table_fitted_on_whole_networks_recovers_their_costs(rows: list) -> None:
    import numpy as np

    from nas.latency.table import TableError
    from nas.latency.whole_networks import fit_layer_costs, layer_table, validate
    from nas.space import load_space

    archs = [stage_choices_to_arch(row.stages) for row in rows[:600]]
    keys = sorted({key for arch in archs for key in arch.keys()})
    truth = {key: 0.01 + (i % 7) * 0.003 for i, key in enumerate(keys)}
    ms = [sum(truth[k] for k in arch.keys()) + 0.05 for arch in archs]
    costs, overhead = fit_layer_costs(archs, ms)  # each stage's first layers add up to one per network, as the
    fitted = [sum(costs[k] for k in arch.keys()) + overhead for arch in archs]  # overhead does: only sums are pinned
    assert np.allclose(fitted, ms, rtol=1e-6) and min(costs.values()) >= 0 and overhead >= 0
    seen = {key for arch in archs[:500] for key in arch.keys()}
    layers = {k: v for k, v in load_space("accel_nasbench").layers().items() if k in seen}
    table = layer_table("board", archs[:500], ms[:500], layers, {"batch": 1})
    with pytest.raises(TableError, match="no fitted network has layer"):
        layer_table("board", archs[:500], ms[:500], load_space("accel_nasbench").layers(), {"batch": 1})
    archs, ms = [a for a in archs if set(a.keys()) <= seen], [m for a, m in zip(archs, ms) if set(a.keys()) <= seen]
    checked = validate(table, archs[500:], ms[500:])
    assert checked["mape_pct"] < 0.01 and checked["spearman"] > 0.999
    assert table.error_bar(archs[550]) == pytest.approx(table.predict(archs[550]) * 0, abs=1e-3)
    with pytest.raises(TableError, match="fewer than"):
        fit_layer_costs(archs[:3], ms[:3])
    assert np.isfinite(table.predict(archs[0]))


def test_the_shipped_accel_tables_say_their_held_out_error(capsys) -> None:  # noqa: ANN001
    from nas.cli import main
    from nas.latency.table import load_table

    for device in ("a100", "tpuv3", "zcu102", "zcu102_tput"):
        table = load_table(device)
        assert table.meta["validation"]["networks"] > 1500 and table.meta["fitted"]["networks"] >= 2000
    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    assert "a100" in out and "held out" in out


def test_naswot_scores_swish_networks_from_a_kernel_accumulated_layer_by_layer() -> None:
    import math

    import torch
    from torch import nn

    from nas.accuracy.zero_cost import naswot
    from nas.arch import parse_arch
    from nas.model import build

    arch = parse_arch("r32_w1-stem_c16_k3_s1_swish-mb_se_k3_e4_c24_s2_swish-mb_k5_e6_c24_s1_swish-head_c64_swish")
    images = torch.randn(16, 3, 32, 32)
    score = naswot(arch, images)
    torch.manual_seed(0)
    model, codes = build(arch).train(), []
    for module in model.modules():
        if isinstance(module, nn.SiLU):
            module.register_forward_hook(lambda m, i, o: codes.append((o.flatten(1) > 0).double()))
    with torch.no_grad():
        model(images)
    binary = torch.cat(codes, 1)  # the whole network's codes at once: the definition the accumulation must equal
    expected = float(torch.linalg.slogdet(binary @ binary.T + (1 - binary) @ (1 - binary).T)[1])
    assert math.isfinite(score) and score == pytest.approx(expected, rel=1e-12)
