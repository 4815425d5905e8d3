"""The CUDA paths (runtime torch-cuda, training on the GPU); they run only where CUDA is present."""

from __future__ import annotations

import pytest
import torch

from nas.arch import parse_arch
from nas.data import synthetic_cifar
from nas.latency.measure import Runtime, RuntimeUnavailable
from nas.train import Fidelity, train

TINY = parse_arch("r16_w1-stem_c16_k3_s2-ir_k3_e3_c24_s2-ir_k3_e3_c32_s2-head_c64")
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this host")


@cuda
def test_torch_cuda_runtime_times_a_layer() -> None:
    timer = Runtime("torch-cuda").timer()
    timing = timer.time_layer(TINY.layers()[1], target_s=0.1)
    assert timing.ms > 0 and timing.n > 0
    assert Runtime("torch-cuda").describe()["gpu"]


@cuda
def test_training_on_the_gpu_learns_the_synthetic_set() -> None:
    result, model = train(TINY, synthetic_cifar(), Fidelity(epochs=2, subset=2000, val_size=500, batch_size=64, lr=0.1),
                          device=torch.device("cuda"))
    assert result.accuracy > 0.6 and next(model.parameters()).is_cuda


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on hosts without CUDA")
def test_cuda_runtime_without_a_gpu_says_so() -> None:
    with pytest.raises(RuntimeUnavailable, match="needs a CUDA GPU"):
        Runtime("torch-cuda")
