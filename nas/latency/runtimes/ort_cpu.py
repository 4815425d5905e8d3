"""ONNX Runtime with the CPU execution provider: the default runtime of every host table.

Chosen because it is what a deployment runs and because with one intra-op thread it is the steadiest runtime
on a shared machine (torch eager moved up to 40 % between runs); see :mod:`nas.latency.ortbench`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from nas.latency.ortbench import overhead_model, session
from nas.latency.runtimes.base import Call, RuntimeBackend

if TYPE_CHECKING:
    from torch import nn


class OrtRuntime(RuntimeBackend):
    name = "ort-cpu"
    summary = "ONNX Runtime, CPU execution provider"
    provider = "CPUExecutionProvider"

    def unavailable(self) -> str | None:
        import onnxruntime as ort

        if self.provider in ort.get_available_providers():
            return None
        return (f"runtime {self.name} needs onnxruntime with the {self.provider}; available: "
                f"{', '.join(ort.get_available_providers())}")

    def describe_static(self) -> dict[str, str]:
        return {"runtime": "onnxruntime", "provider": self.provider}

    def describe(self, threads: int) -> dict[str, Any]:
        import onnxruntime as ort

        return {**self.describe_static(), "runtime_name": self.name, "runtime_version": ort.__version__,
                "threads": threads}

    def prepare(self, module: nn.Module, input_shape: tuple[int, ...], threads: int) -> Call:
        from nas.latency.onnx_io import to_onnx_bytes

        return self._call(to_onnx_bytes(module, input_shape), input_shape, threads)

    def prepare_empty(self, input_shape: tuple[int, ...], threads: int) -> Call:
        return self._call(overhead_model(input_shape), input_shape, threads)

    def _call(self, model: bytes, input_shape: tuple[int, ...], threads: int) -> Call:
        sess = session(model, threads, self.provider)
        feed = {sess.get_inputs()[0].name: np.random.default_rng(0).standard_normal(input_shape).astype(np.float32)}
        return lambda: sess.run(None, feed)


BACKEND = OrtRuntime()
