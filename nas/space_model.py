"""The search-space model: stages and per-block choices, sampled into :class:`Arch` values (no file reading here).

A space is a stem, a list of stages and a head (see ``search_spaces/*.yaml``). Each stage gives its
output channels (before width scaling), the stride of its first block, a depth range, and the
choices of every block in it (types, kernels, expansions); global choices are the width multiplier
and the input resolution.

Sampling is written once against a tiny :class:`Chooser` interface, so an Optuna trial
(define-by-run) and a seeded RNG produce archs by exactly the same rules. Every block slot up to
the stage's maximum depth is always asked for, even when the sampled depth leaves it unused: the
parameter set is then the same for every trial, which is what NSGA-II's crossover and multivariate
TPE work best with. Choices that do not change the network are canonicalised (a Ghost bottleneck
with stride 1 and an identity shortcut never uses its kernel, so it is always recorded as the
smallest kernel), so equal networks are equal archs and :meth:`SearchSpace.size` counts networks,
not parameter vectors.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from nas.arch import (
    Arch,
    BlockSpec,
    HeadSpec,
    Layer,
    StemSpec,
    _resolve_block,
)
from nas.blocks import block_type
from nas.cost import Cost, arch_cost, layer_cost


class Chooser(Protocol):
    """What sampling needs from its source of randomness (an Optuna trial or an RNG)."""

    def categorical(self, name: str, options: Sequence[Any]) -> Any: ...

    def integer(self, name: str, low: int, high: int) -> int: ...


class RandomChooser:
    """Uniform choices from a seeded numpy generator."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def categorical(self, name: str, options: Sequence[Any]) -> Any:
        return options[int(self.rng.integers(len(options)))]

    def integer(self, name: str, low: int, high: int) -> int:
        return int(self.rng.integers(low, high + 1))


class TrialChooser:
    """Define-by-run choices from an Optuna trial (parameter names are stable across trials)."""

    def __init__(self, trial: Any) -> None:
        self.trial = trial

    def categorical(self, name: str, options: Sequence[Any]) -> Any:
        return self.trial.suggest_categorical(name, list(options))

    def integer(self, name: str, low: int, high: int) -> int:
        return self.trial.suggest_int(name, low, high)


class ReplayChooser:
    """Answers every choice from a parameter dict: what an enqueued Optuna trial does, and how a given arch's
    parameters (:func:`nas.space_params.trial_params`) are checked."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params

    def categorical(self, name: str, options: Sequence[Any]) -> Any:
        return self.params[name]

    def integer(self, name: str, low: int, high: int) -> int:
        return int(self.params[name])


class RecordingChooser:
    """Another chooser's choices, written down by parameter name (what ``study.enqueue_trial`` takes)."""

    def __init__(self, inner: Chooser) -> None:
        self.inner = inner
        self.params: dict[str, Any] = {}

    def categorical(self, name: str, options: Sequence[Any]) -> Any:
        self.params[name] = self.inner.categorical(name, options)
        return self.params[name]

    def integer(self, name: str, low: int, high: int) -> int:
        self.params[name] = self.inner.integer(name, low, high)
        return self.params[name]


@dataclass(frozen=True)
class Stage:
    """A run of blocks with the same output width; only the first block strides."""

    channels: int
    stride: int
    depth: tuple[int, int]
    types: tuple[str, ...]
    kernels: tuple[int, ...]
    expansions: tuple[float, ...]
    act: str
    choices: tuple[str, ...] = ()
    """Explicit block options (``ir_k3_e3``, ``conv_k1_e1_linear``: tokens without channels and stride) instead of
    every combination of types x kernels x expansions, for spaces that allow only some combinations."""
    first: tuple[str, ...] = ()
    """Explicit options of the stage's first (striding) block, when they differ from the others'."""
    tied: bool = False
    """One choice of type, kernel and expansion for every block of the stage (MnasNet's, EfficientNet's and OFA's
    spaces are written so), instead of one per block; the depth is still the stage's own."""

    def options(self, position: int) -> tuple[str, ...]:
        """The explicit options of a slot, or () when the slot takes the product of types, kernels, expansions."""
        return self.first if position == 0 and self.first else self.choices


@dataclass(frozen=True)
class Slot:
    """One block position at a given width: its fixed input shape and its distinct choices."""

    stage: int
    position: int
    cin: int
    cout: int
    hw: int
    stride: int
    choices: tuple[BlockSpec, ...]


