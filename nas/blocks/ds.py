"""MobileNetV1's depthwise-separable conv (Howard et al. 2017): kxk depthwise -> [SE] -> 1x1 pointwise.

Both convs carry BN and the activation. The inner width is the input width (the expansion is not used).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nas.blocks.base import BlockType, Cost, Spec, conv_cost, se_cost, torch_classes
from nas.layer import Layer

if TYPE_CHECKING:
    from torch import nn



class DepthwiseSeparableType(BlockType):
    name = "ds"
    summary = "MobileNetV1 depthwise-separable conv (kxk depthwise, [SE], 1x1 pointwise)"

    def inner_width(self, spec: Spec, cin: int, cout: int, divisor: int, where: str) -> int:
        return cin

    def cost(self, layer: Layer) -> Cost:
        cin, k, out = layer.cin, layer.kernel, layer.hw_out
        return conv_cost(cin, cin, k, out, groups=cin) + se_cost(cin, layer.se) + conv_cost(cin, layer.cout, 1, out)

    def module(self, layer: Layer) -> nn.Module:
        return __getattr__("DepthwiseSeparable")(layer.cin, layer.cout, layer.kernel, layer.stride, layer.se,
                                                 layer.act)


def _torch() -> dict[str, type]:
    import torch
    from torch import nn

    from nas.blocks.torch_parts import ConvBNAct, squeeze_excite

    class DepthwiseSeparable(nn.Module):
        def __init__(self, cin: int, cout: int, kernel: int, stride: int, se: int = 0, act: str = "relu") -> None:
            super().__init__()
            self.depthwise = ConvBNAct(cin, cin, kernel, stride, groups=cin, act=act)
            self.se = squeeze_excite(cin, se)
            self.pointwise = ConvBNAct(cin, cout, 1, act=act)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.pointwise(self.se(self.depthwise(x)))

    return {"DepthwiseSeparable": DepthwiseSeparable}


__getattr__ = torch_classes(_torch)
BLOCK = DepthwiseSeparableType()
