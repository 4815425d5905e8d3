"""ONNX export with BatchNorm folded, and a parity check against ONNX Runtime.

Exporter choice (measured here, torch 2.13): the TorchScript-based exporter (``dynamo=False``)
exports a small CIFAR net in about 0.35 s; the default dynamo exporter takes about 6 s and writes
weights to a side ``.onnx.data`` file. Latency tables export hundreds of blocks, so we use the
TorchScript exporter while it exists and fall back to the dynamo exporter (weights embedded) when
it does not. BN is folded in torch beforehand (:func:`nas.blocks.torch_parts.fold_batchnorm`), so the graph is
the same whichever exporter runs.
"""

from __future__ import annotations

import copy
import io
import logging
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from nas.blocks.torch_parts import fold_batchnorm
from nas.errors import ExportError
from nas.latency.ortbench import session as ort_session

OPSET = 17
log = logging.getLogger(__name__)


def deployable(module: nn.Module) -> nn.Module:
    """An eval-mode copy with BN folded: what every runtime should run."""
    return fold_batchnorm(copy.deepcopy(module).eval().float())


def to_onnx_bytes(module: nn.Module, input_shape: tuple[int, ...], opset: int = OPSET) -> bytes:
    """Serialized ONNX model of ``module`` (BN folded) for a fixed input shape."""
    model = deployable(module)
    example = torch.zeros(input_shape)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(model, (example,), buffer, dynamo=False, opset_version=opset,
                              input_names=["input"], output_names=["output"], do_constant_folding=True)
            return buffer.getvalue()
        except TypeError:  # a torch without the TorchScript exporter
            log.info("TorchScript ONNX exporter unavailable; using the dynamo exporter")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        program = torch.onnx.export(model, (example,), dynamo=True, opset_version=opset,
                                    input_names=["input"], output_names=["output"])
        program.save(str(path), external_data=False)
        return path.read_bytes()


def export_onnx(module: nn.Module, input_shape: tuple[int, ...], path: str | Path, opset: int = OPSET) -> Path:
    """Write ``module`` as ONNX to ``path`` atomically and check it with ``onnx.checker``."""
    import onnx

    data = to_onnx_bytes(module, input_shape, opset)
    try:
        onnx.checker.check_model(onnx.load_from_string(data))
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"exported ONNX model fails onnx.checker: {exc}") from None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return path


def max_abs_difference(module: nn.Module, onnx_model: bytes | str | Path, input_shape: tuple[int, ...],
                       seed: int = 0) -> float:
    """Largest |torch - ONNX Runtime| output difference on one random input."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(input_shape, generator=generator)
    with torch.no_grad():
        expected = copy.deepcopy(module).eval()(x).numpy()
    session = ort_session(onnx_model if isinstance(onnx_model, bytes) else str(onnx_model))
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    return float(np.max(np.abs(expected - got)))
