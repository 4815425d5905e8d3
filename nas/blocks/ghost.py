"""GhostNet's bottleneck (Han et al. 2020).

Ghost(expand) -> [kxk depthwise, stride 2] -> [SE, hard-sigmoid gate] -> Ghost(project, linear) + shortcut; the
shortcut is a depthwise + pointwise projection when shapes change. A Ghost module makes half its output with a
1x1 conv and the other half with a cheap 3x3 depthwise conv on that half.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from nas.blocks.base import BlockType, Cost, Spec, conv_cost, se_cost, torch_classes
from nas.layer import Layer

if TYPE_CHECKING:
    from torch import nn



def ghost_module_cost(cin: int, cout: int, hw: int) -> Cost:
    primary = -(-cout // 2)
    return conv_cost(cin, primary, 1, hw) + conv_cost(primary, primary, 3, hw, groups=primary)


class GhostBottleneckType(BlockType):
    name = "ghost"
    summary = "GhostNet bottleneck (Ghost expand, [depthwise stride 2], [SE], Ghost project, shortcut)"

    def canonical(self, spec: Spec, cin: int, cout: int, kernels: Sequence[int]) -> Spec:
        """With stride 1 and an identity shortcut the kernel is never used: pinned to the smallest offered."""
        if spec.stride == 1 and cin == cout and spec.kernel != min(kernels):
            return replace(spec, kernel=min(kernels))
        return spec

    def cost(self, layer: Layer) -> Cost:
        cin, mid, cout, k, s, out = layer.cin, layer.mid, layer.cout, layer.kernel, layer.stride, layer.hw_out
        cost = ghost_module_cost(cin, mid, layer.hw)
        if s > 1:
            cost += conv_cost(mid, mid, k, out, groups=mid)
        cost += se_cost(mid, layer.se) + ghost_module_cost(mid, cout, out)
        if s > 1 or cin != cout:
            cost += conv_cost(cin, cin, k, out, groups=cin) + conv_cost(cin, cout, 1, out)
        return cost

    def module(self, layer: Layer) -> nn.Module:
        return __getattr__("GhostBottleneck")(layer.cin, layer.mid, layer.cout, layer.kernel, layer.stride,
                                              layer.se, layer.act)


def _torch() -> dict[str, type]:
    import torch
    from torch import nn

    from nas.blocks.torch_parts import ConvBNAct, squeeze_excite

    class GhostModule(nn.Module):
        def __init__(self, cin: int, cout: int, act: str | None = "relu", ratio: int = 2,
                     dw_kernel: int = 3) -> None:
            super().__init__()
            self.cout = cout
            primary = -(-cout // ratio)
            self.primary = ConvBNAct(cin, primary, 1, act=act)
            self.cheap = ConvBNAct(primary, primary * (ratio - 1), dw_kernel, groups=primary, act=act)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            primary = self.primary(x)
            return torch.cat([primary, self.cheap(primary)], dim=1)[:, : self.cout]

    class GhostBottleneck(nn.Module):
        def __init__(self, cin: int, mid: int, cout: int, kernel: int, stride: int, se: int = 0,
                     act: str = "relu") -> None:
            super().__init__()
            self.ghost1 = GhostModule(cin, mid, act=act)
            self.depthwise = (ConvBNAct(mid, mid, kernel, stride, groups=mid, act=None)
                              if stride > 1 else nn.Identity())
            self.se = squeeze_excite(mid, se)
            self.ghost2 = GhostModule(mid, cout, act=None)
            if stride == 1 and cin == cout:
                self.shortcut: nn.Module = nn.Identity()
            else:
                self.shortcut = nn.Sequential(ConvBNAct(cin, cin, kernel, stride, groups=cin, act=None),
                                              ConvBNAct(cin, cout, 1, act=None))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.ghost2(self.se(self.depthwise(self.ghost1(x)))) + self.shortcut(x)

    return {"GhostModule": GhostModule, "GhostBottleneck": GhostBottleneck}


__getattr__ = torch_classes(_torch)
BLOCK = GhostBottleneckType()
