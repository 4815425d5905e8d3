"""Search spaces from YAML files: finding, reading and validating them, and the baselines beside them.

The space itself (stages, slots, sampling, size, extremes) is :mod:`nas.space_model`, re-exported here; this
module turns a YAML document into one, naming the file and the field of anything wrong.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from nas.arch import ACTIVATIONS, DEFAULT_ACT, Arch, HeadSpec, StemSpec, _resolve_block, parse_arch, read_arch_file
from nas.blocks import type_names
from nas.errors import ArchError, SpaceError
from nas.space_model import (  # noqa: F401  (re-exported: the space's public vocabulary)
    Chooser,
    RandomChooser,
    RecordingChooser,
    SearchSpace,
    Slot,
    Stage,
    TrialChooser,
    _explicit,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
SPACES_DIR = REPO_ROOT / "search_spaces"
TYPE_NAMES = type_names()
KERNELS = (1, 3, 5, 7)


# ------------------------------------------------------------------------------------------------
# Loading


MAX_STAGES = 32
"""Stages a space may have; with :data:`MAX_BLOCKS` and the depth limit (32 a stage), a hostile space file cannot make
sampling, sizing or table building run for ever (a 20,000-stage file did)."""
MAX_BLOCKS = 128
"""Blocks an arch of a space may have at most (EfficientNet-B7 has 55)."""


def available_spaces() -> list[str]:
    return sorted(p.stem for p in SPACES_DIR.glob("*.yaml"))


def load_space(name_or_path: str | Path) -> SearchSpace:
    """A space by name (``ghost_mbv2``) or by YAML path; errors name the file and the field."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = SPACES_DIR / f"{name_or_path}.yaml"
        if not path.is_file():
            raise SpaceError(f"unknown search space {str(name_or_path)!r}; available: "
                             f"{', '.join(available_spaces())} (or give a path to a .yaml file)")
    if not path.is_file():
        raise SpaceError(f"search space file {str(path)!r} does not exist")
    from nas.fileio import read_yaml

    return parse_space(read_yaml(path, SpaceError), str(path))


