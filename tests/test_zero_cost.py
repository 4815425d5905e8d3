"""Zero-cost proxies and the estimator registry: defined, finite, deterministic, labelled with their fidelity."""

from __future__ import annotations

import math

import pytest
import torch

from nas.accuracy import ESTIMATORS, make_estimator
from nas.accuracy.combined import FittedModel, RankEnsemble
from nas.accuracy.nas_bench_macro import code_to_arch
from nas.accuracy.zero_cost import grad_norm, jacov, naswot, snip, synflow
from nas.data import synthetic_cifar
from nas.errors import NasError
from nas.space import load_space


def test_proxies_are_finite_and_deterministic() -> None:
    archs = [code_to_arch("00000000"), load_space("shufflenet_v2").extremes(0.5, 32)[0]]
    images = torch.randn(16, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(16) % 10
    for arch in archs:
        for proxy in (lambda a: naswot(a, images), synflow, lambda a: grad_norm(a, images, labels),
                      lambda a: snip(a, images, labels), lambda a: jacov(a, images)):
            score = proxy(arch)
            assert math.isfinite(score) and score == proxy(arch)
    # a bigger net at the same width carries more synaptic flow
    small, large = load_space("mbv2").extremes(1.0, 32)
    assert synflow(large) > synflow(small)


def test_synflow_in_float32_equals_the_float64_value() -> None:
    import copy

    import numpy as np

    from nas.model import build

    arch = code_to_arch("22222222")
    torch.manual_seed(0)
    model = copy.deepcopy(build(arch)).double().eval()
    with torch.no_grad():
        for param in model.parameters():
            param.abs_()
    model(torch.ones(1, 3, 32, 32, dtype=torch.float64)).sum().backward()
    exact = np.log10(sum(float((p.detach() * p.grad).abs().sum()) for p in model.parameters() if p.grad is not None))
    assert synflow(arch) == pytest.approx(exact, abs=1e-4)


def test_every_registered_estimator_scores_with_its_fidelity() -> None:
    data = synthetic_cifar(n_train=3000, n_test=100)
    small, large = code_to_arch("00000000"), code_to_arch("22222222")
    for name in ESTIMATORS:
        estimator = make_estimator(name, data)
        assert estimator.name == name and estimator.cost in ("free", "zero-cost", "training", "tabular")
        if estimator.cost == "training":
            continue  # trained in tests/test_data_train.py; here only its label
        score = estimator.score(small)
        assert math.isfinite(score.value) and score.fidelity.startswith(estimator.cost) and score.seconds >= 0
    assert make_estimator("macs").score(large).value > make_estimator("macs").score(small).value
    assert make_estimator("tabular").score(large).value > make_estimator("tabular").score(small).value
    with pytest.raises(NasError, match="unknown estimator"):
        make_estimator("oracle")
    with pytest.raises(NasError, match="needs CIFAR-10"):
        make_estimator("naswot")


def test_rank_ensemble_and_fitted_model_follow_their_components() -> None:
    macs, params = make_estimator("macs"), make_estimator("params")
    reference = [code_to_arch(c) for c in ("00000000", "11111111", "22222222", "10101010", "20202020")]
    ensemble = RankEnsemble([macs, params], reference)
    ordered = sorted(reference, key=lambda a: macs.score(a).value)
    values = [ensemble.score(a).value for a in ordered]
    assert values[0] < values[-1] and all(0 <= v <= 1 for v in values)
    truth = [macs.score(a).value * 2e-9 + 0.5 for a in reference]  # accuracy linear in MACs
    fitted = FittedModel([macs], reference, truth)
    new = code_to_arch("12121212")
    assert fitted.score(new).value == pytest.approx(macs.score(new).value * 2e-9 + 0.5, rel=1e-3)


def test_meco_sums_the_smallest_eigenvalue_of_each_convs_channel_correlation() -> None:
    import torch
    from torch import nn

    from nas.accuracy.meco import meco
    from nas.arch import parse_arch
    from nas.model import build

    arch = parse_arch("r16_w1-stem_c16_k3_s1-ir_se_k3_e3_c24_s2-ir_k5_e6_c24_s1-head_c64")
    image = torch.randn(1, 3, 16, 16)
    torch.manual_seed(0)
    model, expected = build(arch).train(), []

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        maps = output[0].flatten(1).double()
        if maps.shape[1] > 1:
            expected.append(float(torch.linalg.eigvalsh(torch.nan_to_num(torch.corrcoef(maps)))[0]))

    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            module.register_forward_hook(hook)
    with torch.no_grad():
        model(image)
    assert meco(arch, image) == pytest.approx(sum(expected)) and len(expected) >= 6
