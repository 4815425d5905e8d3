"""ONNX export: BN folded, checker passes, ONNX Runtime matches torch."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nas.latency.onnx_io import OPSET, export_onnx, max_abs_difference
from nas.model import build
from nas.space import available_spaces, load_space


def _with_running_stats(model: torch.nn.Module, resolution: int) -> torch.nn.Module:
    """Non-trivial BN statistics, so folding is really exercised."""
    model.train()
    with torch.no_grad():
        model(torch.randn(4, 3, resolution, resolution))
    return model.eval()


@pytest.mark.parametrize("name", available_spaces())
@settings(max_examples=2, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_sampled_arch_exports_with_ort_parity(tmp_path_factory: pytest.TempPathFactory, name: str, seed: int) -> None:
    arch = load_space(name).sample_random(1, seed)[0]
    torch.manual_seed(seed % 1000)
    model = _with_running_stats(build(arch), arch.resolution)
    path = export_onnx(model, (1, 3, arch.resolution, arch.resolution),
                       tmp_path_factory.mktemp("onnx") / f"{arch.id}.onnx")
    graph = onnx.load(str(path))
    onnx.checker.check_model(graph)
    assert {o.version for o in graph.opset_import if o.domain in ("", "ai.onnx")} == {OPSET}
    assert "BatchNormalization" not in {node.op_type for node in graph.graph.node}
    assert max_abs_difference(model, path, (1, 3, arch.resolution, arch.resolution)) < 1e-4


def test_export_writes_atomically(tmp_path: Path) -> None:
    arch = load_space("shufflenet_v2").sample_random(1, 0)[0]
    target = tmp_path / "out" / "model.onnx"
    export_onnx(build(arch), (1, 3, 32, 32), target)
    assert target.is_file() and [p.name for p in target.parent.iterdir()] == ["model.onnx"]
