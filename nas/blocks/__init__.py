"""The block registry: every block type, one module each (see :mod:`nas.blocks.base`).

To add a block, write ``nas/blocks/<name>.py`` defining ``BLOCK`` (a :class:`~nas.blocks.base.BlockType`) and add
its module name to :data:`REGISTERED`. Arch strings, spaces, the cost model, the model builder and latency keys
then know it.
"""

from __future__ import annotations

import importlib

from nas.blocks.base import BlockType
from nas.errors import ArchError
from nas.layer import ACTIVATIONS, RESERVED_TOKENS

REGISTERED = ("ir", "ghost", "shuffle", "ds", "conv", "fused", "mb")
"""The block modules of this package, in the order help texts list them."""

BLOCKS: dict[str, BlockType] = {
    block.name: block for block in (importlib.import_module(f"nas.blocks.{name}").BLOCK for name in REGISTERED)}


def check_option_tokens(blocks: dict[str, BlockType]) -> None:
    """An option token that is a field's name (``k``, ``cin``, ...) would be read as that field: refused."""
    for block in blocks.values():
        clash = [o.token for o in block.options if o.token in RESERVED_TOKENS or not o.token.isalpha()
                 or any(act.startswith(o.token) and act[len(o.token):].isdigit() for act in ACTIVATIONS)]
        if clash:
            raise ArchError(f"block type {block.name!r}: option token(s) {clash} are field names of arch tokens or "
                            "keys, or not letters; choose other tokens")


check_option_tokens(BLOCKS)


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
