"""Every block type in both strides: shapes, gradients, residual rules, BN folding; one registry for all of them."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import torch

from nas.arch import Layer, parse_arch
from nas.blocks import BLOCKS, REGISTERED
from nas.blocks.fused import FusedMBConv
from nas.blocks.ghost import GhostBottleneck, GhostModule
from nas.blocks.ir import InvertedResidual
from nas.blocks.shuffle import ShuffleUnit
from nas.blocks.torch_parts import build_layer, channel_shuffle, fold_batchnorm

CASES = [
    # kind, cin, mid, cout, kernel, stride, se
    ("ir", 16, 96, 24, 3, 1, 0), ("ir", 24, 144, 24, 5, 1, 40), ("ir", 24, 24, 32, 7, 2, 8),
    ("ghost", 16, 48, 24, 3, 1, 0), ("ghost", 24, 72, 24, 5, 1, 24), ("ghost", 24, 72, 40, 5, 2, 24),
    ("shuffle", 24, 58, 116, 3, 2, 0), ("shuffle", 116, 58, 116, 5, 1, 0), ("shuffle", 24, 58, 116, 3, 1, 0),
    ("ds", 16, 16, 32, 3, 2, 8), ("ds", 32, 32, 32, 5, 1, 0),
    ("fused", 16, 64, 24, 3, 2, 0), ("fused", 24, 96, 24, 3, 1, 24), ("fused", 24, 24, 24, 5, 1, 0),
]


def _registry_cases() -> list[tuple]:
    """Every registered block type, resolved by its own rule in both strides, with and without SE where it has it:
    a new block is tested by this file without being listed in it."""
    from nas.arch import BlockSpec
    from nas.errors import ArchError

    cases = []
    for name, block in BLOCKS.items():
        for stride in (1, 2):
            for se in (False, True) if block.se_variant else (False,):
                for cin, cout in ((24, 24), (16, 32)):
                    try:
                        layer = block.resolve(BlockSpec(name, 3, 4, cout, stride, se), cin, cout, 16, 8, name)
                    except ArchError:
                        continue  # a shape this type does not take (e.g. a stride-1 ShuffleNet unit that widens)
                    cases.append((name, layer.cin, layer.mid, layer.cout, 3, stride, layer.se))
    return cases


CASES += _registry_cases()


def test_every_registered_block_is_among_the_cases() -> None:
    assert {case[0] for case in CASES} == set(BLOCKS)


@pytest.mark.parametrize("kind,cin,mid,cout,kernel,stride,se", CASES)
def test_block_forward_backward(kind: str, cin: int, mid: int, cout: int, kernel: int, stride: int, se: int) -> None:
    layer = Layer(kind, cin, cout, 16, kernel, stride, mid, se)
    module = build_layer(layer)
    x = torch.randn(2, cin, 16, 16, requires_grad=True)
    y = module(x)
    assert y.shape == (2, cout, layer.hw_out, layer.hw_out)
    y.square().mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert all(p.grad is not None for p in module.parameters())


def test_inverted_residual_uses_residual_only_when_shapes_match() -> None:
    assert InvertedResidual(16, 96, 16, 3, 1).use_residual
    assert not InvertedResidual(16, 96, 24, 3, 1).use_residual
    assert not InvertedResidual(16, 96, 16, 3, 2).use_residual


def test_inverted_residual_is_identity_when_projection_is_zero() -> None:
    block = InvertedResidual(8, 16, 8, 3, 1).eval()
    torch.nn.init.zeros_(block.project.bn.weight)
    torch.nn.init.zeros_(block.project.bn.bias)
    x = torch.randn(1, 8, 6, 6)
    assert torch.equal(block(x), x)


def test_ghost_module_halves_the_primary_conv() -> None:
    module = GhostModule(16, 30)
    assert module.primary.conv.out_channels == 15 and module.cheap.conv.groups == 15
    assert module(torch.randn(1, 16, 4, 4)).shape == (1, 30, 4, 4)


def test_ghost_bottleneck_shortcut_forms() -> None:
    assert isinstance(GhostBottleneck(24, 72, 24, 3, 1).shortcut, torch.nn.Identity)
    projected = GhostBottleneck(24, 72, 40, 5, 2).shortcut
    assert projected[0].conv.groups == 24 and projected[0].conv.stride == (2, 2)
    assert projected[1].conv.kernel_size == (1, 1)


def test_channel_shuffle_interleaves_halves() -> None:
    x = torch.arange(6.0).reshape(1, 6, 1, 1)
    assert channel_shuffle(x, 2).flatten().tolist() == [0, 3, 1, 4, 2, 5]


def test_shuffle_unit_stride1_keeps_half_of_the_input() -> None:
    unit = ShuffleUnit(8, 4, 8, 3, 1).eval()
    x = torch.randn(1, 8, 5, 5)
    y = unit(x)
    # after the shuffle, even channels are the untouched first half of the input
    assert torch.equal(y[:, 0::2], x[:, :4])


def test_fold_batchnorm_preserves_outputs() -> None:
    torch.manual_seed(0)
    module = build_layer(Layer("ghost", 24, 40, 8, 5, 2, 72, 24))
    module.train()
    for _ in range(3):
        module(torch.randn(4, 24, 8, 8))
    module.eval()
    folded = fold_batchnorm(copy.deepcopy(module))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    x = torch.randn(2, 24, 8, 8)
    assert torch.allclose(folded(x), module(x), atol=1e-5)


@pytest.mark.parametrize("kind,cin,mid,cout,kernel,stride,se", CASES)
def test_each_block_counts_its_own_parameters(kind: str, cin: int, mid: int, cout: int, kernel: int, stride: int,
                                              se: int) -> None:
    layer = Layer(kind, cin, cout, 16, kernel, stride, mid, se)
    assert BLOCKS[kind].cost(layer).params == sum(p.numel() for p in build_layer(layer).parameters())


def test_fused_mbconv_is_efficientnetv2s_block() -> None:
    """EfficientNetV2-S stage 2's first block (er_r4_k3_s2_e4_c48 after a 24-wide stage), counted by hand:
    3x3 conv 24->96 + BN, 1x1 conv 96->48 + BN, no residual at stride 2."""
    arch = parse_arch("r32_w1-stem_c24_k3_s1-fused_k3_e4_c48_s2-head_c1280")
    layer = arch.layers()[1]
    assert layer.key == "fused|k3|cin24|mid96|cout48|s2|hw32|relu"
    module = build_layer(layer)
    assert isinstance(module, FusedMBConv) and not module.use_residual
    assert module.expand.conv.kernel_size == (3, 3) and module.expand.conv.stride == (2, 2)
    by_hand = 3 * 3 * 24 * 96 + 2 * 96 + 96 * 48 + 2 * 48
    assert sum(p.numel() for p in module.parameters()) == by_hand == BLOCKS["fused"].cost(layer).params
    assert build_layer(Layer("fused", 48, 48, 8, 3, 1, 192)).use_residual


def test_every_block_module_is_registered_and_no_other_module_names_a_block() -> None:
    """Adding a block is one file in nas/blocks and one REGISTERED entry: no other module names a block type."""
    package = Path(__file__).resolve().parent.parent / "nas"
    files = {p.stem for p in (package / "blocks").glob("*.py")} - {"__init__", "base", "torch_parts"}
    assert files == set(REGISTERED) and set(BLOCKS) == files
    mapped = {"latency/hwnasbench.py": {"ir", "conv"}, "accuracy/accel_nasbench.py": {"mb"},
              "space_model.py": {"ir"}, "space.py": {"ir"}}
    """The only modules that may: two benchmark adapters map their published operations onto the blocks they are,
    and a space's structure is probed with, and a stage without types defaults to, the plain inverted residual."""
    named = []
    for path in package.rglob("*.py"):
        if path.parent.name == "blocks":
            continue
        where = str(path.relative_to(package))
        for name in set(BLOCKS) - mapped.get(where, set()):
            if re.search(rf"[\"']{name}(_se)?[\"'](?![a-z])", path.read_text()):
                named.append(f"{where}: {name}")
    assert not named
