"""The analytical cost of an arch: MACs, params and finer counts, with no torch.

Cost is counted analytically (no forward pass) because the search evaluates it for many thousands
of candidates: FLOPs are multiply-accumulates of convolutions and fully connected layers (the
convention of the MobileNet/GhostNet/ShuffleNet papers: BN, activations, adds and pooling are not
counted); params are every learnable parameter, BN affine parameters included, so the count equals
``sum(p.numel() for p in model.parameters())``. Two finer counts serve latency transfer between devices
(``nas.latency.transfer_model``), where compute and memory traffic trade differently: the depthwise share of the
MACs (memory-bound on every CPU, far more so on ARM) and the activation elements each op writes.

Why its own module: spaces, latency tables and the free estimators count cost for many thousands of archs and
must work where torch is not installed (a board, a CI job that only reads tables).
"""

from __future__ import annotations

from nas.arch import Arch, Layer
from nas.blocks import block_type
from nas.blocks.base import Cost, conv_cost, linear_cost

__all__ = ["Cost", "arch_cost", "layer_cost"]


def layer_cost(layer: Layer) -> Cost:
    """Analytical MACs and params of one layer at its resolved shape (a block's own rule, :mod:`nas.blocks`)."""
    if layer.kind == "stem":
        return conv_cost(layer.cin, layer.cout, layer.kernel, layer.hw_out)
    if layer.kind == "head":
        cost = conv_cost(layer.cin, layer.cout, 1, layer.hw)
        if layer.hidden:
            cost += linear_cost(layer.cout, layer.hidden)
        return cost + linear_cost(layer.hidden or layer.cout, layer.classes)
    return block_type(layer.kind).cost(layer)


def arch_cost(arch: Arch) -> Cost:
    """Whole-network MACs and params (sum over layers)."""
    total = Cost()
    for layer in arch.layers():
        total += layer_cost(layer)
    return total
