"""Accel-NASBench's 4,138 published networks, written as archs of this tool: the same networks, counted alike."""

from __future__ import annotations

import pytest

from nas.accuracy.accel_nasbench import BenchmarkError, load_rows, published_macs, stage_choices_to_arch
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
