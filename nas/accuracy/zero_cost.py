"""Zero-cost proxies: scores of an untrained network from one minibatch (or none), in a second or two.

* NASWOT (Mellor et al., ICML 2021): how differently the ReLUs of an untrained net partition one
  minibatch: log-determinant of the Hamming-similarity kernel of the binary activation codes.
* synflow (Tanaka et al., NeurIPS 2020): data-free "synaptic flow", sum of |theta * dR/dtheta| with
  all weights made positive and an all-ones input, computed in float64 to avoid overflow.
* grad_norm and snip, as zero-cost proxies (Abdelfattah et al., ICLR 2021): the summed L2 norm of
  the loss gradients of one minibatch, and the summed saliency |theta * dL/dtheta| (Lee et al., ICLR
  2019) over conv and linear weights.
* jacov (Mellor et al., 2020, the first NASWOT version): how uncorrelated the input Jacobians of a
  minibatch are, from the eigenvalues of their correlation matrix.

Each is a screening signal whose worth is measured against published full training
(``bench/accuracy_fidelity.py``), not assumed.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nas.accuracy.estimator import Score
from nas.arch import Arch
from nas.model import build


def _weights(model: nn.Module) -> list[torch.Tensor]:
    return [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


NASWOT_ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.Hardswish, nn.SiLU)
"""Activations whose units give NASWOT a binary code: each unit's code is whether its input is positive, the side of
zero it is on (for ReLU, whether it is active; swish and hard-swish are near zero below it and near identity above
it). Their output is positive exactly when their input is, so the code is read from the output (in-place modules
overwrite their input)."""
EXACT_CHUNK = 1 << 22
"""Units per float32 product: sums of 0/1 products stay exact integers in float32 up to 2^24."""


def naswot(arch: Arch, images: torch.Tensor, seed: int = 0) -> float:
    """NASWOT score on a normalised float batch (N, 3, H, W) at the arch's resolution.

    The Hamming-similarity kernel is accumulated activation by activation, ``K += c c^T + (1 - c)(1 - c)^T`` for each
    layer's binary codes ``c``, in float64: memory is the N x N kernel plus one activation's codes, never all of the
    network's codes at once (at 224 px those reach gigabytes, and a float64 copy of them ran a 23 GB machine out of
    memory). The sum equals the kernel of the concatenated codes exactly, as integers."""
    torch.manual_seed(seed)
    model = build(arch).train()
    count = len(images)
    kernel = torch.zeros(count, count, dtype=torch.float64)
    seen = []

    def hook(module: nn.Module, inputs: tuple[torch.Tensor], output: torch.Tensor) -> None:
        codes = (output.detach().flatten(1) > 0).float()
        for start in range(0, codes.shape[1], EXACT_CHUNK):
            chunk = codes[:, start:start + EXACT_CHUNK]
            active = chunk.sum(dim=1, dtype=torch.float64)
            same_active = (chunk @ chunk.T).double()
            # matches where both are off: width - active_i - active_j + both active
            kernel.add_(2 * same_active - active[:, None] - active[None, :] + chunk.shape[1])
        seen.append(1)

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, NASWOT_ACTIVATIONS)]
    with torch.no_grad():
        model(images)
    for handle in handles:
        handle.remove()
    if not seen:
        return float("nan")
    sign, logdet = torch.linalg.slogdet(kernel)
    return float(logdet) if sign > 0 else float("-inf")


def synflow(arch: Arch, seed: int = 0) -> float:
    """synflow score (log10 of the sum, as the raw value overflows for deep nets).

    Computed in float32, and again in float64 only when float32 overflows: CPU kernels for float64
    depthwise convolutions are 10-20x slower, and most nets stay far inside float32's range.
    """
    for dtype in (torch.float32, torch.float64):
        torch.manual_seed(seed)
        model = copy.deepcopy(build(arch)).to(dtype).eval()  # eval: BN uses its (unit) running statistics
        with torch.no_grad():
            for param in model.parameters():
                param.abs_()
        x = torch.ones(1, 3, arch.resolution, arch.resolution, dtype=dtype)
        model(x).sum().backward()
        total = sum(float((p.detach().double() * p.grad.double()).abs().sum()) for p in model.parameters()
                    if p.grad is not None)
        if math.isfinite(total):
            break
    return float(np.log10(total)) if total > 0 and math.isfinite(total) else float("-inf")


def _loss_gradients(arch: Arch, images: torch.Tensor, labels: torch.Tensor, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    model = build(arch).train()
    F.cross_entropy(model(images), labels).backward()
    return model


def grad_norm(arch: Arch, images: torch.Tensor, labels: torch.Tensor, seed: int = 0) -> float:
    """Sum over conv/linear weights of the L2 norm of their loss gradient on one minibatch."""
    model = _loss_gradients(arch, images, labels, seed)
    return float(sum(w.grad.norm() for w in _weights(model) if w.grad is not None))


def snip(arch: Arch, images: torch.Tensor, labels: torch.Tensor, seed: int = 0) -> float:
    """Sum over conv/linear weights of |w * dL/dw| on one minibatch (log10: it spans orders of magnitude)."""
    model = _loss_gradients(arch, images, labels, seed)
    total = float(sum((w.detach() * w.grad).abs().sum() for w in _weights(model) if w.grad is not None))
    return math.log10(total) if total > 0 else float("-inf")


def jacov(arch: Arch, images: torch.Tensor, seed: int = 0) -> float:
    """-(sum of log(v + k) + 1/(v + k)) over the eigenvalues v of the correlation of the input Jacobians."""
    torch.manual_seed(seed)
    model = build(arch).train()
    x = images.clone().requires_grad_(True)
    model(x).sum().backward()
    jacobians = x.grad.flatten(1).double()
    corr = torch.corrcoef(jacobians)
    if not torch.isfinite(corr).all():
        return float("-inf")
    values = torch.linalg.eigvalsh(corr)
    k = 1e-5
    return float(-torch.sum(torch.log(values.clamp_min(0) + k) + 1.0 / (values.clamp_min(0) + k)))


class ZeroCostEstimator:
    """One zero-cost proxy over a fixed minibatch (the same images for every arch, so scores compare)."""

    cost = "zero-cost"

    def __init__(self, name: str, images: torch.Tensor, labels: torch.Tensor, seed: int = 0) -> None:
        proxies: dict[str, Callable[[Arch, torch.Tensor], float]] = {
            "naswot": lambda arch, x: naswot(arch, x, seed),
            "synflow": lambda arch, x: synflow(arch, seed),
            "grad_norm": lambda arch, x: grad_norm(arch, x, labels, seed),
            "snip": lambda arch, x: snip(arch, x, labels, seed),
            "jacov": lambda arch, x: jacov(arch, x, seed),
        }
        if name not in proxies:
            raise ValueError(f"unknown zero-cost proxy {name!r}; known: {', '.join(proxies)}")
        self.name = name
        self._proxy = proxies[name]
        self.images = images
        self.seed = seed

    def score(self, arch: Arch) -> Score:
        started = time.process_time()
        images = self.images
        if images.shape[-1] != arch.resolution:
            images = F.interpolate(images, size=(arch.resolution, arch.resolution), mode="bilinear",
                                   align_corners=False)
        value = self._proxy(arch, images)
        return Score(value, f"zero-cost: {self.name}, {len(self.images)} images, init seed {self.seed}",
                     time.process_time() - started)


ZERO_COST_PROXIES = ("naswot", "synflow", "grad_norm", "snip", "jacov")


PROXY_BATCH = 64


def proxy_batch(data, size: int = PROXY_BATCH, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:  # noqa: ANN001
    """A class-balanced minibatch of training images, normalised at 32 px, the same for every arch."""
    from nas.train import balanced_indices, to_input

    index = balanced_indices(data.train_y, size, np.random.default_rng(seed))
    images = torch.from_numpy(np.ascontiguousarray(data.train_x[index]))
    return to_input(images, images.shape[-1]).contiguous(), torch.from_numpy(data.train_y[index]).long()


def make(name: str, data, seed: int = 0) -> ZeroCostEstimator:  # noqa: ANN001 (a Dataset)
    """The registry's factory (:mod:`nas.accuracy.registry`)."""
    images, labels = proxy_batch(data, seed=seed)
    return ZeroCostEstimator(name, images, labels, seed)
