"""Architectures as plain immutable values.

An :class:`Arch` says *what* a network is (resolution, width multiplier, stem, blocks, head) and
nothing about how any other module stores things. Everything else is a function of it: the torch
model (:mod:`nas.model`), the latency-table keys (:meth:`Arch.layers`), FLOPs and the ONNX file.

Two text forms round-trip exactly:

* the compact string, one ``-``-separated token per part, safe to paste in a shell::

      r32_w1-stem_c16_k3_s1-ir_k3_e1_c16_s1-ir_se_k5_e6_c24_s2_relu6-head_c1504

  global token ``r{resolution}_w{width}[_n{classes}][_d{divisor}]``; block token
  ``{type}[_se]_k{kernel}_e{expansion}_c{channels}_s{stride}[_{act}]`` (act omitted when ``relu``);
  stem ``stem_c{c}_k{k}_s{s}[_{act}]``; head ``head_c{c}[_f{hidden}][_{act}]``.
* the YAML mapping of :meth:`Arch.to_dict` / :func:`arch_from_dict`.

Channel counts in an Arch are *base* counts: stem and block channels are scaled by ``width`` and
rounded to a multiple of ``divisor`` (MobileNet's rule; unchanged at width 1.0, so published
non-multiple-of-8 designs such as ShuffleNetV2's 116 channels stay exact). Head channels are
absolute, as in MobileNetV2, whose 1280-channel head does not shrink with the width.

:meth:`Arch.layers` resolves all of that into :class:`Layer` values with concrete channel counts and
spatial sizes. A layer's :attr:`Layer.key` names its computation exactly (two layers with equal keys
are the same computation), which is what a latency table is indexed by.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from nas.blocks import BLOCKS, block_type
from nas.errors import ArchError
from nas.layer import (  # noqa: F401  (re-exported: the arch's public vocabulary)
    ACTIVATIONS,
    DEFAULT_ACT,
    SE_RATIO,
    Layer,
    format_number,
    layer_from_key,
    make_divisible,
)

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

    def __post_init__(self) -> None:
        object.__setattr__(self, "expansion", float(self.expansion))
        kind = block_type(self.type)
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
        if self.act != DEFAULT_ACT:
            parts.append(self.act)
        return "_".join(parts)


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
            "blocks": [{f.name: getattr(b, f.name) for f in fields(BlockSpec)} for b in self.blocks],
            "head": {f.name: getattr(self.head, f.name) for f in fields(HeadSpec)},
        }


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


# --------------------------------------------------------------------------------------------
# Parsing

_FIELD = re.compile(r"^([a-z]+?)(\d+(?:\.\d+)?)$")


def _split_fields(token: str, prefix_len: int) -> dict[str, str]:
    """``k3_e6_c24_s2_relu6`` -> {'k': '3', 'e': '6', 'c': '24', 's': '2', 'act': 'relu6'}."""
    out: dict[str, str] = {}
    for part in token.split("_")[prefix_len:]:
        if part in ACTIVATIONS:
            name, value = "act", part
        else:
            match = _FIELD.match(part)
            if not match:
                raise ArchError(f"cannot parse field {part!r} of token {token!r}")
            name, value = match.groups()
        if name in out:
            raise ArchError(f"field {name!r} appears twice in token {token!r}")
        out[name] = value
    return out


def _int(fields_: dict[str, str], name: str, token: str, default: int | None = None) -> int:
    if name not in fields_:
        if default is None:
            raise ArchError(f"token {token!r} lacks its '{name}' field")
        return default
    try:
        return int(fields_[name])
    except ValueError:
        raise ArchError(f"field '{name}' of token {token!r} must be an integer") from None


def _check_known(fields_: dict[str, str], allowed: set[str], token: str) -> None:
    extra = set(fields_) - allowed
    if extra:
        raise ArchError(f"token {token!r} has unknown field(s) {sorted(extra)}; allowed: {sorted(allowed)}")


def parse_block(token: str) -> BlockSpec:
    """Parse one block token, e.g. ``ghost_se_k5_e3_c40_s2``."""
    parts = token.split("_")
    se = len(parts) > 1 and parts[1] == "se"
    type_name = parts[0]
    if type_name not in BLOCKS:
        raise ArchError(f"unknown block type {type_name!r} in token {token!r}; allowed: {', '.join(BLOCKS)}")
    f = _split_fields(token, 2 if se else 1)
    _check_known(f, {"k", "e", "c", "s", "g", "act"}, token)
    if "e" not in f:
        raise ArchError(f"token {token!r} lacks its 'e' (expansion) field")
    try:
        expansion = float(f["e"])
    except ValueError:
        raise ArchError(f"expansion of token {token!r} must be a number") from None
    try:
        return BlockSpec(type_name, _int(f, "k", token), expansion, _int(f, "c", token),
                         _int(f, "s", token), se, f.get("act", DEFAULT_ACT), _int(f, "g", token, 1))
    except ArchError as exc:
        if token in str(exc):
            raise
        raise ArchError(f"block token {token!r}: {exc}") from None


def parse_arch(text: str) -> Arch:
    """Parse the compact string form; raises :class:`ArchError` naming the bad token."""
    tokens = [t for t in text.strip().split("-") if t]
    if len(tokens) < 4:
        raise ArchError(
            f"an arch string needs a global token, a stem, at least one block and a head, "
            f"separated by '-' (e.g. r32_w1-stem_c16_k3_s1-ir_k3_e6_c16_s1-head_c1280); got {text!r}")
    glob, stem_token, *block_tokens, head_token = tokens
    g = _split_fields("x_" + glob, 1)
    _check_known(g, {"r", "w", "n", "d"}, glob)
    if "w" not in g:
        raise ArchError(f"global token {glob!r} lacks its width field 'w'")
    if not stem_token.startswith("stem_"):
        raise ArchError(f"second token must be the stem (stem_c16_k3_s1), got {stem_token!r}")
    if not head_token.startswith("head_"):
        raise ArchError(f"last token must be the head (head_c1280[_f1280]), got {head_token!r}")
    s = _split_fields(stem_token, 1)
    _check_known(s, {"c", "k", "s", "act"}, stem_token)
    h = _split_fields(head_token, 1)
    _check_known(h, {"c", "f", "act"}, head_token)
    try:
        width = float(g["w"])
    except ValueError:
        raise ArchError(f"width of {glob!r} must be a number") from None
    return Arch(
        resolution=_int(g, "r", glob),
        width=width,
        stem=StemSpec(_int(s, "c", stem_token), _int(s, "k", stem_token, 3), _int(s, "s", stem_token, 1),
                      s.get("act", DEFAULT_ACT)),
        blocks=tuple(parse_block(t) for t in block_tokens),
        head=HeadSpec(_int(h, "c", head_token), _int(h, "f", head_token, 0), h.get("act", DEFAULT_ACT)),
        num_classes=_int(g, "n", glob, 10),
        divisor=_int(g, "d", glob, 8),
    )


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ArchError(f"{where} must be a mapping, got {type(value).__name__}")
    return value


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    allowed = {f.name for f in fields(cls) if f.init}
    extra = set(data) - allowed
    if extra:
        raise ArchError(f"{where}: unknown field(s) {sorted(extra)}; allowed: {sorted(allowed)}")
    try:
        return cls(**data)
    except TypeError as exc:
        raise ArchError(f"{where}: {exc}") from None


def arch_from_dict(data: Any) -> Arch:
    """Inverse of :meth:`Arch.to_dict`; blocks may also be given as compact tokens."""
    data = dict(_mapping(data, "arch"))
    for required in ("resolution", "width", "stem", "blocks", "head"):
        if required not in data:
            raise ArchError(f"arch lacks the field {required!r}")
    blocks_raw = data.pop("blocks")
    if not isinstance(blocks_raw, list):
        raise ArchError("arch field 'blocks' must be a list")
    blocks = []
    for i, raw in enumerate(blocks_raw):
        if isinstance(raw, str):
            blocks.append(parse_block(raw))
        else:
            blocks.append(_build(BlockSpec, _mapping(raw, f"blocks[{i}]"), f"blocks[{i}]"))
    stem = _build(StemSpec, _mapping(data.pop("stem"), "stem"), "stem")
    head = _build(HeadSpec, _mapping(data.pop("head"), "head"), "head")
    return _build(Arch, {**data, "stem": stem, "head": head, "blocks": tuple(blocks)}, "arch")


def read_arch_file(path: str | Path) -> Arch:
    """Load an arch YAML file (the :meth:`Arch.to_dict` mapping; blocks may be compact tokens)."""
    from nas.fileio import read_yaml

    path = Path(path)
    data = read_yaml(path, ArchError)
    try:
        return arch_from_dict(data)
    except ArchError as exc:
        raise ArchError(f"{path}: {exc}") from None


def arch_to_yaml(arch: Arch) -> str:
    """YAML text of an arch, one flow-style mapping per block so it reads as a table."""
    data = arch.to_dict()
    text = f"# {arch}\n"
    text += yaml.safe_dump({k: data[k] for k in ("resolution", "width", "num_classes", "divisor")}, sort_keys=False)
    text += "stem: " + yaml.safe_dump(data["stem"], default_flow_style=True, sort_keys=False)
    text += "blocks:\n" + "".join("  - " + yaml.safe_dump(b, default_flow_style=True, sort_keys=False, width=1000)
                                  for b in data["blocks"])
    text += "head: " + yaml.safe_dump(data["head"], default_flow_style=True, sort_keys=False)
    return text
