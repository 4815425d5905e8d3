"""Hand-designed baselines load and match their published parameter counts.

How the check works: the CIFAR forms change only strides (which cost no parameters) and the
classifier (10 classes instead of 1000). So each baseline is rebuilt with a 1000-class classifier and
compared with the published ImageNet count:

* MobileNetV2 1.0x: torchvision's 3,504,872, plus 1,088 for the 1x1 expansion conv our t=1 block
  keeps (FBNet's block definition; 32*32 weights + 64 BN parameters): exact.
* ShuffleNetV2 0.5x / 1.0x: torchvision's 1,366,792 / 2,278,604: exact.
* GhostNet 1.0x / 0.5x: the paper's 5.2M / 2.6M (timm: 5.18M), given to 2 significant digits.
* MobileNetV2 0.5x / 0.75x: 1.97M (timm mobilenetv2_050) and 2.61M (paper, TF count without BN):
  within 2 %.
"""

from __future__ import annotations

import dataclasses

import pytest

from nas.cost import arch_cost
from nas.model import build
from nas.space import available_baselines, resolve_arch

PUBLISHED = {
    "mobilenet_v2_1.0": (3_504_872 + 1_088, 0.0),
    "mobilenet_v2_0.75": (2_610_000, 0.02),
    "mobilenet_v2_0.5": (1_970_000, 0.01),
    "shufflenet_v2_1.0": (2_278_604, 0.0),
    "shufflenet_v2_0.5": (1_366_792, 0.0),
    "ghostnet_1.0": (5_200_000, 0.01),
    "ghostnet_0.5": (2_600_000, 0.01),
}


def test_every_required_baseline_is_shipped() -> None:
    assert set(PUBLISHED) == set(available_baselines())


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_baseline_matches_published_params(name: str) -> None:
    arch = resolve_arch(name)
    imagenet_head = dataclasses.replace(arch, num_classes=1000)
    params = sum(p.numel() for p in build(imagenet_head).parameters())
    assert params == arch_cost(imagenet_head).params
    published, tolerance = PUBLISHED[name]
    assert abs(params - published) <= tolerance * published, (params, published)
    # the CIFAR form downsamples 8x: 32 -> 4 before the head
    assert arch.layers()[-1].hw == 4 and arch.num_classes == 10
