"""The arch's value types: blocks, stem, head and the whole network (see :mod:`nas.arch` for the text forms).

Why apart from the grammar (:mod:`nas.arch_grammar`): a value is checked once, where it is made, whatever text it
came from; the grammar only turns text into values and back.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields
from typing import Any

from nas.blocks import BLOCKS, block_type
from nas.blocks.base import BlockType
from nas.errors import ArchError
from nas.layer import ACTIVATIONS, DEFAULT_ACT, Layer, format_number, make_divisible

BLOCK_TYPES = tuple(BLOCKS)
"""The registered block types (:mod:`nas.blocks`, one module each)."""


# --------------------------------------------------------------------------------------------
# Value types


@dataclass(frozen=True)
class BlockSpec:
    """One block: its type and hyper-parameters; ``channels`` is the base (width 1.0) output."""

    type: str
    kernel: int
    expansion: float
    channels: int
    stride: int
    se: bool = False
    act: str = DEFAULT_ACT
    groups: int = 1
    options: tuple[tuple[str, float], ...] = ()
    """The block type's own hyper-parameters (:attr:`nas.blocks.base.BlockType.options`) that differ from their
    defaults, as (token, value) in the type's order; a mapping is accepted and put in that form."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "expansion", float(self.expansion))
        kind = block_type(self.type)
        object.__setattr__(self, "options", _normal_options(kind, self.options, self.type))
        _check_kernel(self.kernel)
        _check_stride(self.stride)
        _check_act(self.act)
        if not 0 < self.expansion <= 12:
            raise ArchError(f"expansion must be in (0, 12], got {format_number(self.expansion)}")
        if not isinstance(self.channels, int) or self.channels <= 0:
            raise ArchError(f"block channels must be a positive integer, got {self.channels!r}")
        if self.se and not kind.se_variant:
            raise ArchError(f"the {self.type} block has no squeeze-excite variant (drop '_se')")
        grouped = ", ".join(name for name, other in BLOCKS.items() if other.grouped)
        if not isinstance(self.groups, int) or self.groups < 1 or (self.groups > 1 and not kind.grouped):
            raise ArchError(f"groups must be a positive integer, and > 1 only for {grouped} blocks; got {self.groups!r}")
        kind.check(self)

    @property
    def type_name(self) -> str:
        """Type with its SE suffix, e.g. ``ir_se``: the name used in tokens and table keys."""
        return f"{self.type}_se" if self.se else self.type

    def token(self) -> str:
        parts = [self.type_name, f"k{self.kernel}", f"e{format_number(self.expansion)}",
                 f"c{self.channels}", f"s{self.stride}"]
        if self.groups > 1:
            parts.append(f"g{self.groups}")
        parts += [f"{token}{format_number(value)}" for token, value in self.options]
        if self.act != DEFAULT_ACT:
            parts.append(self.act)
        return "_".join(parts)


def _normal_options(kind: BlockType, given: Any, type_name: str) -> tuple[tuple[str, float], ...]:
    """Options checked against the type's declaration, defaults dropped, in the declared order."""
    items = dict(given.items() if isinstance(given, dict) else given)
    declared = {option.token: option for option in kind.options}
    unknown = sorted(set(items) - set(declared))
    if unknown:
        allowed = ", ".join(declared) or "none"
        raise ArchError(f"the {type_name} block has no option(s) {unknown}; its options: {allowed}")
    values = {token: declared[token].check(value, f"{type_name} block") for token, value in items.items()}
    return tuple((o.token, values[o.token]) for o in kind.options
                 if o.token in values and values[o.token] != o.default)


@dataclass(frozen=True)
class StemSpec:
    """The first convolution (3 -> channels); CIFAR forms use stride 1."""

    channels: int
    kernel: int = 3
    stride: int = 1
    act: str = DEFAULT_ACT

    def __post_init__(self) -> None:
        if not isinstance(self.channels, int) or self.channels <= 0:
            raise ArchError(f"stem channels must be a positive integer, got {self.channels!r}")
        _check_kernel(self.kernel)
        _check_stride(self.stride)
        _check_act(self.act)

    def token(self) -> str:
        parts = ["stem", f"c{self.channels}", f"k{self.kernel}", f"s{self.stride}"]
        if self.act != DEFAULT_ACT:
            parts.append(self.act)
        return "_".join(parts)


@dataclass(frozen=True)
class HeadSpec:
    """1x1 conv to ``channels``, global pool, optional hidden FC (GhostNet), classifier."""

    channels: int
    hidden: int = 0
    act: str = DEFAULT_ACT

    def __post_init__(self) -> None:
        if not isinstance(self.channels, int) or self.channels <= 0:
            raise ArchError(f"head channels must be a positive integer, got {self.channels!r}")
        if not isinstance(self.hidden, int) or self.hidden < 0:
            raise ArchError(f"head hidden width must be an integer >= 0, got {self.hidden!r}")
        _check_act(self.act)

    def token(self) -> str:
        parts = ["head", f"c{self.channels}"]
        if self.hidden:
            parts.append(f"f{self.hidden}")
        if self.act != DEFAULT_ACT:
            parts.append(self.act)
        return "_".join(parts)


