"""Whole networks timed on this host, and whether a measured table came from a host like it.

Why: a table measured on one x86 machine predicted another's networks at 1/0.63 of their time, and
nothing said so. A table records its processor; when this host differs, the search and ``nas latency
predict`` say so and name the fix: time about a hundred networks here (about a minute and a half) and adapt the
table to them (``nas latency adapt --host-networks``), per layer kind (:mod:`nas.latency.kind_model`).
"""

from __future__ import annotations

import logging

from nas.arch import Arch
from nas.latency.table import LatencyTable

log = logging.getLogger(__name__)

HOST_NETWORKS = 100
"""Networks the warning suggests timing: a weight per layer kind needs them. On a host whose kinds sped up from 0.4x to
0.7x, 60 networks left 89-93 % of other ones within 10 % and 100 left 92-96 % (decision 0034); through the command,
100 left 92-93 % of 800 fresh ones within 10 % (``bench/host_adapt.py``), in 76-87 s on two cores."""
HOST_TARGET_S = 0.5
"""Seconds of timing per network (the fastest of 16 steady chunks): at 0.5 s, 98 % of 80 networks timed twice agreed
within 10 %; at 1 s, 90 % in an earlier hour. The host's load moves the agreement more than the target does."""


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
            f"may be off here; adapt it in about two minutes with: nas latency adapt --device "
            f"{table.device}_here --host-networks {HOST_NETWORKS} --from {table.device}")


def is_foreign(table: LatencyTable) -> bool:
    """The table was measured by a host with another processor than this one (its error bar widens)."""
    return foreign_host_warning(table) is not None


def warn_if_foreign(table: LatencyTable) -> None:
    message = foreign_host_warning(table)
    if message:
        log.warning(message)


class HostTimer:
    """Whole networks timed here by the protocol the tables' whole networks were timed with: ONNX Runtime CPU, batch 1,
    ``threads`` threads, the fastest of 16 chunks that the steady probe shows uncontended (decision 0015,
    :meth:`nas.latency.measure.Timer.time_arch`), in units of the probe's latency ``reference_ms``.

    Why not a plain median: on a shared host, timing the same networks twice that way agreed within 10 % for 75 % of
    them; against the probe, 90 %, and an adaptation cannot be closer to the truth than its measurements are to each
    other. Why units: the host's speed drifts by a few percent between runs minutes apart, the probe with it; timings
    taken later against the same ``reference_ms`` (``nominal_ms``) are in the same units, as a table's are (0015)."""

    def __init__(self, threads: int = 1, target_s: float = HOST_TARGET_S, nominal_ms: float | None = None) -> None:
        from nas.latency.measure import Runtime

        self.target_s = target_s
        self.timer = Runtime("ort-cpu", threads).timer(nominal_ms)

    @property
    def reference_ms(self) -> float:
        """The probe's latency the times are in units of (``nominal_ms``, else its level measured at start)."""
        return self.timer.reference_ms

    @property
    def level_ms(self) -> float:
        """The probe's latency measured at start: ``ms * level_ms / reference_ms`` is a time in this run's own units."""
        return self.timer.reference.level_ms

    def time(self, archs: list[Arch]) -> list[float]:
        from nas.progress import progress

        return [self.timer.time_arch(arch, self.target_s).ms
                for arch in progress(archs, len(archs), "timing networks on this host")]


def time_networks_here(archs: list[Arch], threads: int = 1, target_s: float = HOST_TARGET_S) -> list[float]:
    """End-to-end ms per arch (:class:`HostTimer`), in units of the probe as it ran at the start of this call."""
    return HostTimer(threads, target_s).time(archs)
