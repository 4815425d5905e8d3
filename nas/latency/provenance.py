"""Where one predicted latency comes from, in data and in words: which kinds of entries it sums, whether any of them is
extrapolated (and why that leaves it without an error bar), and the error bar it does have.

Why its own module: ``nas latency predict``, ``nas search``'s front and ``nas export``'s ``metrics.json`` all show a
prediction beside its origin, and a prediction made of extrapolated layers must say so in every one of them rather
than pass as "adapted 100 %".
"""

from __future__ import annotations

from typing import Any

from nas.arch import Arch
from nas.latency.host import is_foreign
from nas.latency.table import LatencyTable


def provenance(table: LatencyTable, arch: Arch) -> dict[str, Any]:
    """``{"origin": ..., "shares": {...}, "extrapolated_layers": n, "layers": n, "error_bar_ms": x | None,
    "why": "..."}`` for ``arch`` on ``table`` (every key of the arch must be in the table)."""
    keys = arch.keys()
    extrapolated = sum(1 for key in keys if table.entries[key].extra.get("extrapolated"))
    shares = table.breakdown(arch)
    foreign = is_foreign(table)
    bar = table.error_bar(arch, foreign)
    if str(arch) in table.measured_networks:
        origin, why = "measured whole", f"this network was timed whole on {table.device}"
    elif extrapolated:
        origin = "extrapolated"
        why = (f"{extrapolated} of {len(keys)} layers are extrapolated: no network timed on {table.device} had them, so "
               "their values come from the adapted model outside its data and have no measured error")
    else:
        origin = max(shares, key=lambda k: shares[k])
        why = {"measured": f"layers timed on {table.device}" + (" (another processor than this one)" if foreign else ""),
               "imported": "published per-layer measurements",
               "predicted": "layers predicted from another table, with their held-out error",
               "adapted": "the adapted model's layers, with its leave-one-network-out error"}.get(origin, origin)
    return {"origin": origin, "shares": shares, "extrapolated_layers": extrapolated, "layers": len(keys),
            "error_bar_ms": bar, "why": why}


def describe_prediction(table: LatencyTable, arch: Arch) -> str:
    """'10.368 ms, extrapolated (12 of 20 layers ...): no error bar' or '3.210 ms +-0.25 ms (adapted 100%)'."""
    facts = provenance(table, arch)
    ms = table.predict(arch)
    if facts["origin"] == "extrapolated":
        return f"{ms:.3f} ms on {table.device}, extrapolated, no error bar: {facts['why']}"
    shares = ", ".join(f"{origin} {share * 100:.0f}%" for origin, share in sorted(facts["shares"].items()))
    bar = facts["error_bar_ms"]
    return f"{ms:.3f} ms +-{bar:.2f} ms on {table.device} ({shares}; {facts['why']})"
