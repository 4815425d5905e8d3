"""The Ray backend against the default backend, through the CLI on a real two-node Ray cluster on this machine.

Two measurements, each against the Optuna backend in the same run:

* **finalists** (``--part finalists``): ``nas search --accuracy tabular`` on NAS-Bench-Macro at the regret bench's
  cells (cpu_x86 and rpi4; the 25th / 50th / 75th latency percentiles of the space; seeds 0-4), once per backend.
  The Ray runs compute every NASWOT score in Ray tasks; the Optuna runs score on the driver. Reported: how many
  cells return the same finalist, and each backend's median regret (points of 50-epoch accuracy below the best
  feasible network, as ``bench/search_regret.py``).
* **overhead** (``--part overhead``): the default search with tiny rungs (pre-screen, NASWOT screen, two rungs,
  baseline, finalist), 2 workers, 1 torch thread each: ``--backend optuna`` against ``--backend ray --address`` on
  a head and a worker node of 1 CPU each. Reported: each wall time and the ratio (Ray / Optuna), alternating the
  backends ``--repeats`` times; the target is Ray's overhead <= 15 % of the search's wall time.

The cluster is started with token authentication, as a user's would be, and stopped at the end. Writes
``bench/results/ray_backend.json``.

    python bench/ray_backend.py --data $NAS_DATA [--part finalists|overhead|both]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from regret_arms import nas_bench_macro  # noqa: E402

from nas.fileio import merge_json_object  # noqa: E402
from nas.latency.table import load_table  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "ray_backend.json"
BUDGETS = {"tight": 25, "middle": 50, "loose": 75}
TINY_RUNGS = [{"epochs": 1, "subset": 2000, "batch_size": 32, "val_size": 1000, "lr": 0.02, "resolution": 16},
              {"epochs": 1, "subset": 3000, "batch_size": 32, "val_size": 1000, "lr": 0.03}]
"""The default rungs at one epoch each."""


class TwoNodes:
    """A head and a worker node of 1 CPU each, each ``ray start`` in its own process group (stopped exactly)."""

    def __init__(self, env: dict[str, str]) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.address, self.env, self.groups = f"127.0.0.1:{self.port}", env, []
        ray = shutil.which("ray") or str(Path(sys.executable).with_name("ray"))
        for head in (True, False):
            argv = [ray, "start", *(["--head", f"--port={self.port}", "--include-dashboard=false"] if head else
                                    [f"--address={self.address}"]),
                    "--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats"]
            process = subprocess.Popen(argv, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
            process.wait(timeout=180)
            self.groups.append(process.pid)

    def stop(self) -> None:
        for group in self.groups[::-1]:
            try:
                os.killpg(group, signal.SIGKILL)
            except ProcessLookupError:
                pass


def nas(argv: list[str], env: dict[str, str]) -> float:
    """Run ``nas`` as a user does; its wall time in seconds."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "nas", *argv], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"nas {' '.join(argv)}: {result.stderr[-2000:]}")
    return time.perf_counter() - started


def finalist(run: Path) -> str:
    summary = json.loads((run / "pareto.json").read_text())
    return next(p["arch"] for p in summary["front"] if p["id"] == summary["best_id"])


