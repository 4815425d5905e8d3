"""Zero-cost proxies: defined, finite and deterministic on untrained nets."""

from __future__ import annotations

import math

import torch

from nas.proxies import naswot, synflow
from nas.space import load_space


def test_proxies_are_finite_and_deterministic() -> None:
    archs = load_space("ghost_mbv2").sample_random(2, seed=0)
    images = torch.randn(16, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    for arch in archs:
        score = naswot(arch, images)
        assert math.isfinite(score) and score == naswot(arch, images)
        flow = synflow(arch)
        assert math.isfinite(flow) and flow == synflow(arch)
    # a bigger net at the same width carries more synaptic flow
    small, large = load_space("mbv2").extremes(1.0, 32)
    assert synflow(large) > synflow(small)
