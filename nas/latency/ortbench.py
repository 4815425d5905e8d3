"""Timing core for ONNX Runtime, with no dependency beyond numpy and onnxruntime.

This file is also the *bundle runner*: ``nas latency bundle`` copies it verbatim next to the ONNX
files of a space, so a device that cannot run torch (a Raspberry Pi, a phone-class board) measures
with exactly the protocol the host uses. Keep it standalone: standard library, numpy, onnxruntime.

Protocol. The machines this runs on are shared and noisy. Chunk-by-chunk traces on the 2-core VM
of a shared 2-core VM show (i) *two machine states*, a steady fast one and a slow one (host
contention: a 0.08 ms layer takes 0.13-0.16 ms in it), alternating every 0.5-3 s; (ii) in the fast
state, a small L2-resident model is steady to 1-3 %, while a whole network (weights beyond L2) still
moves by +-10 % with its neighbours' use of the shared L3. Timing everything as a
ratio to a whole reference network does not help: its ratios are no steadier than absolute medians (about 5 %
median change between two measurements of a key, in the same session or not), because the slow state
does not slow every model alike and the reference's own L3 noise entered every ratio.

So now: a small *probe* model (one L2-resident layer, ``reference`` in a bundle) is run in short
chunks between the item's chunks (P I P I ... P). The probe tells the machine's state: a probe chunk
within ``STEADY_TOLERANCE`` of the fastest probe chunk seen in this process is *steady*. Only item
chunks whose two neighbouring probe chunks are steady count, each as a ratio to the mean of those
two probe chunks (the fast state still drifts by a few %, and probe and layer drift together); the
latency is the median (whole networks: the minimum) of those ratios times the probe's nominal
latency (``reference_ms`` in the table's metadata: its steady median when the table was created), so
that every entry and every later validation is in the same units. On a quiet device every chunk is
steady and this reduces to a plain ratio median. Measuring stops when enough steady chunks were seen
or at a deadline; a timing that ran out of steady chunks says so (``steady`` below ``MIN_STEADY``)
and uses every chunk, so a build can re-measure it. Spread is the inter-quartile range of the values
over their median; ``n`` the runs of the item. The fixed cost of one ``session.run`` call is
measured the same way on an identity graph (:func:`overhead_model`) so that a
sum of per-block latencies counts it once per network.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

RESULTS_SCHEMA = "nas.bundle_results/1"


STEADY_TOLERANCE = 1.2
"""A probe chunk is in the fast state when within this factor of the fastest (fast state here: within
1.15x of the fastest, slow state 1.5-2x)."""
MIN_STEADY = 3
"""Fewer steady chunks than this and a timing falls back to every chunk (and reports it)."""
AGREEMENT = 0.03
"""Two sweeps' measurements of a key closer than this (relative) are averaged; otherwise a third decides (the
rule of ``nas latency build`` and of the bundle runner alike)."""


@dataclass(frozen=True)
class Timing:
    """Median milliseconds of one inference, relative spread of chunk values, runs kept, steady chunks used."""

    ms: float
    spread: float
    n: int
    steady: int = 0
    chunks: int = 0

    @property
    def starved(self) -> bool:
        """True when too few chunks were in the steady state and the value mixes both states."""
        return self.steady < MIN_STEADY


def _chunk(run: Callable[[], object], count: int) -> float:
    """Median seconds of ``count`` consecutive runs."""
    times = np.empty(count)
    for i in range(count):
        t0 = time.perf_counter_ns()
        run()
        times[i] = time.perf_counter_ns() - t0
    return float(np.median(times)) / 1e9


def _runs_for(run: Callable[[], object], seconds: float) -> int:
    """Warm ``run`` up and return how many runs take about ``seconds``."""
    start = time.perf_counter()
    count = 0
    while count < 5 or time.perf_counter() - start < 0.02:
        run()
        count += 1
    return int(min(500, max(3, seconds / ((time.perf_counter() - start) / count))))


def _summary(values: list[float], steady: int, runs: int, chunks: int) -> Timing:
    array = np.array(values)
    middle = float(np.median(array))
    q75, q25 = np.percentile(array, [75, 25])
    return Timing(middle, float((q75 - q25) / middle), runs, steady, chunks)


def _deadline(target_s: float) -> float:
    """Longest a timing waits for steady chunks: slow spells here last up to about 3 s."""
    return time.perf_counter() + max(8 * target_s, 3.0)


class SteadyState:
    """Tracks the fastest chunk seen so far and says whether a chunk is in that (fast) state."""

    def __init__(self) -> None:
        self.fastest = float("inf")

    def observe(self, seconds: float) -> bool:
        self.fastest = min(self.fastest, seconds)
        return seconds <= self.fastest * STEADY_TOLERANCE


def time_callable(run: Callable[[], object], target_s: float = 0.3, chunks: int = 8) -> Timing:
    """Absolute timing: median of the steady chunks, the state told by the item's own chunk times."""
    per_chunk = _runs_for(run, target_s / chunks)
    state = SteadyState()
    seen: list[float] = []
    deadline = _deadline(target_s)
    while True:
        seen.append(_chunk(run, per_chunk))
        state.observe(seen[-1])
        steady = [value for value in seen if value <= state.fastest * STEADY_TOLERANCE]
        if len(seen) >= chunks and (len(steady) >= chunks or time.perf_counter() > deadline):
            break
    used = steady if len(steady) >= MIN_STEADY else seen
    return _summary([value * 1e3 for value in used], len(steady), per_chunk * len(used), len(seen))


