"""Extension points are registries: a new estimator is one file plus one registry line, and everything that lists
estimators (the search's choices and help, its config validation, whether it loads CIFAR-10, the README) follows."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import run_main

from nas.accuracy import registry
from nas.accuracy.registry import EstimatorEntry

README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.fixture
def depth_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """The one registry line, as a user adds it (the file is tests/plugins/dummy_estimator.py)."""
    sys.path.insert(0, str(Path(__file__).parent))
    entry = EstimatorEntry("depth", "free", False, True, "blocks, counted", "plugins.dummy_estimator:make")
    monkeypatch.setitem(registry.ESTIMATORS, "depth", entry)
    yield
    sys.path.remove(str(Path(__file__).parent))


def test_a_new_estimator_screens_a_search_from_one_file_and_one_line(depth_registered: None, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str],
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from nas.accuracy import make_estimator
    assert make_estimator("depth").name == "depth"
    monkeypatch.setenv("NAS_DATA", str(tmp_path / "no-cifar-here"))  # any attempt to load images would fail
    result = run_main(capsys, "search", "--space", "nas_bench_macro", "--device", "cpu_x86", "--budget", "1ms",
                      "--accuracy", "tabular", "--screen", "depth", "--runs-dir", str(tmp_path), "--name", "d")
    assert result.returncode == 0, result.stderr  # so a free estimator's screen loaded no images
    assert '"estimator": "depth"' in (tmp_path / "d" / "screening.jsonl").read_text()


def test_the_help_lists_the_registry(depth_registered: None) -> None:
    from nas.cli import build_parser

    text = build_parser()._subparsers._group_actions[0].choices["search"].format_help()
    assert "depth (free)" in " ".join(text.split()) and "naswot (zero-cost)" in " ".join(text.split())


def test_the_readme_table_is_the_registrys() -> None:
    assert registry.markdown_table() in README.read_text()


def test_entries_are_consistent() -> None:
    for entry in registry.ESTIMATORS.values():
        module, function = entry.factory.split(":")
        assert module.startswith("nas.accuracy.") and function == "make"
        assert entry.cost != "training" or not entry.can_screen, "a screen costs seconds, not a training"
        assert entry.needs_data or entry.cost in ("free", "tabular")


def test_the_accuracy_package_imports_without_torch() -> None:
    import subprocess

    code = ("import sys\nsys.modules['torch'] = None\nimport nas.accuracy, nas.accuracy.counts\n"
            "from nas.accuracy import make_estimator\nfrom nas.arch import parse_arch\n"
            "print(make_estimator('macs').score(parse_arch('r32_w1-stem_c16_k3_s1-ir_k3_e1_c16_s1-head_c64')).value)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_a_new_sampler_runs_a_search_from_one_file_and_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import optuna

    from nas.search import samplers

    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    monkeypatch.setitem(samplers.SAMPLERS, "qmc", samplers.SamplerEntry(
        "qmc", "quasi-Monte Carlo", "plugins.dummy_sampler:qmc", lambda config: 0))
    result = run_main(capsys, "search", "--space", "nas_bench_macro", "--device", "cpu_x86", "--budget", "1ms",
                      "--accuracy", "tabular", "--screen", "none", "--sampler", "qmc", "--runs-dir", str(tmp_path),
                      "--name", "q")
    assert result.returncode == 0, result.stderr
    from plugins import dummy_sampler

    assert dummy_sampler.MADE == [0]  # the search made its sampler from the registered factory, with the run's seed
    study = optuna.load_study(study_name="q.sampler", storage=f"sqlite:///{tmp_path / 'q' / 'study.db'}")
    assert len(study.trials) >= 16
    from nas.cli import build_parser

    text = " ".join(build_parser()._subparsers._group_actions[0].choices["search"].format_help().split())
    assert "qmc: quasi-Monte Carlo" in text and "nsga2: NSGA-II" in text
    assert run_main(capsys, "search", "--sampler", "grid").returncode == 2


def test_a_new_backend_is_one_registry_line_and_its_capabilities_set_the_policy(tmp_path: Path,
                                                                                 capsys: pytest.CaptureFixture[str],
                                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from nas.search import drivers
    from nas.search.config import SearchConfig

    entry = drivers.Backend("plain", "nas.search.optuna_driver", "Optuna without a screen", can_screen=False,
                            tabular=True, storage=False, distributed=False, why_not="it trains every candidate")
    monkeypatch.setitem(drivers.DRIVERS, "plain", entry)
    assert SearchConfig(backend="plain").screener == "none" and SearchConfig(backend="optuna").screener == "naswot"
    refused = run_main(capsys, "search", "--backend", "plain", "--screen", "naswot", "--runs-dir", str(tmp_path))
    assert refused.returncode == 2 and "--backend plain does not screen" in refused.stderr
    refused = run_main(capsys, "search", "--backend", "plain", "--storage", "sqlite:///x.db", "--runs-dir", str(tmp_path))
    assert refused.returncode == 2 and "drop --storage" in refused.stderr
    result = run_main(capsys, "search", "--backend", "plain", "--space", "nas_bench_macro", "--device", "cpu_x86",
                      "--budget", "1ms", "--accuracy", "tabular", "--runs-dir", str(tmp_path), "--name", "p")
    assert result.returncode == 0, result.stderr
