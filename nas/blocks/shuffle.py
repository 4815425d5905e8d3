"""ShuffleNetV2's unit (Ma et al. 2018): channel split, one branch, concat, shuffle.

The two-branch form (both halves computed from the whole input) is used when the stride is 2 or the width
changes. The inner width of the main branch is ``cout // 2`` x expansion (``cout // 2`` in the paper).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nas.blocks.base import BlockType, Cost, Spec, conv_cost, torch_classes
from nas.errors import ArchError
from nas.layer import Layer, make_divisible

if TYPE_CHECKING:
    from torch import nn



class ShuffleUnitType(BlockType):
    name = "shuffle"
    summary = "ShuffleNetV2 unit (split, 1x1 -> kxk depthwise -> 1x1 branch, concat, shuffle)"
    se_variant = False

    def inner_width(self, spec: Spec, cin: int, cout: int, divisor: int, where: str) -> int:
        if cout % 2:
            raise ArchError(f"{where}: a ShuffleNetV2 unit needs an even output width, got {cout}")
        half = cout // 2
        return half if spec.expansion == 1.0 else make_divisible(half * spec.expansion, divisor)

    def cost(self, layer: Layer) -> Cost:
        cin, mid, cout, k, hw, out = layer.cin, layer.mid, layer.cout, layer.kernel, layer.hw, layer.hw_out
        half = cout // 2
        branch = lambda width: (conv_cost(width, mid, 1, hw) + conv_cost(mid, mid, k, out, groups=mid)  # noqa: E731
                                + conv_cost(mid, half, 1, out))
        if layer.stride == 1 and cin == cout:
            return branch(half)
        return conv_cost(cin, cin, k, out, groups=cin) + conv_cost(cin, half, 1, out) + branch(cin)

    def module(self, layer: Layer) -> nn.Module:
        return __getattr__("ShuffleUnit")(layer.cin, layer.mid, layer.cout, layer.kernel, layer.stride, layer.act)


def _torch() -> dict[str, type]:
    import torch
    from torch import nn

    from nas.blocks.torch_parts import ConvBNAct, channel_shuffle

    class ShuffleUnit(nn.Module):
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

    return {"ShuffleUnit": ShuffleUnit}


__getattr__ = torch_classes(_torch)
BLOCK = ShuffleUnitType()
