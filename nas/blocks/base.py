"""What a block type is: its rules, how it resolves into a layer, its canonical form, its cost, its torch module.

Every block type is one module in this package holding one :class:`BlockType`; :mod:`nas.blocks` lists them.
The arch grammar, the spaces, the cost model and the model builder all read that one registry, so a new block
(EfficientNetV2's fused-MBConv is the worked example, :mod:`nas.blocks.fused`) is one new file and one
registry entry.

Why torch is only imported inside :meth:`BlockType.module`: archs, spaces, costs and latency look-ups must
work where torch is not installed (a board that only runs the bundle, a job that only reads tables).
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from nas.errors import ArchError
from nas.layer import SE_RATIO, Layer, make_divisible

if TYPE_CHECKING:
    from torch import nn


class Spec(Protocol):
    """What a block type reads of an arch's block (:class:`nas.arch.BlockSpec` is one; typed structurally so that
    the block types need nothing from the arch module, which reads them)."""

    type: str
    kernel: int
    expansion: float
    channels: int
    stride: int
    se: bool
    act: str
    groups: int
    options: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class BlockOption:
    """A hyper-parameter one block type has beyond the common ones (kernel, expansion, channels, stride, SE, act,
    groups): its token in arch strings and table keys (``sr0.25``), its default (left out of strings and keys, so
    archs and keys without it are unchanged) and its range.

    Why declared by the type: a block with a new hyper-parameter (EfficientNet's SE ratio on the block's input,
    a dilation) is then one file; the arch grammar, the keys and the cost model read the declaration."""

    token: str
    help: str
    default: float
    low: float
    high: float
    integer: bool = False

    def check(self, value: object, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not self.low <= value <= self.high \
                or (self.integer and not float(value).is_integer()):
            kind = "a whole number" if self.integer else "a number"
            raise ArchError(f"{where}: option {self.token} must be {kind} in [{self.low:g}, {self.high:g}], "
                            f"got {value!r}")
        return float(value)


@dataclass(frozen=True)
class Cost:
    """Multiply-accumulates and learnable parameters (and, for latency models, their finer split)."""

    macs: int = 0
    params: int = 0
    depthwise_macs: int = 0
    """The part of ``macs`` in depthwise convolutions (one input channel per output channel)."""
    outputs: int = 0
    """Activation elements written by the layer's convolutions and linear layers."""

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.macs + other.macs, self.params + other.params, self.depthwise_macs + other.depthwise_macs,
                    self.outputs + other.outputs)


def conv_cost(cin: int, cout: int, kernel: int, hw_out: int, groups: int = 1, bias: bool = False,
              bn: bool = True) -> Cost:
    """A conv (+ BN unless ``bn`` is false) at output size ``hw_out``."""
    weights = cout * (cin // groups) * kernel * kernel
    macs = weights * hw_out * hw_out
    depthwise = groups > 1 and groups == cin == cout
    return Cost(macs, weights + (cout if bias else 0) + (2 * cout if bn else 0), macs if depthwise else 0,
                cout * hw_out * hw_out)


def linear_cost(cin: int, cout: int) -> Cost:
    return Cost(cin * cout, cin * cout + cout, 0, cout)


def se_cost(channels: int, reduced: int) -> Cost:
    """Squeeze-excite: two biased 1x1 convs on the pooled vector (nothing when ``reduced`` is 0)."""
    if not reduced:
        return Cost()
    return (conv_cost(channels, reduced, 1, 1, bias=True, bn=False)
            + conv_cost(reduced, channels, 1, 1, bias=True, bn=False))


class BlockType(ABC):
    """One kind of block. Subclasses set the class attributes and implement :meth:`cost` and :meth:`module`."""

    name: ClassVar[str]
    """The type's token in arch strings, spaces and table keys (``ir``)."""
    summary: ClassVar[str]
    """What the block computes and which paper it follows."""
    se_variant: ClassVar[bool] = True
    """Whether ``{name}_se`` exists (squeeze-excite on the inner width)."""
    grouped: ClassVar[bool] = False
    """Whether the 1x1 convs may be grouped (``_g2``)."""
    options: ClassVar[tuple[BlockOption, ...]] = ()
    """The type's own hyper-parameters, in the order their tokens are written (:class:`BlockOption`)."""

    def option(self, spec_or_layer: Spec | Layer, token: str) -> float:
        """The value of option ``token`` in a spec or a resolved layer (its default where not given)."""
        given = dict(spec_or_layer.options)
        if token in given:
            return given[token]
        return next(o.default for o in self.options if o.token == token)

    def check(self, spec: Spec) -> None:  # noqa: B027  (a hook: most types have no rule beyond the common ones)
        """Rules beyond the common ones; raises :class:`ArchError`."""

    def inner_width(self, spec: Spec, cin: int, cout: int, divisor: int, where: str) -> int:
        """The expanded width: ``cin`` x expansion, rounded as MobileNet rounds (``cin`` itself at expansion 1)."""
        return cin if spec.expansion == 1.0 else make_divisible(cin * spec.expansion, divisor)

    def resolve(self, spec: Spec, cin: int, cout: int, hw: int, divisor: int, where: str) -> Layer:
        """The concrete layer ``spec`` is at input ``cin`` x ``hw`` x ``hw`` and output width ``cout``.

        The layer's key (:attr:`Layer.key`) is its kind and these widths, so this is also the block's key."""
        mid = self.inner_width(spec, cin, cout, divisor, where)
        se = make_divisible(mid * SE_RATIO, divisor) if spec.se else 0
        if spec.groups > 1 and (cin % spec.groups or mid % spec.groups or cout % spec.groups):
            raise ArchError(f"{where}: widths {cin}/{mid}/{cout} are not divisible by groups={spec.groups}")
        return Layer(spec.type, cin, cout, hw, spec.kernel, spec.stride, mid, se, spec.act, groups=spec.groups,
                     options=spec.options)

    def canonical(self, spec: Spec, cin: int, cout: int, kernels: Sequence[int]) -> Spec:
        """The one spelling of ``spec`` in a slot whose stage offers ``kernels``.

        Choices the block ignores in that slot are pinned, so equal networks are equal archs and a space's size
        counts networks."""
        return spec

    @abstractmethod
    def cost(self, layer: Layer) -> Cost:
        """Analytical MACs and params of the resolved layer (equal to its torch module's parameter count)."""

    @abstractmethod
    def module(self, layer: Layer) -> nn.Module:
        """The torch module computing ``layer`` (torch is imported here, on first use)."""


def torch_classes(factory: Callable[[], dict[str, type]]) -> Callable[[str], Any]:
    """A module ``__getattr__`` (PEP 562) that serves the torch classes ``factory`` defines, built on first use.

    A block's torch module lives in the block's file without making that file import torch: the classes are
    defined inside ``factory`` and given module-level names, so ``from nas.blocks.ir import InvertedResidual``
    and pickling work as for any class."""
    @functools.cache
    def build() -> dict[str, type]:
        classes = factory()
        for name, cls in classes.items():
            cls.__qualname__ = cls.__name__ = name
        return classes

    def module_getattr(name: str) -> Any:
        classes = build()
        if name not in classes:
            raise AttributeError(name)
        return classes[name]

    return module_getattr
