"""Measuring layers and whole networks with a named runtime.

Runtimes:

* ``ort-cpu`` (default): ONNX Runtime, CPU execution provider, fixed intra-op threads. Chosen for
  tables because it is what a deployment runs and because with one thread it is the steadiest here
  (torch eager varies up to 40 %); see :mod:`nas.latency.ortbench` for the timing protocol.
* ``ort-cuda``: ONNX Runtime CUDA execution provider (when onnxruntime-gpu is installed).
* ``torch-cpu``: torch eager on the CPU (for comparison; noisy).
* ``torch-cuda``: torch eager on a GPU; each timed call ends with ``torch.cuda.synchronize()``
  (batch 1 is launch-bound, so wall clock around a synchronised call is the latency a user sees).

Every model is the deployable form (eval mode, BN folded, :func:`nas.onnx_io.deployable`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from nas.arch import Arch, Layer, layer_from_key
from nas.blocks import build_layer
from nas.errors import NasError
from nas.latency.onnx_io import deployable, to_onnx_bytes
from nas.latency.ortbench import Reference, Timing, overhead_model, session, time_onnx, time_relative
from nas.model import build

RUNTIMES = ("ort-cpu", "ort-cuda", "torch-cpu", "torch-cuda")


class RuntimeUnavailable(NasError):
    """A runtime name that does not exist or cannot run on this host."""


@dataclass(frozen=True)
class Runtime:
    """A named way of running a model, with its thread count."""

    name: str
    threads: int = 1

    def __post_init__(self) -> None:
        if self.name not in RUNTIMES:
            raise RuntimeUnavailable(f"unknown runtime {self.name!r}; allowed: {', '.join(RUNTIMES)}")
        if self.threads < 1:
            raise RuntimeUnavailable(f"threads must be >= 1, got {self.threads}")
        if self.name == "torch-cuda" and not torch.cuda.is_available():
            raise RuntimeUnavailable("runtime torch-cuda needs a CUDA GPU, and torch sees none on this host")
        if self.name == "ort-cuda":
            import onnxruntime as ort

            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise RuntimeUnavailable("runtime ort-cuda needs onnxruntime-gpu with the CUDA execution provider; "
                                    f"available: {', '.join(ort.get_available_providers())}")

    @property
    def provider(self) -> str:
        return {"ort-cpu": "CPUExecutionProvider", "ort-cuda": "CUDAExecutionProvider"}.get(self.name, "")

    def describe(self) -> dict[str, str | int]:
        """Runtime facts recorded in a table's metadata."""
        if self.name.startswith("ort"):
            import onnxruntime as ort

            info: dict[str, str | int] = {"runtime": "onnxruntime", "runtime_version": ort.__version__,
                                          "provider": self.provider}
        else:
            info = {"runtime": "torch", "runtime_version": torch.__version__,
                    "provider": "cuda" if self.name == "torch-cuda" else "cpu"}
            if self.name == "torch-cuda":
                info["gpu"] = torch.cuda.get_device_name(0)
                info["cuda_version"] = str(torch.version.cuda)
        info["threads"] = self.threads
        return info

    def timer(self, nominal_ms: float | None = None) -> Timer:
        """A timer bound to this runtime's reference probe (measured now unless ``nominal_ms``)."""
        return Timer(self, nominal_ms)


REFERENCE_LAYER = "ir|k3|cin24|mid144|cout24|s1|hw16|relu"
"""The probe every timing is taken against (see :mod:`nas.latency.ortbench` for why): one
inverted-residual layer whose weights and activations (~180 KB) stay in a 1 MiB L2, so it is steady
whenever the machine is."""


def reference_layer() -> Layer:
    return layer_from_key(REFERENCE_LAYER)


class Timer:
    """Times modules with one runtime, against the reference probe (steady-state chunks only)."""

    def __init__(self, runtime: Runtime, nominal_ms: float | None = None) -> None:
        self.runtime = runtime
        probe = reference_layer()
        torch.manual_seed(0)
        self.reference = Reference(self._runner(build_layer(probe), probe.input_shape), nominal_ms)

    @property
    def reference_ms(self) -> float:
        return self.reference.nominal_ms

    def _runner(self, module: nn.Module, input_shape: tuple[int, ...]) -> Callable[[], object]:
        rt = self.runtime
        if rt.name.startswith("ort"):
            sess = session(to_onnx_bytes(module, input_shape), rt.threads, rt.provider)
            feed = {sess.get_inputs()[0].name: np.random.default_rng(0).standard_normal(input_shape).astype(np.float32)}
            return lambda: sess.run(None, feed)
        model = deployable(module)
        if rt.name == "torch-cpu":
            torch.set_num_threads(rt.threads)
            x = torch.randn(input_shape)

            def run_cpu() -> None:
                with torch.inference_mode():
                    model(x)

            return run_cpu
        model = model.cuda()
        x = torch.randn(input_shape, device="cuda")

        def run_cuda() -> None:  # batch 1 is launch-bound: wall clock around a synchronised call
            with torch.inference_mode():
                model(x)
            torch.cuda.synchronize()

        return run_cuda

    def time_module(self, module: nn.Module, input_shape: tuple[int, ...], target_s: float = 0.3, chunks: int = 8,
                    statistic: str = "median") -> Timing:
        return time_relative(self._runner(module, input_shape), self.reference, target_s, chunks, statistic)

    def time_onnx(self, model: bytes, input_shape: tuple[int, ...], target_s: float = 0.3) -> Timing:
        rt = self.runtime
        return time_onnx(model, input_shape, self.reference, rt.threads, rt.provider, target_s)

    def overhead(self, input_shape: tuple[int, ...] = (1, 3, 32, 32)) -> Timing:
        """Cost of one inference call that computes nothing (counted once per network)."""
        if self.runtime.name.startswith("ort"):
            return self.time_onnx(overhead_model(input_shape), input_shape, target_s=1.0)
        return self.time_module(nn.Identity(), input_shape, target_s=1.0)

    def time_layer(self, layer: Layer, target_s: float = 0.3) -> Timing:
        """One resolved layer at its input shape (weights random: latency does not depend on them)."""
        torch.manual_seed(0)
        return self.time_module(build_layer(layer), layer.input_shape, target_s)

    def time_arch(self, arch: Arch, target_s: float = 1.0) -> Timing:
        """A whole network, end to end: the fastest of 16 steady chunks (see ``time_relative`` for why)."""
        torch.manual_seed(0)
        return self.time_module(build(arch), (1, 3, arch.resolution, arch.resolution), target_s, 16, "min")
