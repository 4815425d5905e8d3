"""EfficientNet's MBConv (Tan & Le 2019; the MnasNet / EfficientNet-B0 space of Accel-NASBench).

[1x1 expand] -> kxk depthwise (stride, dilation) -> [SE] -> 1x1 linear project; residual when shapes match.
Where it differs from the inverted residual (:mod:`nas.blocks.ir`), it follows EfficientNet's reference code:

* at expansion 1 there is no expansion conv (the ``ir`` block keeps one there: FBNet's measured block);
* the inner width is ``cin x expansion`` exactly, not rounded to the channel divisor;
* squeeze-excite squeezes to ``max(1, int(cin x sr))`` channels, a share of the block's *input* width
  (``sr``, default 0.25), not of the expanded width, with the block's activation inside and a sigmoid gate.

Its options (:class:`~nas.blocks.base.BlockOption`): ``sr`` the SE ratio, ``dl`` the depthwise conv's dilation.
With these rules the params of all 4,138 published Accel-NASBench networks are reproduced exactly
(``tests/test_accel_nasbench.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from nas.blocks.base import BlockOption, BlockType, Cost, Spec, conv_cost, torch_classes
from nas.errors import ArchError
from nas.layer import Layer

if TYPE_CHECKING:
    from torch import nn


class MBConvType(BlockType):
    name = "mb"
    summary = "EfficientNet MBConv ([1x1 expand], kxk depthwise, [SE on the input width], 1x1 project)"
    options = (BlockOption("sr", "SE width as a share of the block's input channels", 0.25, 0.01, 1.0),
               BlockOption("dl", "dilation of the depthwise conv", 1, 1, 4, integer=True))

    def inner_width(self, spec: Spec, cin: int, cout: int, divisor: int, where: str) -> int:
        mid = cin * spec.expansion
        if not float(mid).is_integer():
            raise ArchError(f"{where}: {cin} channels x expansion {spec.expansion:g} is not a whole width")
        return int(mid)

    def resolve(self, spec: Spec, cin: int, cout: int, hw: int, divisor: int, where: str) -> Layer:
        mid = self.inner_width(spec, cin, cout, divisor, where)
        se = max(1, int(cin * self.option(spec, "sr"))) if spec.se else 0
        return Layer(spec.type, cin, cout, hw, spec.kernel, spec.stride, mid, se, spec.act, options=spec.options)

    def canonical(self, spec: Spec, cin: int, cout: int, kernels: Sequence[int]) -> Spec:
        return spec

    def cost(self, layer: Layer) -> Cost:
        cin, mid, cout, out = layer.cin, layer.mid, layer.cout, layer.hw_out
        expand = conv_cost(cin, mid, 1, layer.hw) if mid != cin else Cost()
        se = (conv_cost(mid, layer.se, 1, 1, bias=True, bn=False) + conv_cost(layer.se, mid, 1, 1, bias=True, bn=False)
              if layer.se else Cost())
        return expand + conv_cost(mid, mid, layer.kernel, out, groups=mid) + se + conv_cost(mid, cout, 1, out)

    def module(self, layer: Layer) -> nn.Module:
        return __getattr__("MBConv")(layer.cin, layer.mid, layer.cout, layer.kernel, layer.stride, layer.se, layer.act,
                                     int(self.option(layer, "dl")))


def _torch() -> dict[str, type]:
    import torch
    from torch import nn

    from nas.blocks.torch_parts import ConvBNAct, activation

    class InputSqueezeExcite(nn.Module):
        """EfficientNet's SE: pool -> 1x1 reduce (biased) -> the block's activation -> 1x1 expand -> sigmoid."""

        def __init__(self, channels: int, reduced: int, act: str) -> None:
            super().__init__()
            self.reduce = nn.Conv2d(channels, reduced, 1)
            self.act = activation(act)
            self.expand = nn.Conv2d(reduced, channels, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * torch.sigmoid(self.expand(self.act(self.reduce(x.mean((2, 3), keepdim=True)))))

    class MBConv(nn.Module):
        def __init__(self, cin: int, mid: int, cout: int, kernel: int, stride: int, se: int = 0, act: str = "swish",
                     dilation: int = 1) -> None:
            super().__init__()
            self.use_residual = stride == 1 and cin == cout
            self.expand: nn.Module = ConvBNAct(cin, mid, 1, act=act) if mid != cin else nn.Identity()
            self.depthwise = ConvBNAct(mid, mid, kernel, stride, groups=mid, act=act)
            if dilation > 1:  # same padding for a dilated kernel
                conv = self.depthwise.conv
                conv.dilation, conv.padding = (dilation, dilation), (dilation * (kernel // 2),) * 2
            self.se: nn.Module = InputSqueezeExcite(mid, se, act) if se else nn.Identity()
            self.project = ConvBNAct(mid, cout, 1, act=None)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = self.project(self.se(self.depthwise(self.expand(x))))
            return out + x if self.use_residual else out

    return {"InputSqueezeExcite": InputSqueezeExcite, "MBConv": MBConv}


__getattr__ = torch_classes(_torch)
BLOCK = MBConvType()