def finalists(cluster: TwoNodes, env: dict[str, str], data: str | None, seeds: int, runs: Path) -> dict:
    ground = nas_bench_macro()
    cells = {}
    for device in ("cpu_x86", "rpi4"):
        latency = load_table(device).compile().predict_many(ground.archs)
        for budget_name, percentile in BUDGETS.items():
            budget = float(np.percentile(latency, percentile))
            best = float(ground.truth[latency <= budget].max())
            for seed in range(seeds):
                key = f"{device}/{budget_name}/{seed}"
                common = ["search", "--space", "nas_bench_macro", "--device", device, "--budget", f"{budget:.6f}ms",
                          "--accuracy", "tabular", "--seed", str(seed), "--workers", "2", "--threads", "1",
                          "--runs-dir", str(runs), *(["--data", data] if data else [])]
                cell: dict = {"budget_ms": budget}
                for backend, extra in (("optuna", []), ("ray", ["--address", cluster.address])):
                    name = f"{device}_{budget_name}_{seed}_{backend}"
                    cell[f"{backend}_seconds"] = nas([*common, "--backend", backend, *extra, "--name", name], env)
                    arch = finalist(runs / name)
                    cell[f"{backend}_arch"] = arch
                    cell[f"{backend}_regret"] = best - float(ground.truth[ground.by_text[arch]])
                cell["same_finalist"] = cell["optuna_arch"] == cell["ray_arch"]
                cells[key] = cell
                print(key, cell["same_finalist"], round(cell["optuna_regret"], 2), round(cell["ray_regret"], 2),
                      f"{cell['optuna_seconds']:.0f}s / {cell['ray_seconds']:.0f}s", flush=True)
    groups: dict[str, list[dict]] = {}
    for key, cell in cells.items():
        groups.setdefault(key.rsplit("/", 1)[0], []).append(cell)
    return {"cells": cells, "same_finalist": f"{sum(c['same_finalist'] for c in cells.values())} of {len(cells)}",
            "median_regret": {group: {b: statistics.median(c[f"{b}_regret"] for c in rows) for b in ("optuna", "ray")}
                              for group, rows in groups.items()}}


def overhead(cluster: TwoNodes, env: dict[str, str], data: str | None, repeats: int, runs: Path) -> dict:
    from nas.search.config import SearchConfig

    config = SearchConfig(space="ghost_mbv2", device="rpi4", budget="30ms", trials=4, screen_factor=2, workers=2,
                          threads=1, eta=2, baseline_seeds=1, finalist_seeds=2, rungs=TINY_RUNGS, data=data or "synthetic")
    config.save(runs / "tiny.yaml")
    times: dict[str, list[float]] = {"optuna": [], "ray": []}
    fronts: dict[str, list[str]] = {"optuna": [], "ray": []}
    for repeat in range(repeats):
        for backend, extra in (("optuna", []), ("ray", ["--address", cluster.address])):
            name = f"tiny_{backend}_{repeat}"
            times[backend].append(nas(["search", "--config", str(runs / "tiny.yaml"), "--backend", backend, *extra,
                                       "--runs-dir", str(runs), "--name", name], env))
            fronts[backend].append(json.dumps(json.loads((runs / name / "pareto.json").read_text())["front"]))
            print(backend, repeat, f"{times[backend][-1]:.1f} s", flush=True)
    ratios = [r / o for r, o in zip(times["ray"], times["optuna"])]
    return {"config": "ghost_mbv2, rpi4, 30 ms, 4 trained of 8 screened, the default rungs at 1 epoch (2,000 images "
                      "at 16 px / 3,000 at 32 px), eta 2, 2 workers x 1 thread; Ray: a head and a worker node of 1 CPU "
                      "each",
            "optuna_seconds": times["optuna"], "ray_seconds": times["ray"], "ratios": ratios,
            "median_ratio": statistics.median(ratios), "target": "ratio <= 1.15",
            "same_front": all(f == fronts["optuna"][0] for f in fronts["optuna"] + fronts["ray"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("NAS_DATA"))
    parser.add_argument("--part", default="both", choices=("finalists", "overhead", "both"))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16),
           "RAY_USAGE_STATS_ENABLED": "0"}
    runs = Path(tempfile.mkdtemp(prefix="nas-ray-bench-"))
    cluster = TwoNodes(env)
    try:
        if args.part in ("finalists", "both"):
            merge_json_object(OUT, {"finalists": finalists(cluster, env, args.data, args.seeds, runs)})
        if args.part in ("overhead", "both"):
            merge_json_object(OUT, {"overhead": overhead(cluster, env, args.data, args.repeats, runs)})
    finally:
        cluster.stop()
        shutil.rmtree(runs, ignore_errors=True)
    print(json.dumps({k: v for k, v in json.loads(OUT.read_text()).items()}, indent=1)[:3000])


if __name__ == "__main__":
    main()
