"""Resolved layers: the concrete computations a network is made of, and the latency-table keys that name them.

Why apart from :mod:`nas.arch`: the block types (:mod:`nas.blocks`) resolve an arch's blocks into layers, and
the arch reads the block registry, so layers sit below both. No torch here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nas.errors import ArchError

ACTIVATIONS = ("relu", "relu6", "hswish", "swish", "linear")
"""``linear``: no activation (e.g. the 1x1 conv + BN that stands in for identity where a layer strides);
``swish``: x * sigmoid(x), SiLU (EfficientNet, MnasNet-A1's successors)."""
DEFAULT_ACT = "relu"
SE_RATIO = 0.25
"""Squeeze-excite bottleneck width as a share of the width it gates (MobileNetV3, GhostNet)."""


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round ``value`` to a multiple of ``divisor``, never going more than 10 % below it.

    This is the rule of the MobileNet/GhostNet reference code; using it keeps our width-scaled
    channel counts identical to the published models.
    """
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def format_number(value: float) -> str:
    """Shortest exact text for a float: ``6`` for 6.0, ``0.75``, ``2.3``."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


@dataclass(frozen=True)
class Layer:
    """A resolved part of a network: concrete channels and input size; what gets measured.

    ``mid`` is the expanded width (IR, Ghost), the branch width (Shuffle) or ``cin`` (DS);
    ``se`` the squeeze-excite bottleneck width (0 = no SE); ``hidden``/``classes`` only for heads.
    """

    kind: str
    cin: int
    cout: int
    hw: int
    kernel: int = 1
    stride: int = 1
    mid: int = 0
    se: int = 0
    act: str = DEFAULT_ACT
    hidden: int = 0
    classes: int = 0
    groups: int = 1
    options: tuple[tuple[str, float], ...] = ()
    """A block type's own hyper-parameters beyond the common ones (:class:`nas.blocks.base.BlockOption`), as
    (token, value) in the type's order; none by default, so every key without them is unchanged."""

    @property
    def hw_out(self) -> int:
        if self.kind == "head":
            return 1
        return (self.hw + self.stride - 1) // self.stride

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        """Batch-1 NCHW input of this layer."""
        return (1, self.cin, self.hw, self.hw)

    @property
    def key(self) -> str:
        """Canonical latency-table key; equal keys mean identical computation.

        The key is the layer's kind (with its SE and group suffixes) and every resolved width, so a block type
        defines its key by how it resolves (:meth:`nas.blocks.base.BlockType.resolve`): a kind with no inner
        width (``mid`` 0: the stem, a plain conv) leaves the ``mid`` field out.
        """
        if self.kind == "head":
            return (f"head|cin{self.cin}|cout{self.cout}|fc{self.hidden}|nc{self.classes}"
                    f"|hw{self.hw}|{self.act}")
        name = (f"{self.kind}_se" if self.se else self.kind) + (f"_g{self.groups}" if self.groups > 1 else "")
        if not self.mid:
            return f"{name}|k{self.kernel}|cin{self.cin}|cout{self.cout}|s{self.stride}|hw{self.hw}|{self.act}"
        se = f"|se{self.se}" if self.se else ""
        options = "".join(f"|{token}{format_number(value)}" for token, value in self.options)
        return (f"{name}|k{self.kernel}|cin{self.cin}|mid{self.mid}{se}|cout{self.cout}"
                f"|s{self.stride}|hw{self.hw}{options}|{self.act}")


_KEY_FIELD = re.compile(r"^(k|cin|mid|se|cout|s|hw|fc|nc)(\d+)$")
_OPTION_FIELD = re.compile(r"^([a-z]+?)(\d+(?:\.\d+)?)$")
RESERVED_TOKENS = frozenset({"k", "cin", "mid", "se", "cout", "s", "hw", "fc", "nc", "e", "c", "g", "r", "w", "n", "d",
                             "f"})
"""Field names of arch tokens and keys: a block option may not take one (its token would be read as that field)."""
_KEY_NAMES = {"k": "kernel", "cin": "cin", "mid": "mid", "se": "se", "cout": "cout", "s": "stride", "hw": "hw",
              "fc": "hidden", "nc": "classes"}


def layer_from_key(key: str) -> Layer:
    """The layer a table key names (the inverse of :attr:`Layer.key`).

    A table holds only keys; whatever else it needs about an entry (its weight bytes for the
    calibration, its shape for transfer) is recovered from the key, so keys stay the one truth.
    """
    parts = key.split("|")
    if len(parts) < 3:
        raise ArchError(f"not a layer key: {key!r}")
    head, *middle, act = parts
    match = re.fullmatch(r"([a-z]+?)(_se)?(?:_g(\d+))?", head)
    if match is None:
        raise ArchError(f"not a layer key: {key!r}")
    kind, groups = match.group(1), int(match.group(3) or 1)
    values: dict[str, int] = {}
    options: list[tuple[str, float]] = []
    for part in middle:
        field_match = _KEY_FIELD.match(part)
        if field_match is not None:
            values[_KEY_NAMES[field_match.group(1)]] = int(field_match.group(2))
            continue
        option_match = _OPTION_FIELD.match(part)
        if option_match is None:
            raise ArchError(f"layer key {key!r}: cannot read {part!r}")
        options.append((option_match.group(1), float(option_match.group(2))))
    try:
        layer = Layer(kind=kind, act=act, groups=groups, options=tuple(options), **values)
    except TypeError as exc:
        raise ArchError(f"layer key {key!r}: {exc}") from None
    if layer.key != key:
        raise ArchError(f"not a canonical layer key: {key!r} (reads back as {layer.key!r})")
    return layer
