"""MobileNetV2's inverted residual (Sandler et al. 2018), with optional squeeze-excite as in MobileNetV3.

1x1 expand -> [channel shuffle] -> kxk depthwise (stride) -> [SE] -> 1x1 linear project; residual when shapes
match. The 1x1 expansion conv is present for every expansion, 1 included: that is the FBNet block whose
latencies HW-NAS-Bench published for the Raspberry Pi 4 and Pixel 3, so these blocks are exactly the measured
ones (MobileNetV2's own t=1 block omits that conv; see the baselines README). ``groups`` > 1 makes both 1x1
convs grouped, with a channel shuffle after the expansion (FBNet's ``_g2`` ops).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nas.blocks.base import BlockType, Cost, conv_cost, se_cost, torch_classes
from nas.layer import Layer

if TYPE_CHECKING:
    from torch import nn


class InvertedResidualType(BlockType):
    name = "ir"
    summary = "MobileNetV2 inverted residual (1x1 expand, kxk depthwise, [SE], 1x1 project)"
    grouped = True

    def cost(self, layer: Layer) -> Cost:
        cin, mid, cout, g, out = layer.cin, layer.mid, layer.cout, layer.groups, layer.hw_out
        return (conv_cost(cin, mid, 1, layer.hw, groups=g) + conv_cost(mid, mid, layer.kernel, out, groups=mid)
                + se_cost(mid, layer.se) + conv_cost(mid, cout, 1, out, groups=g))

    def module(self, layer: Layer) -> nn.Module:
        return __getattr__("InvertedResidual")(layer.cin, layer.mid, layer.cout, layer.kernel, layer.stride,
                                               layer.se, layer.act, layer.groups)


def _torch() -> dict[str, type]:
    import torch
    from torch import nn

    from nas.blocks.torch_parts import ConvBNAct, channel_shuffle, squeeze_excite

    class InvertedResidual(nn.Module):
        def __init__(self, cin: int, mid: int, cout: int, kernel: int, stride: int, se: int = 0,
                     act: str = "relu", groups: int = 1) -> None:
            super().__init__()
            self.use_residual = stride == 1 and cin == cout
            self.groups = groups
            self.expand = ConvBNAct(cin, mid, 1, groups=groups, act=act)
            self.depthwise = ConvBNAct(mid, mid, kernel, stride, groups=mid, act=act)
            self.se = squeeze_excite(mid, se)
            self.project = ConvBNAct(mid, cout, 1, groups=groups, act=None)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            hidden = self.expand(x)
            if self.groups > 1:
                hidden = channel_shuffle(hidden, self.groups)
            out = self.project(self.se(self.depthwise(hidden)))
            return out + x if self.use_residual else out

    return {"InvertedResidual": InvertedResidual}


__getattr__ = torch_classes(_torch)
BLOCK = InvertedResidualType()
