"""Architectures as plain immutable values.

An :class:`Arch` says *what* a network is (resolution, width multiplier, stem, blocks, head) and
nothing about how any other module stores things. Everything else is a function of it: the torch
model (:mod:`nas.model`), the latency-table keys (:meth:`Arch.layers`), FLOPs and the ONNX file.

Two text forms round-trip exactly:

* the compact string, one ``-``-separated token per part, safe to paste in a shell::

      r32_w1-stem_c16_k3_s1-ir_k3_e1_c16_s1-ir_se_k5_e6_c24_s2_relu6-head_c1504

  global token ``r{resolution}_w{width}[_n{classes}][_d{divisor}]``; block token
  ``{type}[_se]_k{kernel}_e{expansion}_c{channels}_s{stride}[_g{groups}][_{option}{value}...][_{act}]`` (act
  omitted when ``relu``; options are the block type's own, written only where they differ from their default);
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

from nas.arch_grammar import (  # noqa: F401  (the arch's public vocabulary, from its two modules)
    arch_from_dict,
    arch_to_yaml,
    parse_arch,
    parse_block,
    read_arch_file,
)
from nas.arch_values import BLOCK_TYPES, Arch, BlockSpec, HeadSpec, StemSpec, _resolve_block  # noqa: F401
from nas.layer import (  # noqa: F401
    ACTIVATIONS,
    DEFAULT_ACT,
    SE_RATIO,
    Layer,
    format_number,
    layer_from_key,
    make_divisible,
)
