"""A plain conv + BN + activation as a block.

It is FBNet's "skip" where the shape changes (a 1x1 conv) and, with ``linear``, NAS-Bench-Macro's strided
identity (a 1x1 conv + BN with no activation). It has no inner width, so its key has no ``mid`` field.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nas.blocks.base import BlockType, Cost, Spec, conv_cost
from nas.layer import Layer

if TYPE_CHECKING:
    from torch import nn



class ConvType(BlockType):
    name = "conv"
    summary = "plain kxk conv + BN + activation (FBNet's shape-changing skip; linear: NAS-Bench-Macro's identity)"
    se_variant = False

    def inner_width(self, spec: Spec, cin: int, cout: int, divisor: int, where: str) -> int:
        return 0

    def cost(self, layer: Layer) -> Cost:
        return conv_cost(layer.cin, layer.cout, layer.kernel, layer.hw_out)

    def module(self, layer: Layer) -> nn.Module:
        from nas.blocks.torch_parts import ConvBNAct

        return ConvBNAct(layer.cin, layer.cout, layer.kernel, layer.stride, act=layer.act)


BLOCK = ConvType()