@dataclass(frozen=True)
class Arch:
    """A whole network. Immutable and hashable; ``str(arch)`` is its compact form."""

    resolution: int
    width: float
    stem: StemSpec
    blocks: tuple[BlockSpec, ...]
    head: HeadSpec
    num_classes: int = 10
    divisor: int = 8
    _layers: tuple[Layer, ...] = field(default=(), init=False, repr=False, compare=False, hash=False)
    _keys: tuple[str, ...] = field(default=(), init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "width", float(self.width))
        object.__setattr__(self, "blocks", tuple(self.blocks))
        if not isinstance(self.resolution, int) or not 8 <= self.resolution <= 1024:
            raise ArchError(f"resolution must be an integer in [8, 1024], got {self.resolution!r}")
        if not 0 < self.width <= 4:
            raise ArchError(f"width multiplier must be in (0, 4], got {self.width}")
        if not isinstance(self.num_classes, int) or self.num_classes < 2:
            raise ArchError(f"num_classes must be an integer >= 2, got {self.num_classes!r}")
        if self.divisor not in (1, 2, 4, 8, 16):
            raise ArchError(f"divisor must be one of 1, 2, 4, 8, 16, got {self.divisor!r}")
        if not self.blocks:
            raise ArchError("an arch needs at least one block")
        object.__setattr__(self, "_layers", tuple(self._resolve()))
        object.__setattr__(self, "_keys", tuple(layer.key for layer in self._layers))

    # -- derived values -------------------------------------------------------------------
    def scaled(self, channels: int) -> int:
        """Channels after the width multiplier (identity at width 1.0)."""
        if self.width == 1.0:
            return channels
        return make_divisible(channels * self.width, self.divisor)

    def layers(self) -> tuple[Layer, ...]:
        """Stem, every block and the head, resolved to concrete shapes."""
        return self._layers

    def keys(self) -> tuple[str, ...]:
        """Latency-table keys of :meth:`layers` (computed once: prediction looks them up in bulk)."""
        return self._keys

    @property
    def id(self) -> str:
        """Stable 12-hex-digit hash of the canonical string (run names, caches)."""
        return hashlib.sha256(str(self).encode()).hexdigest()[:12]

    def _resolve(self) -> list[Layer]:
        hw = self.resolution
        stem_out = self.scaled(self.stem.channels)
        layers = [Layer("stem", 3, stem_out, hw, self.stem.kernel, self.stem.stride, act=self.stem.act)]
        hw, cin = layers[0].hw_out, stem_out
        for index, block in enumerate(self.blocks):
            layer = _resolve_block(block, cin, self.scaled(block.channels), hw, self.divisor, index)
            layers.append(layer)
            hw, cin = layer.hw_out, layer.cout
        layers.append(Layer("head", cin, self.head.channels, hw, act=self.head.act,
                            hidden=self.head.hidden, classes=self.num_classes))
        return layers

    # -- text forms -----------------------------------------------------------------------
    def __str__(self) -> str:
        glob = [f"r{self.resolution}", f"w{format_number(self.width)}"]
        if self.num_classes != 10:
            glob.append(f"n{self.num_classes}")
        if self.divisor != 8:
            glob.append(f"d{self.divisor}")
        tokens = ["_".join(glob), self.stem.token(), *(b.token() for b in self.blocks), self.head.token()]
        return "-".join(tokens)

    def to_dict(self) -> dict[str, Any]:
        """Plain mapping for YAML/JSON; :func:`arch_from_dict` inverts it exactly."""
        return {
            "resolution": self.resolution,
            "width": self.width,
            "num_classes": self.num_classes,
            "divisor": self.divisor,
            "stem": {f.name: getattr(self.stem, f.name) for f in fields(StemSpec)},
            "blocks": [_block_dict(b) for b in self.blocks],
            "head": {f.name: getattr(self.head, f.name) for f in fields(HeadSpec)},
        }


def _block_dict(block: BlockSpec) -> dict[str, Any]:
    """A block as a plain mapping; its options as {token: value}, and only when it has any."""
    data = {f.name: getattr(block, f.name) for f in fields(BlockSpec) if f.name != "options"}
    return {**data, "options": dict(block.options)} if block.options else data


def _resolve_block(block: BlockSpec, cin: int, cout: int, hw: int, divisor: int, index: int) -> Layer:
    """Concrete widths of one block (its type's rule); raises :class:`ArchError` for shapes it cannot take."""
    return block_type(block.type).resolve(block, cin, cout, hw, divisor, f"block {index} ({block.token()})")


def _check_kernel(kernel: Any) -> None:
    if not isinstance(kernel, int) or kernel not in (1, 3, 5, 7):
        raise ArchError(f"kernel must be 1, 3, 5 or 7, got {kernel!r}")


def _check_stride(stride: Any) -> None:
    if stride not in (1, 2):
        raise ArchError(f"stride must be 1 or 2, got {stride!r}")


def _check_act(act: Any) -> None:
    if act not in ACTIVATIONS:
        raise ArchError(f"unknown activation {act!r}; allowed: {', '.join(ACTIVATIONS)}")


