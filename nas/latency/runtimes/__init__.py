"""The runtime registry: every way of timing a model, one module each (see :mod:`nas.latency.runtimes.base`).

To add a runtime (TFLite, TensorRT), write ``nas/latency/runtimes/<module>.py`` defining ``BACKEND`` (or
``BACKENDS``) and add the module to :data:`REGISTERED`; ``nas latency build --runtime NAME`` then measures
with it, and the tables it builds name it in ``meta.runtime_name``.
"""

from __future__ import annotations

import importlib
from typing import Any

from nas.latency.runtimes.base import RuntimeBackend, RuntimeUnavailable

REGISTERED = ("ort_cpu", "ort_cuda", "torch_eager")
"""The runtime modules of this package."""


def _load() -> dict[str, RuntimeBackend]:
    found: dict[str, RuntimeBackend] = {}
    for module_name in REGISTERED:
        module = importlib.import_module(f"nas.latency.runtimes.{module_name}")
        for backend in getattr(module, "BACKENDS", None) or (module.BACKEND,):
            found[backend.name] = backend
    return found


RUNTIMES: dict[str, RuntimeBackend] = _load()


def runtime_backend(name: str) -> RuntimeBackend:
    """The registered runtime ``name``; one clear error naming the known ones otherwise."""
    try:
        return RUNTIMES[name]
    except KeyError:
        raise RuntimeUnavailable(f"unknown runtime {name!r}; allowed: {', '.join(RUNTIMES)}") from None


def runtime_of_meta(meta: dict[str, Any]) -> RuntimeBackend | None:
    """The runtime a table was measured with: its ``runtime_name``, or for an older table the one whose
    library and provider it records; ``None`` for tables no runtime here measured (imported, adapted)."""
    if "runtime_name" in meta:
        return RUNTIMES.get(str(meta["runtime_name"]))
    return next((backend for backend in RUNTIMES.values() if backend.recorded_by(meta)), None)
