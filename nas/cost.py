"""The analytical cost of an arch: MACs, params and finer counts, with no torch.

Cost is counted analytically (no forward pass) because the search evaluates it for many thousands
of candidates: FLOPs are multiply-accumulates of convolutions and fully connected layers (the
convention of the MobileNet/GhostNet/ShuffleNet papers: BN, activations, adds and pooling are not
counted); params are every learnable parameter, BN affine parameters included, so the count equals
``sum(p.numel() for p in model.parameters())``. Two finer counts serve latency transfer between devices
(``nas.latency.predict``), where compute and memory traffic trade differently: the depthwise share of the
MACs (memory-bound on every CPU, far more so on ARM) and the activation elements each op writes.

Why its own module: spaces, latency tables and the free estimators count cost for many thousands of archs and
must work where torch is not installed (a board, a CI job that only reads tables).
"""

from __future__ import annotations

from dataclasses import dataclass

from nas.arch import Arch, Layer


@dataclass(frozen=True)
class Cost:
    """Multiply-accumulates and learnable parameters (and, for latency models, their finer split)."""

    macs: int = 0
    params: int = 0
    depthwise_macs: int = 0
    """The part of ``macs`` in depthwise convolutions (one input channel per output channel)."""
    outputs: int = 0
    """Activation elements written by the layer's convolutions and linear layers."""

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.macs + other.macs, self.params + other.params, self.depthwise_macs + other.depthwise_macs,
                    self.outputs + other.outputs)


def _conv(cin: int, cout: int, kernel: int, hw_out: int, groups: int = 1, bias: bool = False,
          bn: bool = True) -> Cost:
    weights = cout * (cin // groups) * kernel * kernel
    macs = weights * hw_out * hw_out
    depthwise = groups > 1 and groups == cin == cout
    return Cost(macs, weights + (cout if bias else 0) + (2 * cout if bn else 0), macs if depthwise else 0,
                cout * hw_out * hw_out)


def _linear(cin: int, cout: int) -> Cost:
    return Cost(cin * cout, cin * cout + cout, 0, cout)


def _se(channels: int, reduced: int) -> Cost:
    if not reduced:
        return Cost()
    return _conv(channels, reduced, 1, 1, bias=True, bn=False) + _conv(reduced, channels, 1, 1, bias=True, bn=False)


def _ghost_module(cin: int, cout: int, hw: int) -> Cost:
    primary = -(-cout // 2)
    return _conv(cin, primary, 1, hw) + _conv(primary, primary, 3, hw, groups=primary)


def layer_cost(layer: Layer) -> Cost:
    """Analytical MACs and params of one layer at its resolved shape."""
    hw, out, k, s = layer.hw, layer.hw_out, layer.kernel, layer.stride
    cin, mid, cout = layer.cin, layer.mid, layer.cout
    if layer.kind == "stem":
        return _conv(cin, cout, k, out)
    if layer.kind == "head":
        cost = _conv(cin, cout, 1, hw)
        if layer.hidden:
            cost += _linear(cout, layer.hidden)
        return cost + _linear(layer.hidden or cout, layer.classes)
    if layer.kind == "ir":
        g = layer.groups
        return (_conv(cin, mid, 1, hw, groups=g) + _conv(mid, mid, k, out, groups=mid) + _se(mid, layer.se)
                + _conv(mid, cout, 1, out, groups=g))
    if layer.kind == "conv":
        return _conv(cin, cout, k, out)
    if layer.kind == "ghost":
        cost = _ghost_module(cin, mid, hw)
        if s > 1:
            cost += _conv(mid, mid, k, out, groups=mid)
        cost += _se(mid, layer.se) + _ghost_module(mid, cout, out)
        if s > 1 or cin != cout:
            cost += _conv(cin, cin, k, out, groups=cin) + _conv(cin, cout, 1, out)
        return cost
    if layer.kind == "shuffle":
        half = cout // 2
        if s == 1 and cin == cout:
            return _conv(half, mid, 1, hw) + _conv(mid, mid, k, out, groups=mid) + _conv(mid, half, 1, out)
        return (_conv(cin, cin, k, out, groups=cin) + _conv(cin, half, 1, out)
                + _conv(cin, mid, 1, hw) + _conv(mid, mid, k, out, groups=mid) + _conv(mid, half, 1, out))
    if layer.kind == "ds":
        return _conv(cin, cin, k, out, groups=cin) + _se(cin, layer.se) + _conv(cin, cout, 1, out)
    raise ValueError(f"unknown layer kind {layer.kind!r}")


def arch_cost(arch: Arch) -> Cost:
    """Whole-network MACs and params (sum over layers)."""
    total = Cost()
    for layer in arch.layers():
        total += layer_cost(layer)
    return total
