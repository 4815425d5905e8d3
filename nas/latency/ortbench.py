"""Timing core for ONNX Runtime, with no dependency beyond numpy and onnxruntime.

This file is also the *bundle runner*: ``nas latency bundle`` copies it verbatim next to the ONNX
files of a space, so a device that cannot run torch (a Raspberry Pi, a phone-class board) measures
with exactly the protocol the host uses. Keep it standalone: standard library, numpy, onnxruntime.

Protocol. The machines this runs on are shared and noisy (here: a 2-core VM whose absolute batch-1
timings of one network move by 15-80 % between runs while the load is idle). Every timing is therefore
taken *relative to a reference network* measured in alternating chunks (R I R I ... R): interference
slows both alike and cancels in the ratio (measured here: range over repeats fell from 17-85 % to
1-20 %). A model's latency is ``median(item chunk / mean of its neighbouring reference chunks)`` times
the reference's nominal latency, which a table measures once, at length, and records in its
metadata, so that every entry and every later validation is in the same units. Spread is the
inter-quartile range of the per-chunk ratios over their median; ``n`` the runs of the item. The
fixed cost of one ``session.run`` call is measured the same way on an identity graph
(:func:`overhead_model`) so that a sum of per-block latencies counts it once per network.
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


@dataclass(frozen=True)
class Timing:
    """Median milliseconds of one inference, relative spread of chunk medians, runs kept."""

    ms: float
    spread: float
    n: int


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


def time_callable(run: Callable[[], object], target_s: float = 0.3, chunks: int = 5) -> Timing:
    """Absolute timing: median of chunk medians (used for the reference itself)."""
    per_chunk = _runs_for(run, target_s / chunks)
    values = np.array([_chunk(run, per_chunk) for _ in range(chunks)]) * 1e3
    ms = float(np.median(values))
    q75, q25 = np.percentile(values, [75, 25])
    return Timing(ms, float((q75 - q25) / ms), per_chunk * chunks)


def time_relative(run: Callable[[], object], reference: Callable[[], object], reference_ms: float,
                  target_s: float = 0.3, chunks: int = 8) -> Timing:
    """Latency of ``run`` as a ratio to ``reference`` measured in alternating chunks, times ``reference_ms``."""
    chunk_s = target_s / (2 * chunks + 1)
    per_item, per_ref = _runs_for(run, chunk_s), _runs_for(reference, chunk_s)
    refs = [_chunk(reference, per_ref)]
    ratios = []
    for _ in range(chunks):
        item = _chunk(run, per_item)
        refs.append(_chunk(reference, per_ref))
        ratios.append(item / ((refs[-1] + refs[-2]) / 2))
    values = np.array(ratios)
    ratio = float(np.median(values))
    q75, q25 = np.percentile(values, [75, 25])
    return Timing(ratio * reference_ms, float((q75 - q25) / ratio), per_item * chunks)


class Reference:
    """The reference network every timing is taken relative to, with its nominal latency."""

    def __init__(self, run: Callable[[], object], nominal_ms: float | None = None) -> None:
        self.run = run
        self.nominal_ms = nominal_ms if nominal_ms is not None else time_callable(run, 3.0, 15).ms

    @classmethod
    def from_onnx(cls, model: bytes | str, input_shape: tuple[int, ...], threads: int = 1,
                  provider: str = "CPUExecutionProvider", nominal_ms: float | None = None) -> Reference:
        sess = session(model, threads, provider)
        feed = {sess.get_inputs()[0].name: _input(input_shape)}
        return cls(lambda: sess.run(None, feed), nominal_ms)


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
    return time_relative(lambda: sess.run(None, feed), reference.run, reference.nominal_ms, target_s)


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
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith(("model name", "Model", "Hardware")):
                    processor = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"machine": platform.machine(), "processor": processor, "system": platform.system(),
            "python": platform.python_version(), "cpus": str(os.cpu_count())}


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def run_bundle(bundle_dir: str, out_path: str, threads: int, target_s: float) -> dict:
    """Measure every model listed in a bundle's manifest and write the results JSON."""
    import onnxruntime as ort

    with open(os.path.join(bundle_dir, "manifest.json")) as handle:
        manifest = json.load(handle)
    results: dict[str, dict] = {}
    entries = manifest["entries"]
    ref = manifest["reference"]
    reference = Reference.from_onnx(os.path.join(bundle_dir, ref["file"]), tuple(ref["input_shape"]), threads)
    started = time.time()
    for i, (key, item) in enumerate(sorted(entries.items()), 1):
        path = os.path.join(bundle_dir, item["file"])
        if sha256_file(path) != item["sha256"]:
            raise SystemExit(f"runner: {item['file']} does not match the manifest (corrupt copy?)")
        timing = time_onnx(path, tuple(item["input_shape"]), reference, threads, target_s=target_s)
        results[key] = asdict(timing)
        elapsed = time.time() - started
        eta = elapsed / i * (len(entries) - i)
        print(f"\r[{i}/{len(entries)}] {elapsed:6.0f}s elapsed, ETA {eta:6.0f}s", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    item = manifest["overhead"]
    overhead = time_onnx(os.path.join(bundle_dir, item["file"]), tuple(item["input_shape"]), reference, threads,
                         target_s=target_s)
    document = {
        "schema": RESULTS_SCHEMA,
        "bundle_id": manifest["bundle_id"],
        "host": host_description(),
        "runtime": "onnxruntime", "runtime_version": ort.__version__, "provider": "CPUExecutionProvider",
        "threads": threads, "batch": 1,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "overhead_ms": overhead.ms,
        "reference_ms": reference.nominal_ms,
        "results": results,
    }
    tmp = out_path + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(document, handle, indent=1, sort_keys=True)
    os.replace(tmp, out_path)
    return document


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Measure a nas latency bundle on this device "
                                                 "(needs only python3, numpy and onnxruntime).")
    parser.add_argument("--bundle", default=os.path.dirname(os.path.abspath(__file__)),
                        help="bundle folder (default: the folder of this file)")
    parser.add_argument("--out", default="results.json", help="results file to write")
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads (default 1)")
    parser.add_argument("--target-seconds", type=float, default=0.3, help="timing per model (default 0.3 s)")
    args = parser.parse_args(argv)
    document = run_bundle(args.bundle, args.out, args.threads, args.target_seconds)
    print(f"wrote {args.out}: {len(document['results'])} models, bundle {document['bundle_id']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
