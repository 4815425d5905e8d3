"""EfficientNetV2's fused-MBConv (Tan & Le 2021): kxk expand conv (stride) -> [SE] -> 1x1 linear project.

The inverted residual's 1x1 expansion and depthwise conv are fused into one dense kxk conv, which runs faster
at high resolution and small width, where depthwise convs are memory-bound. Residual when shapes match. As in
timm's ``EdgeResidual``, the expansion conv is present at every expansion (EfficientNetV2's expansion-1 stage
is a plain conv: this package's ``conv`` block).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nas.blocks.base import BlockType, Cost, conv_cost, se_cost, torch_classes
from nas.layer import Layer

if TYPE_CHECKING:
    from torch import nn


class FusedMBConvType(BlockType):
    name = "fused"
    summary = "EfficientNetV2 fused-MBConv (kxk expand conv, [SE], 1x1 project)"

    def cost(self, layer: Layer) -> Cost:
        out = layer.hw_out
        return (conv_cost(layer.cin, layer.mid, layer.kernel, out) + se_cost(layer.mid, layer.se)
                + conv_cost(layer.mid, layer.cout, 1, out))

    def module(self, layer: Layer) -> nn.Module:
        return __getattr__("FusedMBConv")(layer.cin, layer.mid, layer.cout, layer.kernel, layer.stride, layer.se,
                                          layer.act)


def _torch() -> dict[str, type]:
    import torch
    from torch import nn

    from nas.blocks.torch_parts import ConvBNAct, squeeze_excite

    class FusedMBConv(nn.Module):
        def __init__(self, cin: int, mid: int, cout: int, kernel: int, stride: int, se: int = 0,
                     act: str = "relu") -> None:
            super().__init__()
            self.use_residual = stride == 1 and cin == cout
            self.expand = ConvBNAct(cin, mid, kernel, stride, act=act)
            self.se = squeeze_excite(mid, se)
            self.project = ConvBNAct(mid, cout, 1, act=None)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = self.project(self.se(self.expand(x)))
            return out + x if self.use_residual else out

    return {"FusedMBConv": FusedMBConv}


__getattr__ = torch_classes(_torch)
BLOCK = FusedMBConvType()