PROBE_CHUNK_S = 0.002
"""Probe chunks are short: they only tell the machine's state (a chunk holds ~20 probe runs here)."""


class Reference:
    """The probe every timing is taken against: it tells the machine's state.

    ``level_ms`` is the probe's steady-state median measured at start (``settle_s`` of probe chunks);
    ``nominal_ms`` the probe's latency in the table's units (``level_ms`` when not given).
    """

    def __init__(self, run: Callable[[], object], nominal_ms: float | None = None, settle_s: float = 3.0) -> None:
        self.run = run
        self.state = SteadyState()
        self.per_chunk = _runs_for(run, PROBE_CHUNK_S)
        settle: list[float] = []
        deadline = time.perf_counter() + settle_s
        while time.perf_counter() < deadline or not settle:
            settle.append(self.chunk()[0])
        threshold = self.state.fastest * STEADY_TOLERANCE
        self.level_ms = float(np.median([value for value in settle if value <= threshold])) * 1e3
        self.nominal_ms = nominal_ms if nominal_ms is not None else self.level_ms

    def chunk(self) -> tuple[float, bool]:
        """Seconds of one probe chunk, and whether it shows the steady (fast) state."""
        seconds = _chunk(self.run, self.per_chunk)
        return seconds, self.state.observe(seconds)

    @classmethod
    def from_onnx(cls, model: bytes | str, input_shape: tuple[int, ...], threads: int = 1,
                  provider: str = "CPUExecutionProvider", nominal_ms: float | None = None) -> Reference:
        sess = session(model, threads, provider)
        feed = {sess.get_inputs()[0].name: _input(input_shape)}
        return cls(lambda: sess.run(None, feed), nominal_ms)


def time_relative(run: Callable[[], object], reference: Reference, target_s: float = 0.3, chunks: int = 8,
                  statistic: str = "median") -> Timing:
    """Latency of ``run`` over chunks the probe shows steady, in the table's units (see the module doc).

    ``statistic="min"`` reports the fastest steady chunk instead of the median: for whole networks,
    whose weights spill out of L2, the steady chunks still scatter by +-15 % with the neighbours' use
    of the shared L3 (a 45 s trace here), and the fastest of 16 chunks moved about half as much as
    their median between windows (5.8 % vs 10.9 % relative SD): the uncontended latency.
    """
    if statistic not in ("median", "min"):
        raise ValueError(f"statistic must be 'median' or 'min', not {statistic!r}")
    per_item = _runs_for(run, target_s / (chunks * 1.5))
    previous = reference.chunk()
    steady: list[float] = []
    every: list[float] = []
    deadline = _deadline(target_s)
    while len(steady) < chunks and (time.perf_counter() < deadline or len(every) < chunks):
        item = _chunk(run, per_item)
        following = reference.chunk()
        ratio = item / ((previous[0] + following[0]) / 2)
        every.append(ratio)
        if previous[1] and following[1]:
            steady.append(ratio)
        previous = following
    used = steady if len(steady) >= MIN_STEADY else every
    summary = _summary([value * reference.nominal_ms for value in used], len(steady), per_item * len(used), len(every))
    if statistic == "min":
        return Timing(min(used) * reference.nominal_ms, summary.spread, summary.n, summary.steady, summary.chunks)
    return summary


