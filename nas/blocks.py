"""The mobile building blocks, as torch modules, each following its paper.

Every conv is followed by BatchNorm through :class:`ConvBNAct`, so that BN folding for export
(:func:`fold_batchnorm`) is one structural rule instead of a pattern search over graphs.

* :class:`InvertedResidual`: MobileNetV2 (Sandler et al. 2018), optional squeeze-excite as in
  MobileNetV3. The 1x1 expansion conv is present for every expansion, 1 included: that is the FBNet
  block whose latencies HW-NAS-Bench published for the Raspberry Pi 4 and Pixel 3, so our blocks are
  exactly the measured ones (MobileNetV2's own t=1 block omits that conv; see the baselines README).
* :class:`GhostBottleneck`: GhostNet (Han et al. 2020): two Ghost modules, a depthwise stride-2 conv
  between them when downsampling, SE with a hard-sigmoid gate, and a depthwise+pointwise projected
  shortcut when shapes change.
* :class:`ShuffleUnit`: ShuffleNetV2 (Ma et al. 2018): channel split, one branch, concat, shuffle;
  the two-branch form when the stride is 2 or the width changes.
* :class:`DepthwiseSeparable`: MobileNetV1 (Howard et al. 2017).
"""

from __future__ import annotations

import torch
from torch import nn

from nas.arch import Layer


def activation(name: str | None) -> nn.Module:
    """``relu`` / ``relu6`` / ``hswish`` / ``linear`` or ``None`` (identity)."""
    if name is None or name == "linear":
        return nn.Identity()
    return {"relu": nn.ReLU, "relu6": nn.ReLU6, "hswish": nn.Hardswish}[name](inplace=True)


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


def _se(channels: int, reduced: int) -> nn.Module:
    return SqueezeExcite(channels, reduced) if reduced else nn.Identity()


class InvertedResidual(nn.Module):
    """1x1 expand -> [shuffle] -> kxk depthwise (stride) -> [SE] -> 1x1 linear project; residual if shapes match.

    ``groups`` > 1 makes both 1x1 convs grouped with a channel shuffle after the expansion (FBNet's
    ``_g2`` ops).
    """

    def __init__(self, cin: int, mid: int, cout: int, kernel: int, stride: int, se: int = 0,
                 act: str = "relu", groups: int = 1) -> None:
        super().__init__()
        self.use_residual = stride == 1 and cin == cout
        self.groups = groups
        self.expand = ConvBNAct(cin, mid, 1, groups=groups, act=act)
        self.depthwise = ConvBNAct(mid, mid, kernel, stride, groups=mid, act=act)
        self.se = _se(mid, se)
        self.project = ConvBNAct(mid, cout, 1, groups=groups, act=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.expand(x)
        if self.groups > 1:
            hidden = channel_shuffle(hidden, self.groups)
        out = self.project(self.se(self.depthwise(hidden)))
        return out + x if self.use_residual else out


class GhostModule(nn.Module):
    """Half the output from a 1x1 conv, the other half from a cheap 3x3 depthwise conv on it."""

    def __init__(self, cin: int, cout: int, act: str | None = "relu", ratio: int = 2, dw_kernel: int = 3) -> None:
        super().__init__()
        self.cout = cout
        primary = -(-cout // ratio)
        self.primary = ConvBNAct(cin, primary, 1, act=act)
        self.cheap = ConvBNAct(primary, primary * (ratio - 1), dw_kernel, groups=primary, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        primary = self.primary(x)
        return torch.cat([primary, self.cheap(primary)], dim=1)[:, : self.cout]


class GhostBottleneck(nn.Module):
    """Ghost(expand) -> [kxk depthwise stride 2] -> [SE] -> Ghost(project, linear) + shortcut."""

    def __init__(self, cin: int, mid: int, cout: int, kernel: int, stride: int, se: int = 0,
                 act: str = "relu") -> None:
        super().__init__()
        self.ghost1 = GhostModule(cin, mid, act=act)
        self.depthwise = (ConvBNAct(mid, mid, kernel, stride, groups=mid, act=None)
                          if stride > 1 else nn.Identity())
        self.se = _se(mid, se)
        self.ghost2 = GhostModule(mid, cout, act=None)
        if stride == 1 and cin == cout:
            self.shortcut: nn.Module = nn.Identity()
        else:
            self.shortcut = nn.Sequential(ConvBNAct(cin, cin, kernel, stride, groups=cin, act=None),
                                          ConvBNAct(cin, cout, 1, act=None))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ghost2(self.se(self.depthwise(self.ghost1(x)))) + self.shortcut(x)


def channel_shuffle(x: torch.Tensor, groups: int = 2) -> torch.Tensor:
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class ShuffleUnit(nn.Module):
    """ShuffleNetV2 unit. ``mid`` is the inner width of the main branch (``cout // 2`` in the paper)."""

    def __init__(self, cin: int, mid: int, cout: int, kernel: int, stride: int, act: str = "relu") -> None:
        super().__init__()
        half = cout // 2
        self.split = stride == 1 and cin == cout
        branch_in = half if self.split else cin
        if not self.split:
            self.branch1: nn.Module = nn.Sequential(
                ConvBNAct(cin, cin, kernel, stride, groups=cin, act=None), ConvBNAct(cin, half, 1, act=act))
        self.branch2 = nn.Sequential(
            ConvBNAct(branch_in, mid, 1, act=act),
            ConvBNAct(mid, mid, kernel, stride, groups=mid, act=None),
            ConvBNAct(mid, half, 1, act=act),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.split:
            keep, work = x.chunk(2, dim=1)
            out = torch.cat([keep, self.branch2(work)], dim=1)
        else:
            out = torch.cat([self.branch1(x), self.branch2(x)], dim=1)
        return channel_shuffle(out, 2)


class DepthwiseSeparable(nn.Module):
    """MobileNetV1: kxk depthwise -> [SE] -> 1x1 pointwise, both with BN and activation."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, se: int = 0, act: str = "relu") -> None:
        super().__init__()
        self.depthwise = ConvBNAct(cin, cin, kernel, stride, groups=cin, act=act)
        self.se = _se(cin, se)
        self.pointwise = ConvBNAct(cin, cout, 1, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.se(self.depthwise(x)))


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
    if layer.kind == "ir":
        return InvertedResidual(layer.cin, layer.mid, layer.cout, layer.kernel, layer.stride, layer.se, layer.act,
                                layer.groups)
    if layer.kind == "conv":
        return ConvBNAct(layer.cin, layer.cout, layer.kernel, layer.stride, act=layer.act)
    if layer.kind == "ghost":
        return GhostBottleneck(layer.cin, layer.mid, layer.cout, layer.kernel, layer.stride, layer.se, layer.act)
    if layer.kind == "shuffle":
        return ShuffleUnit(layer.cin, layer.mid, layer.cout, layer.kernel, layer.stride, layer.act)
    if layer.kind == "ds":
        return DepthwiseSeparable(layer.cin, layer.cout, layer.kernel, layer.stride, layer.se, layer.act)
    raise ValueError(f"unknown layer kind {layer.kind!r}")


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