class _Reader:
    """Typed field access that reports ``file: field: problem (allowed: ...)``."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, field: str, message: str) -> SpaceError:
        return SpaceError(f"{self.source}: {field}: {message}")

    def mapping(self, data: Any, field: str) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise self.fail(field, f"must be a mapping, got {type(data).__name__}")
        return data

    def known(self, data: dict[str, Any], field: str, allowed: set[str]) -> None:
        extra = sorted(set(data) - allowed)
        if extra:
            raise self.fail(field, f"unknown key(s) {extra} (allowed: {', '.join(sorted(allowed))})")

    def get(self, data: dict[str, Any], key: str, field: str, default: Any = ...) -> Any:
        if key not in data:
            if default is ...:
                raise self.fail(f"{field}{key}", "is required")
            return default
        return data[key]

    def int_(self, value: Any, field: str, low: int = 1, high: int = 100_000) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(field, f"{value!r} is not allowed (an integer in [{low}, {high}])")
        return value

    def list_(self, value: Any, field: str, allowed: Sequence[Any] | None = None, kind: type = int,
              low: float = 0, high: float = 1e9) -> tuple[Any, ...]:
        if not isinstance(value, list) or not value:
            raise self.fail(field, f"must be a non-empty list, got {value!r}")
        out = []
        for item in value:
            ok = isinstance(item, (int, float)) and not isinstance(item, bool) if kind is float else isinstance(item, kind)
            if not ok or (allowed is not None and item not in allowed) or (
                    allowed is None and kind is not str and not low <= item <= high):
                what = ", ".join(map(str, allowed)) if allowed is not None else f"{kind.__name__} in [{low}, {high}]"
                raise self.fail(field, f"{item!r} is not allowed (allowed: {what})")
            out.append(kind(item))
        if len(set(out)) != len(out):
            raise self.fail(field, f"has duplicates: {value!r}")
        return tuple(out)


def parse_space(data: Any, source: str = "<space>") -> SearchSpace:
    """Validate a loaded YAML document into a :class:`SearchSpace`."""
    r = _Reader(source)
    top = r.mapping(data, "(top level)")
    r.known(top, "(top level)", {"name", "description", "widths", "resolutions", "num_classes", "divisor",
                                 "stem", "blocks", "stages", "head", "screen", "screen_resolution",
                                 "prescreen"})
    name = r.get(top, "name", "")
    if not isinstance(name, str) or not name:
        raise r.fail("name", "must be a non-empty string")
    widths = r.list_(r.get(top, "widths", "", [1.0]), "widths", kind=float, low=0.05, high=4)
    resolutions = r.list_(r.get(top, "resolutions", "", [32]), "resolutions", low=8, high=1024)
    num_classes = r.int_(r.get(top, "num_classes", "", 10), "num_classes", low=2)
    divisor = r.get(top, "divisor", "", 8)
    if divisor not in (1, 2, 4, 8, 16):
        raise r.fail("divisor", f"{divisor!r} is not allowed (allowed: 1, 2, 4, 8, 16)")
    defaults = r.mapping(top.get("blocks", {}), "blocks")
    r.known(defaults, "blocks", BLOCK_KEYS)
    stages_raw = r.get(top, "stages", "")
    if not isinstance(stages_raw, list) or not stages_raw:
        raise r.fail("stages", "must be a non-empty list of stages")
    if len(stages_raw) > MAX_STAGES:
        raise r.fail("stages", f"{len(stages_raw):,} stages; a space has at most {MAX_STAGES} (a mobile CNN has 5-10)")
    stages = tuple(_parse_stage(r, raw, f"stages[{i}]", defaults) for i, raw in enumerate(stages_raw))
    layers = sum(stage.depth[1] for stage in stages)
    if layers > MAX_BLOCKS:
        raise r.fail("stages", f"up to {layers} blocks (the stages' maximum depths added up); a space has at most "
                               f"{MAX_BLOCKS}")
    screen = top.get("screen", "")
    if not isinstance(screen, str) or not re.fullmatch(r"[a-z0-9_]*", screen):
        raise r.fail("screen", f"{screen!r} is not an estimator's name (the search checks it against its registry)")
    screen_resolution = r.int_(top.get("screen_resolution", 0), "screen_resolution", low=0, high=1024)
    prescreen = top.get("prescreen", "")
    if prescreen not in ("", *PRESCREEN_SIGNALS):
        raise r.fail("prescreen", f"{prescreen!r} is not a pre-screen signal (allowed: {', '.join(PRESCREEN_SIGNALS)})")
    space = SearchSpace(name, str(top.get("description", "")), widths, resolutions, _parse_stem(r, top), stages,
                        _parse_head(r, top), num_classes, divisor, source, screen, screen_resolution, prescreen)
    _check_buildable(r, space)
    return space


PRESCREEN_SIGNALS = ("macs", "params")
"""The free capacity signals a pre-screen may rank by: the most of it for the latency chooses what is screened."""

BLOCK_KEYS = {"types", "kernels", "expansions", "act", "tied"}
"""Block choices a stage may set, or inherit from the top-level ``blocks``; ``tied: true`` makes one choice for the
whole stage (:attr:`nas.space_model.Stage.tied`)."""


def _parse_stem(r: _Reader, top: dict[str, Any]) -> StemSpec:
    stem_raw = r.mapping(r.get(top, "stem", ""), "stem")
    r.known(stem_raw, "stem", {"channels", "kernel", "stride", "act"})
    return StemSpec(r.int_(r.get(stem_raw, "channels", "stem."), "stem.channels"),
                    _choice(r, stem_raw.get("kernel", 3), "stem.kernel", KERNELS),
                    _choice(r, stem_raw.get("stride", 1), "stem.stride", (1, 2)),
                    _act(r, stem_raw.get("act", DEFAULT_ACT), "stem.act"))


def _parse_head(r: _Reader, top: dict[str, Any]) -> HeadSpec:
    head_raw = r.mapping(r.get(top, "head", ""), "head")
    r.known(head_raw, "head", {"channels", "hidden", "act"})
    return HeadSpec(r.int_(r.get(head_raw, "channels", "head."), "head.channels"),
                    r.int_(head_raw.get("hidden", 0), "head.hidden", low=0),
                    _act(r, head_raw.get("act", DEFAULT_ACT), "head.act"))


def _parse_stage(r: _Reader, raw: Any, field: str, defaults: dict[str, Any]) -> Stage:
    st = r.mapping(raw, field)
    r.known(st, field, {"channels", "stride", "depth", "choices", "first"} | BLOCK_KEYS)
    depth = r.get(st, "depth", f"{field}.")
    if isinstance(depth, int) and not isinstance(depth, bool):
        depth = [depth, depth]
    if not (isinstance(depth, list) and len(depth) == 2 and all(isinstance(d, int) for d in depth)
            and 0 <= depth[0] <= depth[1] <= 32 and depth[1] >= 1):
        raise r.fail(f"{field}.depth", f"{depth!r} is not allowed ([min, max] with 0 <= min <= max <= 32, max >= 1; "
                                       "min 0: the stage may be skipped, where its input and output shapes agree)")
    merged = {**defaults, **{k: v for k, v in st.items() if k in BLOCK_KEYS}}
    explicit = {key: r.list_(st[key], f"{field}.{key}", kind=str) if key in st else () for key in ("choices", "first")}
    if explicit["choices"]:  # the explicit options stand for the product: its lists are not needed
        merged = {"types": ["ir"], "kernels": [3], "expansions": [1], **merged}
    for key in ("types", "kernels", "expansions"):
        if key not in merged:
            raise r.fail(f"{field}.{key}", "is required (in the stage or in the top-level 'blocks')")
    stage = Stage(
        channels=r.int_(r.get(st, "channels", f"{field}."), f"{field}.channels"),
        stride=_choice(r, r.get(st, "stride", f"{field}.", 1), f"{field}.stride", (1, 2)),
        depth=(depth[0], depth[1]),
        types=r.list_(merged["types"], f"{field}.types", TYPE_NAMES, str),
        kernels=r.list_(merged["kernels"], f"{field}.kernels", KERNELS),
        expansions=r.list_(merged["expansions"], f"{field}.expansions", kind=float, low=0.1, high=12),
        act=_act(r, merged.get("act", DEFAULT_ACT), f"{field}.act"),
        choices=explicit["choices"], first=explicit["first"], tied=_flag(r, merged.get("tied", False), f"{field}.tied"),
    )
    for key, tokens in explicit.items():
        for token in tokens:
            try:
                _explicit(token, stage, 1)
            except ArchError as exc:
                raise r.fail(f"{field}.{key}", f"{token!r} is not a block option ({exc}); write e.g. ir_k3_e3 "
                             "or conv_k1_e1_linear") from None
    return stage


def _check_buildable(r: _Reader, space: SearchSpace) -> None:
    """Every slot must accept its choices (e.g. odd widths for ShuffleNet)."""
    try:
        for width in space.widths:
            for slots in space.slots(width, space.resolutions[0]):
                for slot in slots:
                    for block in slot.choices:
                        _resolve_block(block, slot.cin, slot.cout, slot.hw, space.divisor, slot.position)
    except ArchError as exc:
        raise r.fail("stages", f"a block the space allows cannot be built: {exc}") from None


def _choice(r: _Reader, value: Any, field: str, allowed: Sequence[int]) -> int:
    if value not in allowed or isinstance(value, bool):
        raise r.fail(field, f"{value!r} is not allowed (allowed: {', '.join(map(str, allowed))})")
    return int(value)


def _flag(r: _Reader, value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise r.fail(field, f"{value!r} is not allowed (true or false)")
    return value


def _act(r: _Reader, value: Any, field: str) -> str:
    if value not in ACTIVATIONS:
        raise r.fail(field, f"{value!r} is not allowed (allowed: {', '.join(ACTIVATIONS)})")
    return str(value)


def iter_spaces() -> Iterator[SearchSpace]:
    for name in available_spaces():
        yield load_space(name)


BASELINES_DIR = SPACES_DIR / "baselines"


def available_baselines() -> list[str]:
    return sorted(p.stem for p in BASELINES_DIR.glob("*.yaml"))


def resolve_arch(text: str) -> Arch:
    """An arch from a compact string, an arch YAML path, or a baseline name (``mobilenet_v2_1.0``)."""
    candidate = Path(text)
    try:
        is_file = candidate.is_file()
    except OSError:  # an arch string longer than a file name can be
        is_file = False
    if candidate.suffix in (".yaml", ".yml") or is_file:
        if not candidate.is_file():
            raise ArchError(f"arch file {text!r} does not exist")
        return read_arch_file(candidate)
    if text in available_baselines():
        return read_arch_file(BASELINES_DIR / f"{text}.yaml")
    if "-" not in text:
        raise ArchError(f"{text!r} is neither an arch string, an arch YAML file nor a baseline "
                        f"(baselines: {', '.join(available_baselines())})")
    return parse_arch(text)