def _input(shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(0).standard_normal(shape).astype(np.float32)


def session(model: bytes | str, threads: int = 1, provider: str = "CPUExecutionProvider"):  # noqa: ANN201
    """An ONNX Runtime session with a fixed thread count and full graph optimisation."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return ort.InferenceSession(model, options, providers=[provider])


def time_onnx(model: bytes | str, input_shape: tuple[int, ...], reference: Reference, threads: int = 1,
              provider: str = "CPUExecutionProvider", target_s: float = 0.3) -> Timing:
    """Batch-1 latency of an ONNX model on ONNX Runtime, relative to ``reference``."""
    sess = session(model, threads, provider)
    feed = {sess.get_inputs()[0].name: _input(input_shape)}
    return time_relative(lambda: sess.run(None, feed), reference, target_s)


def overhead_model(input_shape: tuple[int, ...]) -> bytes:
    """An identity graph: the cost of a ``session.run`` call that computes nothing."""
    from onnx import TensorProto, helper

    value = helper.make_tensor_value_info("input", TensorProto.FLOAT, list(input_shape))
    out = helper.make_tensor_value_info("output", TensorProto.FLOAT, list(input_shape))
    graph = helper.make_graph([helper.make_node("Identity", ["input"], ["output"])], "overhead", [value], [out])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def host_description() -> dict[str, str]:
    """What this machine is, as far as the standard library can tell."""
    processor = platform.processor() or ""
    flags: set[str] = set()
    try:
        with open("/proc/cpuinfo") as handle:
            named = False
            for line in handle:
                key, _, value = line.partition(":")
                if not named and key.strip() in ("model name", "Model", "Hardware"):
                    processor, named = value.strip(), True
                elif not flags and key.strip() in ("flags", "Features"):
                    flags = set(value.split())
                if named and flags:
                    break
    except OSError:
        pass
    return {"machine": platform.machine(), "processor": processor, "system": platform.system(),
            "python": platform.python_version(), "cpus": str(os.cpu_count()), "vector_isa": vector_isa(flags)}


def vector_isa(flags: set[str]) -> str:
    """The widest SIMD extension among a CPU's flags: what a latency table's kernels were timed with."""
    for flag, name in (("avx512f", "avx512"), ("avx2", "avx2"), ("avx", "avx"), ("sse4_2", "sse4.2"),
                       ("sve", "sve"), ("asimd", "neon"), ("neon", "neon")):
        if flag in flags:
            return name
    return "unknown"


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def two_sweeps(first: dict, again: Callable[[float], dict]) -> dict:
    """One key's result from its first sweep's timing and more, by the build's rule: a second timing; a third
    (twice as long) when the two differ by more than :data:`AGREEMENT` or either saw too few steady chunks; the
    median of them (of two, the mean). ``again(target_factor)`` times the key once more."""
    timings = [first, again(1.0)]
    disagree = abs(timings[1]["ms"] / max(first["ms"], 1e-12) - 1) > AGREEMENT
    if disagree or min(t["steady"] for t in timings) < MIN_STEADY:
        timings.append(again(2.0))
    values = [t["ms"] for t in timings]
    ms = float(np.median(values))
    return {"ms": ms, "spread": float(np.median([t["spread"] for t in timings])), "n": sum(t["n"] for t in timings),
            "steady": max(t["steady"] for t in timings), "chunks": sum(t["chunks"] for t in timings),
            "measurements": values}


def run_bundle(bundle_dir: str, out_path: str, threads: int, target_s: float, passes: int = 2) -> dict:
    """Measure every model listed in a bundle's manifest and write the results JSON.

    With ``passes=2`` (the default, as ``nas latency build``) every layer is timed in two sweeps, minutes apart,
    and a third timing settles a key whose two disagree (:func:`two_sweeps`): one slow spell of the device
    cannot decide an entry. Results are written after every timing, so an interrupted run resumes where it
    stopped, in either sweep."""
    import onnxruntime as ort

    run = _BundleRun(bundle_dir, out_path, threads, target_s)
    run.first_sweep(passes)
    if passes == 2:
        run.second_sweep()
    run.time_networks()
    item = run.manifest["overhead"]
    overhead = time_onnx(os.path.join(bundle_dir, item["file"]), tuple(item["input_shape"]), run.reference, threads,
                         target_s=target_s)
    document = {
        "schema": RESULTS_SCHEMA,
        "bundle_id": run.manifest["bundle_id"],
        "host": host_description(),
        "runtime": "onnxruntime", "runtime_name": "ort-cpu", "runtime_version": ort.__version__,
        "provider": "CPUExecutionProvider",
        "threads": threads, "batch": 1,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "overhead_ms": overhead.ms,
        "reference_ms": run.reference.nominal_ms,
        "results": run.results,
        "networks": run.networks,
    }
    _write_json(out_path, document)
    if os.path.exists(out_path + ".partial"):
        os.remove(out_path + ".partial")
    return document


class _BundleRun:
    """One run of a bundle: its manifest, the probe, and the results so far (saved after every timing)."""

    def __init__(self, bundle_dir: str, out_path: str, threads: int, target_s: float) -> None:
        self.bundle_dir, self.out_path, self.threads, self.target_s = bundle_dir, out_path, threads, target_s
        with open(os.path.join(bundle_dir, "manifest.json")) as handle:
            self.manifest = json.load(handle)
        self.entries = self.manifest["entries"]
        self.results: dict[str, dict] = _partial_results(out_path, self.manifest["bundle_id"], "results",
                                                         self.entries)
        self.networks: dict[str, dict] = _partial_results(out_path, self.manifest["bundle_id"], "networks",
                                                          self.manifest.get("networks", {}))
        if self.results:
            print(f"runner: resuming, {len(self.results)} of {len(self.entries)} layers already measured",
                  file=sys.stderr)
        ref = self.manifest["reference"]
        for item in (ref, self.manifest["overhead"]):  # every model the timing depends on is checked
            self.checked(item)
        self.reference = Reference.from_onnx(os.path.join(bundle_dir, ref["file"]), tuple(ref["input_shape"]),
                                             threads)

    def checked(self, item: dict) -> str:
        """The path of a manifest item, after checking its file is the one the bundle wrote."""
        path = os.path.join(self.bundle_dir, item["file"])
        if sha256_file(path) != item["sha256"]:
            raise SystemExit(f"runner: {item['file']} does not match the manifest (corrupt copy?)")
        return path

    def time(self, path: str, shape: list, factor: float = 1.0) -> dict:
        return asdict(time_onnx(path, tuple(shape), self.reference, self.threads, target_s=self.target_s * factor))

    def save(self) -> None:
        _write_json(self.out_path + ".partial", {"bundle_id": self.manifest["bundle_id"], "results": self.results,
                                                 "networks": self.networks})

    def first_sweep(self, passes: int) -> None:
        started = time.time()
        for i, (key, item) in enumerate(sorted(self.entries.items()), 1):
            if key in self.results:
                continue
            timing = self.time(self.checked(item), item["input_shape"])
            self.results[key] = {**timing, **({"measurements": [timing["ms"]]} if passes == 2 else {})}
            self.save()
            elapsed = time.time() - started
            per_key = elapsed / i
            eta = per_key * (len(self.entries) - i) + (per_key * len(self.entries) if passes == 2 else 0)  # + sweep 2
            sweep = " sweep 1 of 2" if passes == 2 else ""
            print(f"\r[{i}/{len(self.entries)}{sweep}] {elapsed:6.0f}s elapsed, ETA {eta:6.0f}s", end="",
                  file=sys.stderr, flush=True)
        print(file=sys.stderr)

    def second_sweep(self) -> None:
        second = [key for key in sorted(self.entries) if len(self.results[key].get("measurements", [])) == 1]
        started = time.time()
        for i, key in enumerate(second, 1):
            item = self.entries[key]
            self.checked(item)  # every timing's model is checked first: a file swapped meanwhile is refused
            self.results[key] = two_sweeps(self.results[key],
                                           lambda factor, item=item: self.time(self.checked(item), item["input_shape"],
                                                                               factor))
            self.save()
            elapsed = time.time() - started
            print(f"\r[{i}/{len(second)} sweep 2 of 2] {elapsed:6.0f}s elapsed, "
                  f"ETA {elapsed / i * (len(second) - i):6.0f}s", end="", file=sys.stderr, flush=True)
        if second:
            print(file=sys.stderr)

    def time_networks(self) -> None:
        """Whole networks, after every layer."""
        for text, item in sorted(self.manifest.get("networks", {}).items()):
            if text in self.networks:
                continue
            self.networks[text] = self.time(self.checked(item), item["input_shape"])
            self.save()


def _write_json(path: str, document: dict) -> None:
    """Atomically: an interrupted write leaves the previous file, never half of one."""
    tmp = path + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(document, handle, indent=1, sort_keys=True)
    os.replace(tmp, path)


def _partial_results(out_path: str, bundle_id: str, part: str = "results", keys: object = ()) -> dict[str, dict]:
    """What an interrupted run of this bundle measured (written after every layer), so a rerun goes on from there.

    Why: a board run takes minutes to hours, and an interrupt must not lose what was measured. The file is checked
    as strictly as a results file is on import (every key of this bundle, every timing's fields finite numbers in
    range): a damaged one stops the runner with one line saying to delete it, never a traceback or a silent mix."""
    path = out_path + ".partial"
    if not os.path.exists(path):
        return {}
    try:
        with open(path) as handle:
            partial = json.load(handle)
    except (OSError, ValueError) as exc:
        raise SystemExit(f"runner: {path} is unreadable ({exc}); delete it to measure from the start") from None
    if not isinstance(partial, dict) or not isinstance(partial.get(part, {}), dict):
        raise SystemExit(f"runner: {path} is not this runner's partial results; delete it to measure from the start")
    if partial.get("bundle_id") != bundle_id:
        print(f"runner: {path} is of another bundle; measuring from the start", file=sys.stderr)
        return {}
    for key, timing in partial.get(part, {}).items():
        problem = _timing_problem(timing)
        if key not in keys or problem:
            why = problem or "not a model of this bundle"
            raise SystemExit(f"runner: {path}: {part} entry {key[:60]!r}: {why}; delete the file to measure from the "
                             "start")
    return dict(partial.get(part, {}))


def _timing_problem(timing: object) -> str:
    """What is wrong with one saved timing, or '': the rules ``nas latency import`` applies to a results file."""
    import math

    def number(value: object) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)

    if not isinstance(timing, dict):
        return f"a timing must be an object with ms, spread and n, got {type(timing).__name__}"
    if not number(timing.get("ms")) or not 0 < timing["ms"] <= 600_000:
        return f"ms must be a finite number in (0, 600000], got {timing.get('ms')!r}"
    if not number(timing.get("spread")) or not 0 <= timing["spread"] < 100:
        return f"spread must be a finite number >= 0, got {timing.get('spread')!r}"
    n = timing.get("n")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        return f"n must be a positive integer, got {n!r}"
    for field in ("steady", "chunks"):
        value = timing.get(field, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return f"{field} must be a whole number >= 0, got {value!r}"
    measurements = timing.get("measurements", [timing["ms"]])
    if not isinstance(measurements, list) or not 1 <= len(measurements) <= 3 \
            or not all(number(v) and v > 0 for v in measurements):
        return "measurements must be a list of 1-3 positive timings (the sweeps)"
    return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Measure a nas latency bundle on this device "
                                                 "(needs only python3, numpy and onnxruntime).")
    parser.add_argument("--bundle", default=os.path.dirname(os.path.abspath(__file__)),
                        help="bundle folder (default: the folder of this file)")
    parser.add_argument("--out", default="results.json", help="results file to write")
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads (default 1)")
    parser.add_argument("--target-seconds", type=float, default=0.3, help="timing per model (default 0.3 s)")
    parser.add_argument("--passes", type=int, choices=(1, 2), default=2,
                        help="2 (default): every layer in two sweeps, a third timing where they disagree by > 3 %%, "
                             "as nas latency build does; 1: one sweep, half the time, less steady on a busy device")
    args = parser.parse_args(argv)
    document = run_bundle(args.bundle, args.out, args.threads, args.target_seconds, args.passes)
    print(f"wrote {args.out}: {len(document['results'])} models, bundle {document['bundle_id']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
