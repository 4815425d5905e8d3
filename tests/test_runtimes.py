"""Runtimes behind one interface: a registry, a table's runtime found by name, every runtime here times a layer."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from nas.arch import layer_from_key
from nas.latency.build import build_table
from nas.latency.measure import Runtime, RuntimeUnavailable
from nas.latency.runtimes import REGISTERED, RUNTIMES, runtime_of_meta

LAYER = layer_from_key("ir|k3|cin8|mid16|cout8|s1|hw8|relu")


def test_every_runtime_module_is_registered() -> None:
    package = Path(__file__).resolve().parent.parent / "nas" / "latency" / "runtimes"
    import importlib

    assert {p.stem for p in package.glob("*.py")} - {"__init__", "base"} == set(REGISTERED)
    offered = []
    for module_name in REGISTERED:  # every module offers at least one runtime, under a name no other module uses
        module = importlib.import_module(f"nas.latency.runtimes.{module_name}")
        names = [b.name for b in getattr(module, "BACKENDS", None) or (module.BACKEND,)]
        assert names, module_name
        offered += names
    assert sorted(offered) == sorted(RUNTIMES) and len(set(offered)) == len(offered)


@pytest.mark.parametrize("name", sorted(RUNTIMES))
def test_each_runtime_that_runs_here_times_a_layer_and_the_others_say_why_not(name: str) -> None:
    reason = RUNTIMES[name].unavailable()
    if reason is not None:
        with pytest.raises(RuntimeUnavailable, match=name):
            Runtime(name)
        assert "\n" not in reason
        return
    runtime = Runtime(name)
    timer = runtime.timer(nominal_ms=0.1)  # the probe's nominal latency given: its own timing is the build's test
    timing = timer.time_layer(LAYER, target_s=0.02)
    assert math.isfinite(timing.ms) and timing.ms > 0 and timer.reference_ms == 0.1
    runtime.backend.prepare_empty((1, 3, 8, 8), 1)()  # the overhead call runs (build tests time it)
    described = runtime.describe()
    assert described["runtime_name"] == name and described["threads"] == 1
    assert runtime_of_meta(described) is RUNTIMES[name]


@pytest.mark.e2e
def test_a_table_names_its_runtime_and_older_tables_are_recognised_by_what_they_record(tmp_path: Path) -> None:
    table = build_table("host", ["shufflenet_v2"], Runtime("ort-cpu", 1), baselines=False, path=tmp_path / "h.json",
                        target_s=0.02, show_progress=False, limit=1, passes=1)
    assert table.meta["runtime_name"] == "ort-cpu" and runtime_of_meta(table.meta) is RUNTIMES["ort-cpu"]
    older = {k: v for k, v in table.meta.items() if k != "runtime_name"}
    assert runtime_of_meta(older) is RUNTIMES["ort-cpu"]
    assert runtime_of_meta({**older, "provider": "CUDAExecutionProvider"}) is RUNTIMES["ort-cuda"]
    assert runtime_of_meta({"runtime": "torch", "provider": "cuda"}) is RUNTIMES["torch-cuda"]
    assert runtime_of_meta({"runtime": "TensorFlow Lite (per the paper)", "provider": "CPU"}) is None
    assert runtime_of_meta({"runtime_name": "tflite"}) is None
