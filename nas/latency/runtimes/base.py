"""What a runtime is: whether it runs here, what it records about itself, how it prepares a model, how it times.

Every runtime is one module in this package holding one :class:`RuntimeBackend`; :mod:`nas.latency.runtimes`
lists them. A table records the runtime's name in ``meta.runtime_name``, so finding the runtime of a table is a
look-up (:func:`nas.latency.runtimes.runtime_of_meta`). Adding TFLite or TensorRT is one new file and one
registry entry.

The timing protocol itself (alternating chunks against a steady probe, :mod:`nas.latency.ortbench`) is shared:
a runtime only says how to make one inference call, and may override :meth:`RuntimeBackend.time` when it has a
better clock than the wall (CUDA events, say).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from nas.errors import NasError
from nas.latency.ortbench import Reference, Timing, time_relative

if TYPE_CHECKING:
    from torch import nn

Call = Callable[[], object]
"""One batch-1 inference, ready to be repeated."""


class RuntimeUnavailable(NasError):
    """A runtime name that does not exist or cannot run on this host."""


class RuntimeBackend(ABC):
    """One way of running a model. Subclasses set :attr:`name` and :attr:`summary` and implement the methods."""

    name: ClassVar[str]
    """The runtime's name on the command line and in ``meta.runtime_name`` (``ort-cpu``)."""
    summary: ClassVar[str]

    @abstractmethod
    def unavailable(self) -> str | None:
        """Why this runtime cannot run on this host (one line with the fix), or ``None`` when it can."""

    @abstractmethod
    def describe(self, threads: int) -> dict[str, Any]:
        """The facts a table records about the runtime (library, version, provider, device)."""

    @abstractmethod
    def prepare(self, module: nn.Module, input_shape: tuple[int, ...], threads: int) -> Call:
        """Convert ``module`` to this runtime's form (eval mode, BN folded) and load it; return one inference."""

    @abstractmethod
    def prepare_empty(self, input_shape: tuple[int, ...], threads: int) -> Call:
        """An inference that computes nothing: the per-call overhead a network pays once."""

    def time(self, call: Call, reference: Reference, target_s: float, chunks: int = 8,
             statistic: str = "median") -> Timing:
        """``call``'s latency in the table's units (ratio to the probe's chunks, times its nominal latency)."""
        return time_relative(call, reference, target_s, chunks, statistic)

    def recorded_by(self, meta: dict[str, Any]) -> bool:
        """Whether a table's metadata was written by this runtime (for tables made before ``runtime_name``)."""
        facts = self.describe_static()
        return meta.get("runtime") == facts["runtime"] and meta.get("provider", facts["provider"]) == facts["provider"]

    @abstractmethod
    def describe_static(self) -> dict[str, str]:
        """The facts of :meth:`describe` that need nothing installed: ``runtime`` (the library) and ``provider``."""
