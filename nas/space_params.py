"""From an arch back to the trial parameters that sample it: how a search starts from networks it did not draw.

Why: a search can be told to draw its candidates from a list of known networks instead of from the whole space
(``--candidates table``: a benchmark's published networks, each with a measured accuracy). The Optuna study is fed
trials by their parameters (``study.enqueue_trial``), so each such network needs the parameters that
:meth:`SearchSpace.sample` turns into it. Unused block slots (beyond a stage's depth) get their first option: the
parameter set stays the same for every trial. The answer is checked by sampling it again.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

from nas.arch import Arch, BlockSpec
from nas.space_model import ReplayChooser, SearchSpace, Slot, Stage, _explicit


def trial_params(space: SearchSpace, arch: Arch) -> dict[str, Any] | None:
    """The parameters that sample ``arch`` in ``space``, or None when it is not one of the space's networks."""
    if arch.width not in space.widths or arch.resolution not in space.resolutions:
        return None
    params: dict[str, Any] = {"width": arch.width, "resolution": arch.resolution}  # always asked, even if one
    slots = space.slots(arch.width, arch.resolution)
    for found in _stages(space, slots, arch.blocks, 0, 0):
        candidate = {**params, **found}
        try:
            if space.sample(ReplayChooser(candidate)) == arch:
                return candidate
        except KeyError:  # a choice the matching did not name: not this reading of the blocks
            continue
    return None


def _stages(space: SearchSpace, slots: list[list[Slot]], blocks: tuple[BlockSpec, ...], index: int,
            start: int) -> Iterator[dict[str, Any]]:
    """Every reading of ``blocks[start:]`` as stages ``index`` onward, as parameters (depth-first)."""
    if index == len(space.stages):
        if start == len(blocks):
            yield {}
        return
    stage = space.stages[index]
    low, high = stage.depth
    for depth in range(low, high + 1):
        chunk = blocks[start:start + depth]
        if len(chunk) < depth:
            return
        for own in _stage_params(space, stage, slots[index], index, chunk, depth):
            if low != high:
                own = {f"s{index}.depth": depth, **own}
            for rest in _stages(space, slots, blocks, index + 1, start + depth):
                yield {**own, **rest}


def _stage_params(space: SearchSpace, stage: Stage, slots: list[Slot], index: int, chunk: tuple[BlockSpec, ...],
                  depth: int) -> Iterator[dict[str, Any]]:
    """The parameters of one stage that give ``chunk`` at this depth (none, if no choice does)."""
    if stage.tied and not stage.choices:
        for combo in itertools.product(stage.types, stage.kernels, stage.expansions):
            made = tuple(space._block(*combo, stage, slot.cin, slot.cout, slot.stride) for slot in slots[:depth])
            if made == chunk:
                yield _named({f"s{index}.type": (combo[0], stage.types), f"s{index}.kernel": (combo[1], stage.kernels),
                              f"s{index}.expansion": (combo[2], stage.expansions)})
                return
        return
    params: dict[str, Any] = {}
    for j, slot in enumerate(slots):
        wanted = chunk[j] if j < depth else None
        options = stage.options(j)
        if options:
            token = next((t for t in options if wanted is None or _explicit(t, stage, slot.stride) == wanted), None)
            if token is None:
                return
            params.update(_named({f"s{index}.b{j}.block": (token, options)}))
            continue
        combos = itertools.product(stage.types, stage.kernels, stage.expansions)
        combo = next((c for c in combos if wanted is None
                      or space._block(*c, stage, slot.cin, slot.cout, slot.stride) == wanted), None)
        if combo is None:
            return
        params.update(_named({f"s{index}.b{j}.type": (combo[0], stage.types),
                              f"s{index}.b{j}.kernel": (combo[1], stage.kernels),
                              f"s{index}.b{j}.expansion": (combo[2], stage.expansions)}))
    yield params


def _named(choices: dict[str, tuple[Any, Sequence[Any]]]) -> dict[str, Any]:
    """Only the choices the sampler asks for: one with a single option is not a parameter."""
    return {name: value for name, (value, options) in choices.items() if len(options) > 1}
