"""MeCo (Jiang, Wang and Bie, "Zero-cost Proxy for Neural Architecture Search by Minimum Eigenvalue of Correlation
on Feature Maps", NeurIPS 2023), written from the paper.

For one input image X and an untrained network, each convolution's output f_i(X) is a c_i x (h_i w_i) matrix: its
channels are the variables and its positions the observations. MeCo is the sum over layers of the smallest
eigenvalue of the channels' Pearson correlation matrix. The paper's argument: a larger smallest eigenvalue keeps the
layer's features less redundant, which it links to trainability and generalisation; it reports MeCo above NASWOT
and synflow on NATS-Bench and NAS-Bench-101/301.

What this implementation decides where the paper leaves room:
- the feature maps are every Conv2d's output, in training mode at initialisation (the paper's choice of layers
  is its convolutions);
- a layer with fewer than two positions (the squeeze-excite convs on pooled vectors) has no correlation and is
  skipped;
- a channel that is constant over the positions has no correlation; its row is set to 0, as the authors' code
  does with NaNs;
- the image is the first of the proxy minibatch, at the arch's resolution.
"""

from __future__ import annotations

import time

import torch
from torch import nn

from nas.accuracy.estimator import Score
from nas.arch import Arch
from nas.model import build


def meco(arch: Arch, image: torch.Tensor, seed: int = 0) -> float:
    """The MeCo score of ``arch`` for one normalised image (1, 3, H, W) at its resolution."""
    torch.manual_seed(seed)
    model = build(arch).train()
    total = [0.0]

    def hook(module: nn.Module, inputs: tuple[torch.Tensor], output: torch.Tensor) -> None:
        maps = output.detach()[0].flatten(1).double()  # channels x positions
        if maps.shape[1] < 2 or maps.shape[0] < 2:
            return
        correlation = torch.nan_to_num(torch.corrcoef(maps), nan=0.0)
        total[0] += float(torch.linalg.eigvalsh(correlation)[0])

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        model(image)
    for handle in handles:
        handle.remove()
    return total[0]


class MecoEstimator:
    name = "meco"
    cost = "zero-cost"

    def __init__(self, image: torch.Tensor, seed: int = 0) -> None:
        self.image, self.seed = image, seed

    def score(self, arch: Arch) -> Score:
        started = time.process_time()
        image = self.image
        if image.shape[-1] != arch.resolution:
            image = nn.functional.interpolate(image, size=(arch.resolution, arch.resolution), mode="bilinear",
                                              align_corners=False)
        value = meco(arch, image, self.seed)
        return Score(value, f"zero-cost: meco, 1 image, init seed {self.seed}", time.process_time() - started)


def make(name: str, data: object, seed: int = 0) -> MecoEstimator:
    """The registry's factory: the first image of the proxy minibatch every zero-cost proxy uses."""
    from nas.accuracy.zero_cost import proxy_batch

    images, _ = proxy_batch(data, seed=seed)
    return MecoEstimator(images[:1], seed)
