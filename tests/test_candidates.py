"""Searching among known networks (``--candidates table``), the parameters that sample a given arch, and the
resolution a space screens at."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nas.accuracy.accel_nasbench import AccelNasBench
from nas.accuracy.nas_bench_macro import load_benchmark
from nas.latency.table import load_table
from nas.search.config import ConfigError, SearchConfig
from nas.search.initial import capacity_archs
from nas.search.screening import ScreeningJournal
from nas.space import iter_spaces, load_space, parse_space
from nas.space_model import ReplayChooser
from nas.space_params import trial_params


@pytest.mark.parametrize("space", list(iter_spaces()), ids=lambda s: s.name)
def test_the_parameters_found_for_an_arch_sample_that_arch(space) -> None:  # noqa: ANN001
    for arch, _ in space.sample_with_params(40, seed=11):
        params = trial_params(space, arch)
        assert params is not None and space.sample(ReplayChooser(params)) == arch


def test_every_published_network_has_parameters_and_a_foreign_arch_has_none() -> None:
    nbm, accel = load_space("nas_bench_macro"), load_space("accel_nasbench")
    assert all(trial_params(nbm, arch) is not None for arch in load_benchmark().archs()[::7])
    published = AccelNasBench().archs()
    assert len(published) == 4129  # 4,138 rows, 9 of them the same network twice
    assert all(trial_params(accel, arch) is not None for arch in published[::20])
    assert trial_params(accel, load_benchmark().archs()[0]) is None
    assert trial_params(nbm, published[0]) is None


def test_the_pool_is_drawn_from_the_universe_when_one_is_given() -> None:
    space = load_space("accel_nasbench")
    universe = AccelNasBench().archs()[:300]
    table = load_table("a100").compile()
    budget = float(np.percentile(table.predict_many(universe), 50))
    chosen = capacity_archs(space, table, budget, 12, seed=3, pool=2048, universe=universe)
    inside = {str(a) for a in universe}
    assert len(chosen) == 12 and all(str(arch) in inside for arch, _ in chosen)
    assert all(space.sample(ReplayChooser(params)) == arch for arch, params in chosen)
    assert all(table.predict_many([arch])[0] <= budget for arch, _ in chosen)
    free = capacity_archs(space, table, budget, 12, seed=3, pool=2048)
    assert not {str(a) for a, _ in free} <= inside  # without a universe: random networks of 1e11


def test_candidates_table_needs_a_table_and_the_pre_screen() -> None:
    SearchConfig(space="accel_nasbench", device="a100", budget="0.1ms", accuracy="tabular",
                 candidates="table").validate()
    with pytest.raises(ConfigError, match="unknown candidates"):
        SearchConfig(candidates="mine").validate()
    with pytest.raises(ConfigError, match="space 'ghost_mbv2' has none"):
        SearchConfig(candidates="table").validate()
    with pytest.raises(ConfigError, match="has no pre-screen"):
        SearchConfig(space="nas_bench_macro", device="cpu_x86", budget="2ms", accuracy="tabular", candidates="table",
                     screen="none").validate()
    with pytest.raises(ConfigError, match="has no pre-screen"):
        SearchConfig(space="nas_bench_macro", device="cpu_x86", budget="2ms", candidates="table",
                     prescreen_pool=0).validate()


def test_the_tabular_source_runs_the_default_screen_and_an_older_tabular_run_resumes_unscreened(tmp_path: Path) -> None:
    assert SearchConfig(space="nas_bench_macro", accuracy="tabular").screener == "naswot"
    assert SearchConfig(space="accel_nasbench", accuracy="tabular").screener == "snip"
    old = tmp_path / "config.yaml"
    old.write_text("space: nas_bench_macro\ndevice: cpu_x86\nbudget: 2ms\naccuracy: tabular\nscreen: auto\n"
                   "prescreen_pool: 2048\n")
    assert SearchConfig.load(old).screener == "none"
    old.write_text("space: nas_bench_macro\ndevice: cpu_x86\nbudget: 2ms\naccuracy: tabular\nscreen: snip\n")
    assert SearchConfig.load(old).screener == "snip"


def test_a_screen_scores_at_the_space_screen_resolution(tmp_path: Path) -> None:
    space = load_space("accel_nasbench")
    arch = AccelNasBench().archs()[0]
    journal = ScreeningJournal("params", tmp_path / "s.jsonl", lambda: None, 0, space.screen_resolution)
    assert space.screen_resolution == 64 and journal.scored(arch).resolution == 64
    assert journal.scored(arch).blocks == arch.blocks
    journal.score([arch])
    assert '"resolution": 64' in (tmp_path / "s.jsonl").read_text()
    small = load_space("nas_bench_macro").sample_random(1)[0]
    assert journal.scored(small) is small  # 32 px is under the cap: scored as it is
    assert ScreeningJournal("params", tmp_path / "t.jsonl", lambda: None, 0).scored(arch) is arch


@pytest.mark.parametrize("value", [-1, 2000, "64", True])
def test_a_bad_screen_resolution_is_refused(value: object) -> None:
    import yaml

    document = yaml.safe_load(Path(load_space("accel_nasbench").path).read_text())
    assert parse_space(document).screen_resolution == 64
    document["screen_resolution"] = value
    with pytest.raises(Exception, match="screen_resolution"):
        parse_space(document)


def test_the_pre_screen_signal_is_the_space_s_own_unless_named() -> None:
    from nas.search.screening import stage_estimators

    assert SearchConfig(space="accel_nasbench").prescreen_signal == "params"
    assert SearchConfig(space="ghost_mbv2").prescreen_signal == "macs"
    assert SearchConfig(space="accel_nasbench", prescreen="macs").prescreen_signal == "macs"
    first = stage_estimators(SearchConfig(space="accel_nasbench", device="a100", budget="0.1ms"))[0]
    assert first["estimator"] == "params" and "the most params for their latency" in first["what"]
    with pytest.raises(ConfigError, match="unknown pre-screen signal"):
        SearchConfig(prescreen="latency").validate()
    assert load_space("accel_nasbench").prescreen == "params" and load_space("ghost_mbv2").prescreen == ""


@pytest.mark.parametrize("value", ["latency", 3, None])
def test_a_bad_prescreen_in_a_space_is_refused(value: object) -> None:
    import yaml

    document = yaml.safe_load(Path(load_space("accel_nasbench").path).read_text())
    document["prescreen"] = value
    with pytest.raises(Exception, match="prescreen"):
        parse_space(document)
