"""torch eager execution, on the CPU (``torch-cpu``) or a CUDA GPU (``torch-cuda``).

On the CPU it is for comparison (it varies more than ONNX Runtime). On a GPU each timed call ends with
``torch.cuda.synchronize()``: batch 1 is launch-bound, so wall clock around a synchronised call is the latency
a user sees.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nas.latency.runtimes.base import Call, RuntimeBackend

if TYPE_CHECKING:
    from torch import nn


class TorchCpuRuntime(RuntimeBackend):
    name = "torch-cpu"
    summary = "torch eager on the CPU"
    device = "cpu"

    def unavailable(self) -> str | None:
        return None

    def describe_static(self) -> dict[str, str]:
        return {"runtime": "torch", "provider": self.device}

    def describe(self, threads: int) -> dict[str, Any]:
        import torch

        return {**self.describe_static(), "runtime_name": self.name, "runtime_version": torch.__version__,
                "threads": threads}

    def prepare(self, module: nn.Module, input_shape: tuple[int, ...], threads: int) -> Call:
        import torch

        from nas.latency.onnx_io import deployable

        torch.set_num_threads(threads)
        model = deployable(module).to(self.device)
        x = torch.randn(input_shape, device=self.device)

        def run() -> None:
            with torch.inference_mode():
                model(x)
            self.synchronize()

        return run

    def prepare_empty(self, input_shape: tuple[int, ...], threads: int) -> Call:
        from torch import nn

        return self.prepare(nn.Identity(), input_shape, threads)

    def synchronize(self) -> None:
        """Wait for the device (nothing to wait for on the CPU)."""


class TorchCudaRuntime(TorchCpuRuntime):
    name = "torch-cuda"
    summary = "torch eager on a CUDA GPU (synchronised after every call)"
    device = "cuda"

    def unavailable(self) -> str | None:
        import torch

        return None if torch.cuda.is_available() else f"runtime {self.name} needs a CUDA GPU, and torch sees none on this host"

    def describe(self, threads: int) -> dict[str, Any]:
        import torch

        return {**super().describe(threads), "gpu": torch.cuda.get_device_name(0),
                "cuda_version": str(torch.version.cuda)}

    def synchronize(self) -> None:
        import torch

        torch.cuda.synchronize()


BACKENDS = (TorchCpuRuntime(), TorchCudaRuntime())
