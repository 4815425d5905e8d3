"""The torch pieces blocks are built from, the stem and head modules, and the layer-to-module dispatch.

Every conv is followed by BatchNorm through :class:`ConvBNAct`, so that BN folding for export
(:func:`fold_batchnorm`) is one structural rule instead of a pattern search over graphs. Block modules
themselves live in their block's file (:mod:`nas.blocks`); this module is what they share.
"""

from __future__ import annotations

import torch
from torch import nn

from nas.blocks import block_type
from nas.layer import Layer


def activation(name: str | None) -> nn.Module:
    """``relu`` / ``relu6`` / ``hswish`` / ``swish`` / ``linear`` or ``None`` (identity)."""
    if name is None or name == "linear":
        return nn.Identity()
    return {"relu": nn.ReLU, "relu6": nn.ReLU6, "hswish": nn.Hardswish, "swish": nn.SiLU}[name](inplace=True)


class ConvBNAct(nn.Module):
    """Conv (no bias) -> BatchNorm -> activation; the only place a conv meets a BN."""

    def __init__(self, cin: int, cout: int, kernel: int = 1, stride: int = 1, groups: int = 1,
                 act: str | None = "relu") -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False)
        self.bn: nn.Module = nn.BatchNorm2d(cout)
        self.act = activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class SqueezeExcite(nn.Module):
    """Channel attention: pool -> 1x1 reduce -> ReLU -> 1x1 expand -> hard-sigmoid -> scale."""

    def __init__(self, channels: int, reduced: int) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(channels, reduced, 1)
        self.act = nn.ReLU(inplace=True)
        self.expand = nn.Conv2d(reduced, channels, 1)
        self.gate = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = x.mean((2, 3), keepdim=True)
        return x * self.gate(self.expand(self.act(self.reduce(scale))))


def squeeze_excite(channels: int, reduced: int) -> nn.Module:
    """SE on ``channels`` with a ``reduced``-wide bottleneck, or identity when ``reduced`` is 0."""
    return SqueezeExcite(channels, reduced) if reduced else nn.Identity()


def channel_shuffle(x: torch.Tensor, groups: int = 2) -> torch.Tensor:
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class Head(nn.Module):
    """1x1 conv -> global average pool -> [hidden FC + act] -> classifier."""

    def __init__(self, cin: int, channels: int, classes: int, hidden: int = 0, act: str = "relu") -> None:
        super().__init__()
        self.conv = ConvBNAct(cin, channels, 1, act=act)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.hidden: nn.Module = (nn.Sequential(nn.Linear(channels, hidden), activation(act))
                                  if hidden else nn.Identity())
        self.classifier = nn.Linear(hidden or channels, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.hidden(torch.flatten(self.pool(self.conv(x)), 1)))


def build_layer(layer: Layer) -> nn.Module:
    """The module that computes one resolved layer (one latency-table key)."""
    if layer.kind == "stem":
        return ConvBNAct(layer.cin, layer.cout, layer.kernel, layer.stride, act=layer.act)
    if layer.kind == "head":
        return Head(layer.cin, layer.cout, layer.classes, layer.hidden, layer.act)
    return block_type(layer.kind).module(layer)


@torch.no_grad()
def fold_batchnorm(module: nn.Module) -> nn.Module:
    """Fold every :class:`ConvBNAct`'s BN into its conv (in place; call on an eval-mode copy).

    Export and latency measurement use the folded form: that is what a deployment runtime runs, and
    it does not depend on one exporter's optimisation passes.
    """
    for sub in module.modules():
        if isinstance(sub, ConvBNAct) and isinstance(sub.bn, nn.BatchNorm2d):
            bn, conv = sub.bn, sub.conv
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                              conv.padding, groups=conv.groups, bias=True)
            fused.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
            fused.bias.copy_(bn.bias - bn.running_mean * scale)
            sub.conv, sub.bn = fused, nn.Identity()
    return module
