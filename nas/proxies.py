"""Zero-cost proxies: scores of an untrained network, the cheapest rung of the fidelity ladder.

* NASWOT (Mellor et al., ICML 2021): how differently the ReLUs of an untrained net partition one
  minibatch: log-determinant of the Hamming-similarity kernel of the binary activation codes.
* synflow (Tanaka et al., NeurIPS 2020): data-free "synaptic flow", sum of |theta * dR/dtheta| with
  all weights made positive and an all-ones input, computed in float64 to avoid overflow.

DESIGN section 8 measured both at tau 0.21 and -0.09 against 12-epoch training on this space: they
are screening tools to be measured again (``bench/proxy_fidelity.py``), not oracles.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from nas.arch import Arch
from nas.model import build


def naswot(arch: Arch, images: torch.Tensor, seed: int = 0) -> float:
    """NASWOT score on a normalised float batch (N, 3, H, W) at the arch's resolution."""
    torch.manual_seed(seed)
    model = build(arch).train()
    codes: list[torch.Tensor] = []

    def hook(module: nn.Module, inputs: tuple[torch.Tensor], output: torch.Tensor) -> None:
        codes.append((output.detach().flatten(1) > 0).float())

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.ReLU, nn.ReLU6))]
    with torch.no_grad():
        model(images)
    for handle in handles:
        handle.remove()
    if not codes:
        return float("nan")
    binary = torch.cat(codes, dim=1).double()
    kernel = binary @ binary.T + (1 - binary) @ (1 - binary).T
    sign, logdet = torch.linalg.slogdet(kernel)
    return float(logdet) if sign > 0 else float("-inf")


def synflow(arch: Arch, seed: int = 0) -> float:
    """synflow score (log10 of the sum, as the raw value overflows for deep nets)."""
    torch.manual_seed(seed)
    model = copy.deepcopy(build(arch)).double().eval()  # eval: BN uses its (unit) running statistics
    with torch.no_grad():
        for param in model.parameters():
            param.abs_()
    x = torch.ones(1, 3, arch.resolution, arch.resolution, dtype=torch.float64)
    model(x).sum().backward()
    total = sum(float((p.detach() * p.grad).abs().sum()) for p in model.parameters() if p.grad is not None)
    return float(np.log10(total)) if total > 0 else float("-inf")
