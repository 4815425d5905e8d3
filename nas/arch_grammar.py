"""The arch grammar: the compact string and the YAML mapping, parsed into values and written back.

Block tokens read their fields from the block type: the common ones (``k``, ``e``, ``c``, ``s``, ``g``, the
activation) and the type's own options (:attr:`nas.blocks.base.BlockType.options`, e.g. ``sr0.25``), so a block
with a new hyper-parameter needs no change here.
"""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml

from nas.arch_values import Arch, BlockSpec, HeadSpec, StemSpec
from nas.blocks import BLOCKS
from nas.errors import ArchError
from nas.layer import ACTIVATIONS, DEFAULT_ACT

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
    declared = {option.token: option for option in BLOCKS[type_name].options}
    _check_known(f, {"k", "e", "c", "s", "g", "act", *declared}, token)
    if "e" not in f:
        raise ArchError(f"token {token!r} lacks its 'e' (expansion) field")
    try:
        expansion = float(f["e"])
    except ValueError:
        raise ArchError(f"expansion of token {token!r} must be a number") from None
    try:
        options = {name: float(f[name]) for name in declared if name in f}
        return BlockSpec(type_name, _int(f, "k", token), expansion, _int(f, "c", token),
                         _int(f, "s", token), se, f.get("act", DEFAULT_ACT), _int(f, "g", token, 1), options)
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
