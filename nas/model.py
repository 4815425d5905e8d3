"""From an :class:`~nas.arch.Arch` to a torch model (its analytical cost is :mod:`nas.cost`'s, which needs no torch).

The model is a plain ``nn.Sequential`` of one module per resolved layer (stem, blocks, head), so
that ``model[i]`` is exactly the computation a latency table keys as ``arch.layers()[i].key``.
"""

from __future__ import annotations

from torch import nn

from nas.arch import Arch
from nas.blocks.torch_parts import build_layer

__all__ = ["build"]


def build(arch: Arch) -> nn.Sequential:
    """The network for ``arch``: one child module per layer of :meth:`Arch.layers`."""
    return nn.Sequential(*(build_layer(layer) for layer in arch.layers()))
