"""The run folder owns the layout; its readers give one error line for a missing or broken file."""

from __future__ import annotations

from pathlib import Path

import pytest

from nas.arch import parse_arch
from nas.errors import NasError
from nas.search.journal import Evaluation
from nas.search.run_folder import RunFolder

ARCH = parse_arch("r32_w1-stem_c16_k3_s1-ir_k3_e6_c24_s2-head_c64")


def test_layout_and_the_finished_check(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path / "run")
    assert folder.name == "run" and folder.journal_path.name == "evaluations.jsonl"
    assert folder.weights_path(ARCH, 2, 1) == tmp_path / "run" / "weights" / f"{ARCH.id}_r2_s1.pt"
    with pytest.raises(NasError, match="is not a finished search run.*finish it"):
        folder.require_finished("finish it")
    folder.path.mkdir()
    folder.config_path.write_text("name: run\n")
    with pytest.raises(NasError, match="needs config.yaml and pareto.json"):
        folder.require_finished()
    folder.write_pareto({"front": []})
    folder.require_finished()
    assert folder.pareto() == {"front": []}
    with pytest.raises(NasError, match="lacks baseline"):
        folder.pareto(("front", "baseline"))


def test_trials_and_journal_round_trip(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path)
    with pytest.raises(NasError, match="trials.csv is unreadable.*--resume"):
        folder.trials()
    folder.write_trials("id,arch\nabc,x\n")
    assert folder.trials() == [{"id": "abc", "arch": "x"}]
    journal = folder.journal()
    journal.record(Evaluation(str(ARCH), 0, 0, 0.5, "e1", 1.0))
    journal.record(Evaluation(str(ARCH), 0, 0, 0.9, "e1", 1.0))  # a key already recorded is kept as it was
    again = folder.journal()
    assert len(again) == 1 and again.get((str(ARCH), 0, 0)).accuracy == 0.5
    folder.journal_path.write_text('{"arch": "x", "rung": -1, "seed": 0, "accuracy": 0.5, "fidelity": "f", '
                                   '"seconds": 1}\n')
    with pytest.raises(NasError, match="line 1 is malformed"):
        folder.journal()


def test_every_search_driver_has_the_interface() -> None:
    """Backends are a table (nas.search.drivers); each driver module offers check() and sample()."""
    import inspect

    from nas.search.config import BACKENDS, ConfigError, SearchConfig
    from nas.search.drivers import DRIVERS, search_driver

    assert BACKENDS == tuple(DRIVERS) == ("optuna", "ray")
    for backend in DRIVERS:
        driver = search_driver(backend)
        assert list(inspect.signature(driver.check).parameters) == ["config"]
        assert list(inspect.signature(driver.sample).parameters) == ["config", "context", "show_progress"]
    with pytest.raises(ConfigError, match="unknown backend 'dask'; allowed: optuna, ray"):
        SearchConfig(backend="dask").validate()
