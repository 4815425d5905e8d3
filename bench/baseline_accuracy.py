"""Hand-designed baselines trained with the long recipe this CPU affords: do they reach sensible accuracies?

The search compares archs at a few-thousand-image fidelity where CIFAR-10 accuracies are 20-40 %.
This bench checks the evaluator itself on the other end: the full training set (48,000 images; 2,000
held out for validation), several epochs, batch 128, one-cycle SGD (Nesterov, label smoothing, no
weight decay on BN/bias), then the official test set. A recipe that cannot bring a MobileNetV2 well
above the short-training range would make every search result suspect.

Published anchor (different budget, for scale only): MobileNetV2 1.0 reaches about 94 % on CIFAR-10
with 200 epochs and standard augmentation in public reproductions; 200 epochs of 48,000 images is
about 40x what this bench can afford per baseline on 2 cores.

    python bench/baseline_accuracy.py [--epochs 4] [--baselines shufflenet_v2_0.5 ghostnet_0.5 ...]

Resumable: a baseline already in the results file with the same recipe is not trained again.
Needs real CIFAR-10 ($NAS_DATA or --data). Writes bench/results/baseline_accuracy.json after each one.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from nas.cost import arch_cost
from nas.data import load_cifar10
from nas.fileio import atomic_write_text
from nas.space import resolve_arch
from nas.train import Fidelity, evaluate_test, set_threads, train

RESULTS = Path(__file__).resolve().parent / "results"
OUT = RESULTS / "baseline_accuracy.json"
DEFAULT_BASELINES = ("shufflenet_v2_0.5", "ghostnet_0.5", "mobilenet_v2_0.5")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baselines", nargs="+", default=list(DEFAULT_BASELINES))
    parser.add_argument("--epochs", type=float, default=4)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--data", default=None)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    threads = set_threads(args.threads)
    recipe = Fidelity(epochs=args.epochs, subset=None, batch_size=args.batch, lr=args.lr, val_size=2_000)
    data = load_cifar10(args.data, download=False)
    document = json.loads(OUT.read_text()) if OUT.is_file() else {"bench": "baseline_accuracy", "rows": {}}
    rows: dict[str, dict] = document["rows"]
    for name in args.baselines:
        if rows.get(name, {}).get("recipe") == recipe.label():
            continue
        arch = resolve_arch(name)
        started = time.perf_counter()
        result, model = train(arch, data, recipe, seed=0, device=torch.device("cpu"), progress=True)
        test = evaluate_test(model, data, arch.resolution)
        cost = arch_cost(arch)
        rows[name] = {"recipe": recipe.label(), "val_history": result.history, "val_accuracy": result.accuracy,
                      "test_accuracy": test, "train_images": result.train_images, "seconds": time.perf_counter() - started,
                      "images_per_second": result.images_per_second, "mmacs": cost.macs / 1e6, "params": cost.params}
        document.update({"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "torch_threads": threads,
                         "host": {"processor": platform.processor(), "cpus": os.cpu_count()},
                         "data": data.source, "anchor": "MobileNetV2 1.0, 200 epochs: about 94 % (public reproductions)"})
        RESULTS.mkdir(exist_ok=True)
        atomic_write_text(OUT, json.dumps(document, indent=1) + "\n")
        print(f"{name}: test {test * 100:.2f} % (val by epoch {', '.join(f'{v * 100:.1f}' for v in result.history)}) "
              f"in {rows[name]['seconds'] / 60:.1f} min", flush=True)
    print(f"\n{'baseline':20} {'MMACs':>6} {'recipe':>26} {'val %':>6} {'test %':>7} {'min':>5}")
    for name, row in rows.items():
        print(f"{name:20} {row['mmacs']:6.1f} {row['recipe']:>26} {row['val_accuracy'] * 100:6.1f} "
              f"{row['test_accuracy'] * 100:7.2f} {row['seconds'] / 60:5.1f}")


if __name__ == "__main__":
    main()
