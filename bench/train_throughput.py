"""Training throughput of the evaluator vs a straightforward reference loop, and default-trial cost.

1. MobileNetV2-0.5 (CIFAR form), same data, same steps, same threads:
   * reference: torch DataLoader over a Dataset of per-image tensors with per-image transforms
     (pad-crop, flip, normalise), NCHW model, ``shuffle=True``;
   * evaluator: ``nas.train.train`` (uint8 tensors in memory, batched gather augmentation,
     channels_last).
   Reports images/s for both and the ratio (target >= 1.5).
2. Seconds of a default search trial (rung 0: short training + evaluation) for archs of ghost_mbv2
   around the median of its MAC distribution (target <= 90 s for a median arch).

    python bench/train_throughput.py [--steps 30] [--repeats 4] [--trial-archs 5]

Needs real CIFAR-10 ($NAS_DATA or --data). Writes bench/results/train_throughput.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset

from nas.cost import arch_cost
from nas.data import load_cifar10
from nas.latency.ortbench import host_description
from nas.model import build
from nas.search.config import DEFAULT_RUNGS
from nas.space import load_space, resolve_arch
from nas.train import MEAN, STD, Fidelity, set_threads, train

RESULTS = Path(__file__).resolve().parent / "results"


class PerImage(TorchDataset):
    """The textbook pipeline: one image at a time, transforms per image."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.images = [torch.from_numpy(x) for x in images]
        self.labels = labels
        self.mean = torch.tensor(MEAN).view(3, 1, 1)
        self.std = torch.tensor(STD).view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        x = torch.nn.functional.pad(self.images[i].float(), (4, 4, 4, 4))
        dy, dx = np.random.randint(0, 9, 2)
        x = x[:, dy:dy + 32, dx:dx + 32]
        if np.random.rand() < 0.5:
            x = x.flip(2)
        return (x - self.mean) / self.std, int(self.labels[i])


def _vector_isa() -> str:
    """The widest x86 vector extension the kernels can use: the ratio moved between VMs with and without AVX-512."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return "unknown"
    return next((isa for isa in ("avx512_bf16", "avx512f", "avx2") if isa in flags), "other")


def reference_loop(images: np.ndarray, labels: np.ndarray, steps: int, batch: int) -> float:
    torch.manual_seed(0)
    model = build(resolve_arch("mobilenet_v2_0.5")).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    loader = DataLoader(PerImage(images, labels), batch_size=batch, shuffle=True, drop_last=True)
    criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
    seen, start = 0, time.perf_counter()
    for step, (x, y) in enumerate(loader):
        if step == steps:
            break
        loss = criterion(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        seen += len(y)
    return seen / (time.perf_counter() - start)


def evaluator_loop(data, steps: int, batch: int) -> float:  # noqa: ANN001
    subset = steps * batch
    fidelity = Fidelity(epochs=1, subset=subset, batch_size=batch, val_size=100, lr=0.05)
    result, _ = train(resolve_arch("mobilenet_v2_0.5"), data, fidelity, seed=0, device=torch.device("cpu"))
    return result.train_images / (result.seconds - 0)  # validation of 100 images is inside: a slight handicap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--trial-archs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=4, help="alternating reference/evaluator pairs (median ratio)")
    args = parser.parse_args()
    threads = set_threads()
    data = load_cifar10(args.data, download=False)
    rows = []
    for repeat in range(args.repeats):  # alternate to spread machine noise over both
        ref = reference_loop(data.train_x[:20_000], data.train_y[:20_000], args.steps, args.batch)
        ours = evaluator_loop(data, args.steps, args.batch)
        rows.append({"reference_images_per_s": ref, "evaluator_images_per_s": ours, "ratio": ours / ref})
        print(f"repeat {repeat}: reference {ref:7.1f} img/s   evaluator {ours:7.1f} img/s   ratio {ours / ref:.2f}")
    space = load_space("ghost_mbv2")
    archs = space.sample_random(400, seed=123)
    macs = np.array([arch_cost(a).macs for a in archs])
    order = np.argsort(np.abs(macs - np.median(macs)))[: args.trial_archs]
    trials = []
    for i in order:
        start = time.perf_counter()
        result, _ = train(archs[i], data, DEFAULT_RUNGS[0], seed=0, device=torch.device("cpu"))
        seconds = time.perf_counter() - start
        trials.append({"arch": str(archs[i]), "mmacs": macs[i] / 1e6, "seconds": seconds, "accuracy": result.accuracy})
        print(f"default trial ({DEFAULT_RUNGS[0].label()}): {macs[i] / 1e6:6.1f} MMACs  {seconds:5.1f} s  "
              f"acc {result.accuracy:.3f}")
    secs = [t["seconds"] for t in trials]
    summary = {
        "bench": "train_throughput", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": {**host_description(), "vector_isa": _vector_isa(), "torch_threads": threads},
        "model": "mobilenet_v2_0.5 (CIFAR form)", "steps": args.steps, "batch": args.batch, "repeats": rows,
        "ratio_median": float(np.median([r["ratio"] for r in rows])),
        "ratio_range": [float(min(r["ratio"] for r in rows)), float(max(r["ratio"] for r in rows))],
        "images_per_s_median": {"reference": float(np.median([r["reference_images_per_s"] for r in rows])),
                                "evaluator": float(np.median([r["evaluator_images_per_s"] for r in rows]))},
        "default_trial": {"fidelity": DEFAULT_RUNGS[0].label(), "archs": trials, "seconds_median": float(np.median(secs)),
                          "seconds_min": float(min(secs)), "seconds_max": float(max(secs)),
                          "space_median_mmacs": float(np.median(macs) / 1e6)},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "train_throughput.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(f"\nevaluator / reference: {summary['ratio_median']:.2f}x; default trial median {np.median(secs):.1f} s "
          f"(range {min(secs):.1f}-{max(secs):.1f}) -> bench/results/train_throughput.json")


if __name__ == "__main__":
    main()
