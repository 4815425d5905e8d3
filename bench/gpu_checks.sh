#!/usr/bin/env bash
# One prepared GPU run: build and validate a torch-cuda latency table for every shipped
# space, and time the evaluator on the GPU. Run from the repository root on the GPU machine, with the
# compact CIFAR-10 copy carried along (NAS_DATA) and outputs collected under $OUT.
#   bash bench/gpu_checks.sh
# Needs: CUDA torch, the package installed (pip install -e .). Not yet run on a GPU: its results, when they
# exist, are in bench/results/ and docs/MEASUREMENTS.md.
set -euo pipefail
OUT=${OUT:-gpu_out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version --format=csv | tee "$OUT/gpu.txt"
python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" | tee -a "$OUT/gpu.txt"
name=gpu_$(python -c "import torch; print(torch.cuda.get_device_name(0).split()[-1].lower())")
nas latency build --device "$name" --runtime torch-cuda --target-seconds 0.2 2>&1 | tail -3 | tee "$OUT/build.txt"
nas latency validate --device "$name" --fit --fit-samples 30 --samples 100 2>&1 | tail -8 | tee "$OUT/validate.txt"
python - <<'PY' | tee "$OUT/train_gpu.txt"
import time, torch
from nas.data import load_cifar10
from nas.search.config import DEFAULT_RUNGS
from nas.space import resolve_arch, load_space
from nas.train import Fidelity, train
data = load_cifar10(download=False)
arch = load_space("ghost_mbv2").sample_random(1, seed=0)[0]
r, _ = train(arch, data, DEFAULT_RUNGS[0]); print(f"default trial {r.seconds:.1f}s acc {r.accuracy:.3f}")
r, _ = train(resolve_arch("mobilenet_v2_1.0"), data, Fidelity(epochs=1, subset=None, batch_size=256, lr=0.4))
print(f"mobilenet_v2_1.0 one epoch of 48k images: {r.seconds:.1f}s ({r.images_per_second:.0f} img/s) acc {r.accuracy:.3f}")
PY
cp "latency_tables/$name.json" latency_tables/reports/"$name"_* "$OUT/" 2>/dev/null || true