@dataclass(frozen=True)
class SearchSpace:
    """A parsed, validated search space."""

    name: str
    description: str
    widths: tuple[float, ...]
    resolutions: tuple[int, ...]
    stem: StemSpec
    stages: tuple[Stage, ...]
    head: HeadSpec
    num_classes: int = 10
    divisor: int = 8
    path: str = ""
    screen: str = ""
    """The screening estimator ``--screen auto`` uses on this space, when its benchmark chose another than the
    default's (docs/decisions/0030); '' for the default."""
    screen_resolution: int = 0
    """The largest input a zero-cost screen scores an arch of this space at (0: the arch's own): at 224 px a proxy
    costs 10-30 s a network on a laptop CPU, and the ranking its benchmark measured was at this resolution."""
    prescreen: str = ""
    """The free signal ``--prescreen auto`` chooses the screened candidates by on this space, when its benchmark chose
    another than MACs (docs/decisions/0031); '' for MACs."""

    # -- structure --------------------------------------------------------------------------
    def slots(self, width: float, resolution: int) -> list[list[Slot]]:
        """Per stage, per position up to the maximum depth, the slot's shape and choices."""
        probe = self._probe(width, resolution)
        hw = probe.layers()[0].hw_out
        cin = probe.scaled(self.stem.channels)
        stages: list[list[Slot]] = []
        for index, stage in enumerate(self.stages):
            cout = probe.scaled(stage.channels)
            slots = []
            for position in range(stage.depth[1]):
                stride = stage.stride if position == 0 else 1
                choices = self._choices(stage, cin, cout, stride, position)
                slots.append(Slot(index, position, cin, cout, hw, stride, choices))
                hw, cin = (hw + stride - 1) // stride, cout
            stages.append(slots)
        return stages

    def _probe(self, width: float, resolution: int) -> Arch:
        return Arch(resolution, width, self.stem, (BlockSpec("ir", 3, 1, 8, 1),), self.head,
                    self.num_classes, self.divisor)

    def _choices(self, stage: Stage, cin: int, cout: int, stride: int, position: int) -> tuple[BlockSpec, ...]:
        seen: dict[BlockSpec, None] = {}
        if stage.options(position):
            return tuple(dict.fromkeys(_explicit(token, stage, stride) for token in stage.options(position)))
        for type_name, kernel, expansion in itertools.product(stage.types, stage.kernels, stage.expansions):
            block = self._block(type_name, kernel, expansion, stage, cin, cout, stride)
            seen.setdefault(block, None)
        return tuple(seen)

    def _block(self, type_name: str, kernel: int, expansion: float, stage: Stage, cin: int, cout: int,
               stride: int) -> BlockSpec:
        base, _, se = type_name.partition("_")
        block = BlockSpec(base, kernel, expansion, stage.channels, stride, bool(se), stage.act)
        return block_type(base).canonical(block, cin, cout, stage.kernels)

    # -- sampling ---------------------------------------------------------------------------
    def sample(self, chooser: Chooser) -> Arch:
        """Draw one arch; every parameter name is asked for on every call."""
        width = float(chooser.categorical("width", list(self.widths)))
        resolution = int(chooser.categorical("resolution", list(self.resolutions)))
        probe = self._probe(width, resolution)
        cin = probe.scaled(self.stem.channels)
        blocks: list[BlockSpec] = []
        for i, stage in enumerate(self.stages):
            low, high = stage.depth
            depth = chooser.integer(f"s{i}.depth", low, high) if low != high else low
            cout = probe.scaled(stage.channels)
            if stage.tied and not stage.choices:
                combo = (_ask(chooser, f"s{i}.type", stage.types), _ask(chooser, f"s{i}.kernel", stage.kernels),
                         _ask(chooser, f"s{i}.expansion", stage.expansions))
                for j in range(depth):
                    blocks.append(self._block(*combo, stage, cin, cout, stage.stride if j == 0 else 1))
                    cin = cout
                continue
            for j in range(high):
                stride = stage.stride if j == 0 else 1
                if stage.options(j):
                    token = _ask(chooser, f"s{i}.b{j}.block", stage.options(j))
                    if j < depth:
                        blocks.append(_explicit(token, stage, stride))
                        cin = cout
                    continue
                type_name = _ask(chooser, f"s{i}.b{j}.type", stage.types)
                kernel = _ask(chooser, f"s{i}.b{j}.kernel", stage.kernels)
                expansion = _ask(chooser, f"s{i}.b{j}.expansion", stage.expansions)
                if j < depth:
                    stride = stage.stride if j == 0 else 1
                    blocks.append(self._block(type_name, kernel, expansion, stage, cin, cout, stride))
                    cin = cout
        return Arch(resolution, width, self.stem, tuple(blocks), self.head, self.num_classes, self.divisor)

    def sample_random(self, n: int, seed: int = 0) -> list[Arch]:
        """``n`` random archs: the same draws as :meth:`sample_with_params` with the same seed."""
        return [arch for arch, _ in self.sample_with_params(n, seed)]

    def sample_trial(self, trial: Any) -> Arch:
        return self.sample(TrialChooser(trial))

    def sample_with_params(self, n: int, seed: int = 0) -> list[tuple[Arch, dict[str, Any]]]:
        """Random archs with the trial parameters that give each (``sample_trial`` rebuilds it from them)."""
        rng = np.random.default_rng(seed)
        drawn = []
        for _ in range(n):
            chooser = RecordingChooser(RandomChooser(rng))
            drawn.append((self.sample(chooser), chooser.params))
        return drawn

    # -- counting and enumeration -----------------------------------------------------------
    def size(self) -> int:
        """Exact number of distinct networks in the space."""
        total = 0
        for width in self.widths:
            per_width = 1
            for slots in self.slots(width, self.resolutions[0]):
                stage = self.stages[slots[0].stage]
                low, high = stage.depth
                if stage.tied and not stage.choices:
                    per_width *= sum(len(self._tied_chunks(stage, slots, d)) for d in range(low, high + 1))
                else:
                    per_width *= sum(math.prod(len(s.choices) for s in slots[:d]) for d in range(low, high + 1))
            total += per_width * len(self.resolutions)
        return total

    def layers(self) -> dict[str, Layer]:
        """Every distinct layer (stem, block, head) any arch of the space can contain, by key."""
        out: dict[str, Layer] = {}
        for width, resolution in itertools.product(self.widths, self.resolutions):
            probe = self._probe(width, resolution)
            stem = probe.layers()[0]
            out.setdefault(stem.key, stem)
            last: Slot | None = None
            for slots in self.slots(width, resolution):
                for slot in slots:
                    for block in slot.choices:
                        layer = _resolve_block(block, slot.cin, slot.cout, slot.hw, self.divisor, slot.position)
                        out.setdefault(layer.key, layer)
                    last = slot
            assert last is not None
            head = Layer("head", last.cout, self.head.channels, (last.hw + last.stride - 1) // last.stride,
                         act=self.head.act, hidden=self.head.hidden, classes=self.num_classes)
            out.setdefault(head.key, head)
        return out

    def cost_range(self) -> tuple[Cost, Cost]:
        """Exact (min, max) MACs over the space, with the params of those two archs."""
        smallest = largest = None
        for arch_min, arch_max in (self.extremes(w, r) for w in self.widths for r in self.resolutions):
            lo, hi = arch_cost(arch_min), arch_cost(arch_max)
            smallest = lo if smallest is None or lo.macs < smallest.macs else smallest
            largest = hi if largest is None or hi.macs > largest.macs else largest
        assert smallest is not None and largest is not None
        return smallest, largest

    def extremes(self, width: float, resolution: int,
                 cost: Callable[[Layer], float] | None = None) -> tuple[Arch, Arch]:
        """The cheapest and dearest archs at one width and resolution (by MACs unless ``cost`` is given,
        e.g. a latency-table entry).

        Each slot's input shape is fixed by its position, so per-slot costs add up independently:
        minimum depth with the cheapest block per slot, maximum depth with the dearest.
        """
        cost = cost or (lambda layer: layer_cost(layer).macs)
        small: list[BlockSpec] = []
        large: list[BlockSpec] = []
        for slots in self.slots(width, resolution):
            low = self.stages[slots[0].stage].depth[0]
            for slot in slots:
                ranked = sorted(slot.choices, key=lambda b, s=slot: cost(
                    _resolve_block(b, s.cin, s.cout, s.hw, self.divisor, 0)))
                large.append(ranked[-1])
                if slot.position < low:
                    small.append(ranked[0])
        make = lambda blocks: Arch(resolution, width, self.stem, tuple(blocks), self.head,  # noqa: E731
                                   self.num_classes, self.divisor)
        return make(small), make(large)

    def contains(self, arch: Arch) -> bool:
        """Whether ``arch`` is one of this space's networks (in canonical form)."""
        if (arch.width not in self.widths or arch.resolution not in self.resolutions
                or arch.stem != self.stem or arch.head != self.head or arch.num_classes != self.num_classes
                or arch.divisor != self.divisor):
            return False
        stages = self.slots(arch.width, arch.resolution)

        def match(stage: int, start: int) -> bool:
            if stage == len(stages):
                return start == len(arch.blocks)
            spec = self.stages[stage]
            low, high = spec.depth
            for depth in range(low, high + 1):
                chunk = arch.blocks[start:start + depth]
                if len(chunk) < depth:
                    return False
                if spec.tied and not spec.choices:
                    allowed = tuple(chunk) in self._tied_chunks(spec, stages[stage], depth)
                else:
                    allowed = all(b in slot.choices for b, slot in zip(chunk, stages[stage]))
                if allowed and match(stage + 1, start + depth):
                    return True
            return False

        return match(0, 0)


    def _tied_chunks(self, stage: Stage, slots: list[Slot], depth: int) -> set[tuple[BlockSpec, ...]]:
        """The distinct first ``depth`` blocks of a tied stage: one per choice of type, kernel and expansion."""
        return {tuple(self._block(type_name, kernel, expansion, stage, slot.cin, slot.cout, slot.stride)
                      for slot in slots[:depth])
                for type_name, kernel, expansion in itertools.product(stage.types, stage.kernels, stage.expansions)}


def _explicit(token: str, stage: Stage, stride: int) -> BlockSpec:
    """An explicit stage option (``ir_k3_e3``) as the block it is in this stage and slot."""
    from nas.arch import parse_block

    return parse_block(f"{token}_c{stage.channels}_s{stride}")


def _ask(chooser: Chooser, name: str, options: Sequence[Any]) -> Any:
    return chooser.categorical(name, list(options)) if len(options) > 1 else options[0]
