"""Every block type in both strides: shapes, gradients, residual rules, BN folding."""

from __future__ import annotations

import copy

import pytest
import torch

from nas.arch import Layer
from nas.blocks import (
    GhostBottleneck,
    GhostModule,
    InvertedResidual,
    ShuffleUnit,
    build_layer,
    channel_shuffle,
    fold_batchnorm,
)

CASES = [
    # kind, cin, mid, cout, kernel, stride, se
    ("ir", 16, 96, 24, 3, 1, 0), ("ir", 24, 144, 24, 5, 1, 40), ("ir", 24, 24, 32, 7, 2, 8),
    ("ghost", 16, 48, 24, 3, 1, 0), ("ghost", 24, 72, 24, 5, 1, 24), ("ghost", 24, 72, 40, 5, 2, 24),
    ("shuffle", 24, 58, 116, 3, 2, 0), ("shuffle", 116, 58, 116, 5, 1, 0), ("shuffle", 24, 58, 116, 3, 1, 0),
    ("ds", 16, 16, 32, 3, 2, 8), ("ds", 32, 32, 32, 5, 1, 0),
]


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
