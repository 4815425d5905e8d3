"""Tables for devices that cannot run torch: a bundle of ONNX files, a one-file runner, an importer.

``write_bundle`` exports every layer a space needs to ``models/``, plus the reference probe and
the identity graph used for the per-call overhead, and copies :mod:`nas.latency.ortbench` as
``runner.py`` (standard library + numpy + onnxruntime only). On the device::

    python3 runner.py --out results.json

``import_results`` checks the results belong to that bundle (same ``bundle_id``, known keys) and
merges them into a table, converting to the table's units when it already exists.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from nas.arch import Arch, Layer
from nas.blocks.torch_parts import build_layer
from nas.fileio import read_json_bounded
from nas.latency import ortbench
from nas.latency.measure import REFERENCE_LAYER, reference_layer
from nas.latency.onnx_io import to_onnx_bytes
from nas.latency.runtimes import RUNTIMES
from nas.latency.table import Entry, LatencyTable, TableError, check_device_name, load_table, now, table_path
from nas.progress import progress
from nas.space import load_space

MANIFEST_SCHEMA = "nas.bundle_manifest/1"


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def sample_networks(spaces: list[str], count: int) -> list[Arch]:
    """``count`` whole networks drawn evenly from ``spaces`` (fixed seeds): the runner times them end to end, and on
    import they calibrate the table."""
    per_space = -(-count // len(spaces)) if spaces else 0
    return [a for i, name in enumerate(spaces) for a in load_space(name).sample_random(per_space, seed=2000 + i)][:count]


def write_bundle(layers: dict[str, Layer], out: str | Path, spaces: list[str], show_progress: bool = True,
                 networks: list[Arch] | None = None) -> Path:
    """Write the bundle folder; returns the manifest path.

    ``networks``: whole networks the runner also times; on import they calibrate the device's table and predict
    exactly their own measurements (a per-layer sum misses what happens between layers on the device).
    """
    import torch

    from nas.model import build

    out = Path(out)
    models = out / "models"
    models.mkdir(parents=True, exist_ok=True)
    entries: dict[str, dict[str, Any]] = {}
    for key in progress(sorted(layers), len(layers), "exporting", show_progress):
        layer = layers[key]
        torch.manual_seed(0)
        name = f"models/{hashlib.sha256(key.encode()).hexdigest()[:16]}.onnx"
        digest = _write(out / name, to_onnx_bytes(build_layer(layer), layer.input_shape))
        entries[key] = {"file": name, "sha256": digest, "input_shape": list(layer.input_shape)}
    whole: dict[str, dict[str, Any]] = {}
    for arch in progress(networks or [], len(networks or []), "exporting networks", show_progress):
        torch.manual_seed(0)
        shape_in = (1, 3, arch.resolution, arch.resolution)
        name = f"networks/{arch.id}.onnx"
        (out / "networks").mkdir(exist_ok=True)
        digest = _write(out / name, to_onnx_bytes(build(arch).eval(), shape_in))
        whole[str(arch)] = {"file": name, "sha256": digest, "input_shape": list(shape_in)}
    probe = reference_layer()
    shape = list(probe.input_shape)
    torch.manual_seed(0)
    ref_digest = _write(out / "reference.onnx", to_onnx_bytes(build_layer(probe), probe.input_shape))
    overhead_digest = _write(out / "overhead.onnx", ortbench.overhead_model((1, 3, 32, 32)))
    bundle_id = hashlib.sha256(json.dumps([entries, whole], sort_keys=True).encode() + ref_digest.encode()).hexdigest()[:16]
    manifest = {
        "schema": MANIFEST_SCHEMA, "bundle_id": bundle_id, "created": now(), "spaces": spaces,
        "reference": {"file": "reference.onnx", "sha256": ref_digest, "input_shape": shape, "layer": REFERENCE_LAYER},
        "overhead": {"file": "overhead.onnx", "sha256": overhead_digest, "input_shape": [1, 3, 32, 32]},
        "entries": entries, "networks": whole,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    shutil.copyfile(ortbench.__file__, out / "runner.py")
    (out / "README.txt").write_text(
        "nas latency bundle\n\nOn the device (needs python3, numpy and onnxruntime only):\n"
        "    python3 runner.py --out results.json [--threads N]\n\n"
        "Back on the host:\n"
        f"    nas latency import results.json --device NAME --bundle {out}\n")
    return out / "manifest.json"


def read_manifest(bundle: str | Path) -> dict[str, Any]:
    path = Path(bundle) / "manifest.json"
    manifest = read_json_bounded(path, TableError, "bundle manifest")
    if not isinstance(manifest, dict):
        raise TableError(f"{path} is not a nas bundle manifest")
    if manifest.get("schema") != MANIFEST_SCHEMA:
        raise TableError(f"{path} is not a nas bundle manifest")
    return manifest


MAX_LAYER_MS = 60_000.0
"""No layer of a small CNN takes a minute at batch 1: a larger value is a unit error or a forged file."""
HOST_FIELDS = ("machine", "processor", "system", "python", "cpus", "vector_isa")


def _positive_ms(value: Any, where: str, allow_zero: bool = False) -> float:
    import math

    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TableError(f"{where} must be a finite number of milliseconds, got {value!r}")
    if not (0 <= value if allow_zero else 0 < value) or value > MAX_LAYER_MS:
        low = ">= 0" if allow_zero else "> 0"
        raise TableError(f"{where} must be {low} and at most {MAX_LAYER_MS:g} ms, got {value!r}")
    return float(value)


def check_results(results: dict[str, Any], where: str) -> None:
    """A runner's results file, validated whole before any of it touches a table (a device's file is untrusted)."""
    for key in ("runtime", "threads", "reference_ms", "overhead_ms", "results"):
        if key not in results:
            raise TableError(f"{where}: lacks {key!r}; it was not written by the bundle runner")
    _positive_ms(results["reference_ms"], f"{where}: reference_ms")
    _positive_ms(results["overhead_ms"], f"{where}: overhead_ms", allow_zero=True)
    host = results.get("host", {})
    if not isinstance(host, dict) or set(host) - set(HOST_FIELDS) or not all(isinstance(v, str) for v in host.values()):
        raise TableError(f"{where}: host must hold only text fields {', '.join(HOST_FIELDS)}, got {host!r}")
    entries = results["results"]
    if not isinstance(entries, dict) or not entries:
        raise TableError(f"{where}: holds no measurements; run the runner to the end (it resumes) and import again")
    networks = results.get("networks", {})
    if not isinstance(networks, dict):
        raise TableError(f"{where}: networks must be an object of arch -> timing")
    for key, timing in [*entries.items(), *networks.items()]:
        if not isinstance(timing, dict):
            raise TableError(f"{where}: result {key!r} must be an object with ms, spread and n")
        _positive_ms(timing.get("ms"), f"{where}: result {key!r}: ms")
        spread, n = timing.get("spread"), timing.get("n")
        if isinstance(spread, bool) or not isinstance(spread, (int, float)) or not 0 <= spread < 100:
            raise TableError(f"{where}: result {key!r}: spread must be a finite number >= 0, got {spread!r}")
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise TableError(f"{where}: result {key!r}: n must be a positive integer, got {n!r}")
        measurements = timing.get("measurements", [timing["ms"]])
        if not isinstance(measurements, list) or not 1 <= len(measurements) <= 3:
            raise TableError(f"{where}: result {key!r}: measurements must be a list of 1-3 timings (the sweeps)")
        for value in measurements:
            _positive_ms(value, f"{where}: result {key!r}: measurements")


def import_results(results_path: str | Path, device: str, bundle: str | Path) -> LatencyTable:
    """Merge a runner's results into the device's table (created if absent)."""
    check_device_name(device)
    manifest = read_manifest(bundle)
    results = read_json_bounded(Path(results_path), TableError, "results file")
    if not isinstance(results, dict) or results.get("schema") != ortbench.RESULTS_SCHEMA:
        raise TableError(f"{results_path} is not a results file written by the bundle runner")
    if results.get("bundle_id") != manifest["bundle_id"]:
        raise TableError(f"{results_path} comes from bundle {results.get('bundle_id')!r}, not from {bundle} "
                         f"({manifest['bundle_id']}): import it with the bundle it was measured from")
    check_results(results, str(results_path))
    unknown = sorted(set(results["results"]) - set(manifest["entries"]))
    if unknown:
        raise TableError(f"{results_path} has {len(unknown)} key(s) that bundle {bundle} does not list, e.g. {unknown[0]!r}")
    path = table_path(device)
    existing = load_table(path) if path.exists() else None
    if existing is not None and "reference_ms" not in existing.meta:
        return _replace_predicted(existing, results, manifest)
    if existing is not None:
        table = existing
        for key in ("runtime", "threads"):
            if table.meta.get(key) != results.get(key):
                raise TableError(f"table {device!r} holds {key}={table.meta.get(key)!r} but the results were "
                                 f"measured with {results.get(key)!r}; import under another --device name")
        units = float(table.meta["reference_ms"]) / float(results["reference_ms"])
    else:
        meta = {"device": device, **results.get("host", {}), "runtime": results["runtime"],
                **({"runtime_name": results["runtime_name"]} if results.get("runtime_name") in RUNTIMES else {}),
                "runtime_version": results.get("runtime_version", "unknown"), "provider": results.get("provider", "CPU"),
                "threads": results["threads"], "batch": results.get("batch", 1), "created": now(), "updated": now(),
                "spaces": manifest["spaces"], "reference": f"probe layer {manifest['reference']['layer']}, batch 1",
                "reference_ms": results["reference_ms"], "overhead_ms": results["overhead_ms"],
                "timing": "bundle runner: median ratio to the probe over steady-state chunks x reference_ms; "
                              "entries exclude overhead"}
        table = LatencyTable(meta, {}, path)
        units = 1.0
    for key, timing in results["results"].items():
        ms = max(float(timing["ms"]) * units - table.overhead_ms, 0.0)
        sweeps = {"measurements": [max(float(v) * units - table.overhead_ms, 0.0) for v in timing["measurements"]]} \
            if "measurements" in timing else {}
        table.set_entry(key, Entry(ms, float(timing["spread"]), int(timing["n"]), "measured",
                                   {"source": "bundle runner", "bundle_id": manifest["bundle_id"],
                                    "date": results.get("created", now()), **sweeps}))
    table.meta["spaces"] = sorted(set(table.meta.get("spaces", [])) | set(manifest["spaces"]))
    table.meta["updated"] = now()
    _calibrate_on_networks(table, results, manifest, units)
    table.save()
    return table


MIN_CALIBRATION_NETWORKS = 3


def _calibrate_on_networks(table: LatencyTable, results: dict[str, Any], manifest: dict[str, Any], units: float) -> None:
    """Whole networks the runner timed: they calibrate the table (one factor and an offset: a few networks cannot
    pin down one per layer kind) and predict exactly themselves. Fewer than 3, or networks with layers the table
    lacks, leave it as it is."""
    from nas.arch import parse_arch
    from nas.latency.validate import Sample, apply_calibration, fit_calibration

    timed = {text: float(t["ms"]) * units for text, t in results.get("networks", {}).items() if text in manifest.get(
        "networks", {})}
    archs = {text: parse_arch(text) for text in timed}
    usable = [text for text, arch in archs.items() if not table.missing(arch.keys())]
    if len(usable) < MIN_CALIBRATION_NETWORKS:
        return
    table.meta.pop("calibration", None)
    samples = [Sample(archs[t], table.raw_sum(archs[t]), table.raw_sum(archs[t]), timed[t], 0.0) for t in usable]
    calibration = fit_calibration(table, samples, min_archs=len(samples) + 1, weight_term=False)
    apply_calibration(table, calibration, samples, manifest["spaces"], f"bundle {manifest['bundle_id']} networks",
                      save=False)
    table.meta["measured_networks"] = {**table.meta.get("measured_networks", {}), **{t: timed[t] for t in usable}}


def _replace_predicted(table: LatencyTable, results: dict[str, Any], manifest: dict[str, Any]) -> LatencyTable:
    """Real measurements into a published/transferred table (rpi4, pixel3): they replace *predicted* entries.

    Such a table holds another runtime's numbers (HW-NAS-Bench: TFLite, per-block deltas), so the
    runner's values are first put on the table's scale: the median ratio table/measured over the keys
    that are both imported there and measured now (scale 1 when none overlap, said in the entry).
    Imported entries are kept; every replaced entry goes to its history.
    """
    measured = {k: float(v["ms"]) - float(results["overhead_ms"]) for k, v in results["results"].items()}
    overlap = [k for k in measured if k in table.entries and table.entries[k].origin == "imported" and measured[k] > 0]
    scale = float(np.median([table.entries[k].ms / measured[k] for k in overlap])) if overlap else 1.0
    replaced = 0
    for key, ms in measured.items():
        current = table.entries.get(key)
        if current is not None and current.origin != "predicted":
            continue
        timing = results["results"][key]
        table.set_entry(key, Entry(max(ms * scale, 0.0), float(timing["spread"]), int(timing["n"]), "measured", {
            "source": "bundle runner", "bundle_id": manifest["bundle_id"], "date": results.get("created", now()),
            "scaled_to_table": scale, "scale_fitted_on": len(overlap)}))
        replaced += 1
    table.meta.setdefault("imports", []).append({"bundle_id": manifest["bundle_id"], "replaced": replaced,
                                                 "scale": scale, "overlap_keys": len(overlap), "date": now()})
    table.meta["updated"] = now()
    table.save()
    return table
