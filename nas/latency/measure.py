"""Measuring layers and whole networks with a named runtime (:mod:`nas.latency.runtimes`, one module each).

Every model is the deployable form (eval mode, BN folded, :func:`nas.latency.onnx_io.deployable`), timed
against the reference probe by the protocol of :mod:`nas.latency.ortbench`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from nas.arch import Arch, Layer, layer_from_key
from nas.blocks.torch_parts import build_layer
from nas.latency.ortbench import Reference, Timing
from nas.latency.runtimes import RUNTIMES, RuntimeUnavailable, runtime_backend
from nas.latency.runtimes.base import RuntimeBackend
from nas.model import build

__all__ = ["RUNTIMES", "Runtime", "RuntimeUnavailable", "Timer"]


@dataclass(frozen=True)
class Runtime:
    """A registered runtime with its thread count, checked to run on this host."""

    name: str
    threads: int = 1

    def __post_init__(self) -> None:
        if self.threads < 1:
            raise RuntimeUnavailable(f"threads must be >= 1, got {self.threads}")
        reason = self.backend.unavailable()
        if reason:
            raise RuntimeUnavailable(reason)

    @property
    def backend(self) -> RuntimeBackend:
        return runtime_backend(self.name)

    def describe(self) -> dict[str, Any]:
        """Runtime facts recorded in a table's metadata (``runtime_name`` among them)."""
        return self.backend.describe(self.threads)

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
        return self.runtime.backend.prepare(module, input_shape, self.runtime.threads)

    def time_module(self, module: nn.Module, input_shape: tuple[int, ...], target_s: float = 0.3, chunks: int = 8,
                    statistic: str = "median") -> Timing:
        return self.runtime.backend.time(self._runner(module, input_shape), self.reference, target_s, chunks,
                                         statistic)

    def overhead(self, input_shape: tuple[int, ...] = (1, 3, 32, 32)) -> Timing:
        """Cost of one inference call that computes nothing (counted once per network)."""
        empty = self.runtime.backend.prepare_empty(input_shape, self.runtime.threads)
        return self.runtime.backend.time(empty, self.reference, target_s=1.0)

    def time_layer(self, layer: Layer, target_s: float = 0.3) -> Timing:
        """One resolved layer at its input shape (weights random: latency does not depend on them)."""
        torch.manual_seed(0)
        return self.time_module(build_layer(layer), layer.input_shape, target_s)

    def time_arch(self, arch: Arch, target_s: float = 1.0) -> Timing:
        """A whole network, end to end: the fastest of 16 steady chunks (see ``time_relative`` for why)."""
        torch.manual_seed(0)
        return self.time_module(build(arch), (1, 3, arch.resolution, arch.resolution), target_s, 16, "min")
