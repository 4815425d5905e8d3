"""The block registry: every block type, one module each (see :mod:`nas.blocks.base`).

To add a block, write ``nas/blocks/<name>.py`` defining ``BLOCK`` (a :class:`~nas.blocks.base.BlockType`) and add
its module name to :data:`REGISTERED`. Arch strings, spaces, the cost model, the model builder and latency keys
then know it.
"""

from __future__ import annotations

import importlib

from nas.blocks.base import BlockType
from nas.errors import ArchError

REGISTERED = ("ir", "ghost", "shuffle", "ds", "conv", "fused")
"""The block modules of this package, in the order help texts list them."""

BLOCKS: dict[str, BlockType] = {
    block.name: block for block in (importlib.import_module(f"nas.blocks.{name}").BLOCK for name in REGISTERED)}


def block_type(name: str) -> BlockType:
    """The registered block type ``name``; one clear error naming the known ones otherwise."""
    try:
        return BLOCKS[name]
    except KeyError:
        raise ArchError(f"unknown block type {name!r}; allowed: {', '.join(BLOCKS)}") from None


def type_names() -> tuple[str, ...]:
    """Every type a space may offer: each block, and ``{name}_se`` where the block has a squeeze-excite variant."""
    names = [name for block in BLOCKS.values() for name in (block.name, f"{block.name}_se") if
             name == block.name or block.se_variant]
    return tuple(names)
