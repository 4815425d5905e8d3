"""How long ``nas export`` of a run's front takes, against one top-rung training of each exported arch, in one run.

Through the user's path: ``nas export RUN`` in a fresh process, as a user runs it (weights, ONNX with its parity
check, latency on this host, the official test set, for every arch on the front). The baseline is what the search
itself spends on such an arch: one training at the run's top rung (the same fidelity and seed, the same torch
threads), timed here just after the export, so that the ratio is of two things measured on the same machine in the
same minutes (the machines are shared and noisy; ratios, not absolute times).

    python bench/export_time.py --run runs/NAME          # a finished run (the default search's, for the target)
    python bench/export_time.py --search                 # first run the default search (needs real CIFAR-10)

Target: the export takes at most 3x one top-rung training per arch. Writes bench/results/export_time.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
TARGET_RATIO = 3.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default=None, help="a finished run folder (default: run the default search first)")
    parser.add_argument("--search", action="store_true", help="run `nas search` on its defaults first")
    parser.add_argument("--conditions", default="2 torch threads", help="what else ran on the machine")
    args = parser.parse_args()
    if bool(args.run) == args.search:
        sys.exit("give --run RUN or --search")
    if args.search:
        name = time.strftime("bench_export_%Y%m%d_%H%M%S")
        subprocess.run([sys.executable, "-m", "nas", "search", "--name", name], check=True, env=os.environ.copy())
        run = Path("runs") / name
    else:
        run = Path(args.run)
    shutil.rmtree(run / "export", ignore_errors=True)  # a fresh export each time
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "nas", "export", str(run)], check=True, capture_output=True, text=True,
                         env=os.environ.copy())
    export_s = time.perf_counter() - started
    print(out.stdout)
    training = _top_rung_trainings(run)
    ratio = export_s / sum(training.values())
    result = {
        "run": str(run), "archs": len(training), "export_seconds": export_s,
        "top_rung_training_seconds": training, "ratio_export_to_trainings": ratio,
        "target_ratio": TARGET_RATIO, "met": ratio <= TARGET_RATIO, "conditions": args.conditions,
        "host": _host(), "export_summary": out.stdout.strip().splitlines()[-len(training) - 1:],
        "command": "python bench/export_time.py " + (f"--run {args.run}" if args.run else "--search"),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "export_time.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"export {export_s:.0f} s for {len(training)} arch(s); one top-rung training each {sum(training.values()):.0f} s; "
          f"ratio {ratio:.2f} (target <= {TARGET_RATIO:g})")


def _top_rung_trainings(run: Path) -> dict[str, float]:
    """Seconds of one training at the run's top rung for each front arch, in this process (the search's trainer)."""
    from nas.arch import parse_arch
    from nas.data import load_cifar10
    from nas.search.run_folder import RunFolder
    from nas.train import set_threads, train

    folder = RunFolder(run)
    config = folder.config()
    fidelity = config.fidelities[-1]
    data = load_cifar10(config.data, download=False)
    set_threads(None)  # every core, as nas export uses
    seconds = {}
    for point in folder.pareto()["front"]:
        started = time.perf_counter()
        train(parse_arch(point["arch"]), data, fidelity, seed=config.seed)
        seconds[point["id"]] = time.perf_counter() - started
    return seconds


def _host() -> str:
    from nas.latency.host import this_processor

    return f"{this_processor()}, {os.cpu_count()} cores"


if __name__ == "__main__":
    main()
