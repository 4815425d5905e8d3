"""Whole networks timed on this host, and whether a measured table came from a host like it.

Why: a table measured on one x86 machine predicted another's networks at 1/0.63 of their time, and
nothing said so. A table records its processor; when this host differs, the search and ``nas latency
predict`` say so and name the fix: time about ten networks here (a minute) and adapt the table to them
(``nas latency adapt --host-networks``).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np

from nas.arch import Arch
from nas.latency.table import LatencyTable

log = logging.getLogger(__name__)


def this_processor() -> str:
    from nas.latency.ortbench import host_description

    return host_description()["processor"]


def foreign_host_warning(table: LatencyTable) -> str | None:
    """A one-line warning when ``table`` was measured on another processor than this host's, else None."""
    if not table.measured_by_a_host() or not table.meta.get("processor"):
        return None
    from nas.latency.ortbench import host_description

    host = host_description()
    here, isa = host["processor"], host["vector_isa"]
    theirs = table.meta.get("vector_isa")
    if table.meta["processor"] == here and (theirs is None or theirs == isa):
        return None
    if theirs and theirs != isa:
        here, table_on = f"{here} ({isa})", f"{table.meta['processor']} ({theirs})"
    else:
        table_on = table.meta["processor"]
    return (f"table {table.device} was measured on {table_on}, this host is {here}: its latencies "
            f"may be off by a constant factor here; adapt it in about a minute with: nas latency adapt --device "
            f"{table.device}_here --host-networks 10 --from {table.device}")


def is_foreign(table: LatencyTable) -> bool:
    """The table was measured by a host with another processor than this one (its error bar widens)."""
    return foreign_host_warning(table) is not None


def warn_if_foreign(table: LatencyTable) -> None:
    message = foreign_host_warning(table)
    if message:
        log.warning(message)


def time_networks_here(archs: list[Arch], target_s: float = 1.0, threads: int = 1) -> list[float]:
    """Median end-to-end ms per arch: ONNX Runtime CPU, batch 1, ``threads`` threads (the tables' protocol)."""
    from nas.latency.onnx_io import export_onnx
    from nas.latency.ortbench import session, time_callable
    from nas.model import build
    from nas.progress import progress

    out = []
    with tempfile.TemporaryDirectory() as folder:
        for i, arch in enumerate(progress(archs, len(archs), "timing networks on this host")):
            shape = (1, 3, arch.resolution, arch.resolution)
            path = export_onnx(build(arch).eval(), shape, Path(folder) / f"{i}.onnx")
            sess = session(str(path), threads)
            feed = {sess.get_inputs()[0].name: np.random.default_rng(i).standard_normal(shape, dtype=np.float32)}
            out.append(time_callable(lambda sess=sess, feed=feed: sess.run(None, feed), target_s=target_s).ms)
    return out
