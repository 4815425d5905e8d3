"""Search spaces: loading, validation messages, sampling, exact size, key enumeration, cost."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nas.arch import arch_from_dict, arch_to_yaml, parse_arch
from nas.cost import arch_cost, layer_cost
from nas.errors import SpaceError
from nas.model import build
from nas.space import available_spaces, load_space, parse_space
from nas.space_model import ReplayChooser

SPACES = available_spaces()

TINY = {
    "name": "tiny", "widths": [0.5, 1.0], "resolutions": [16, 32],
    "stem": {"channels": 16}, "blocks": {"types": ["ir", "ghost", "ghost_se"], "kernels": [3, 5], "expansions": [1, 3]},
    "stages": [{"channels": 16, "stride": 1, "depth": [1, 2]}, {"channels": 24, "stride": 2, "depth": [1, 2]}],
    "head": {"channels": 64},
}


def test_shipped_spaces_are_the_four_required() -> None:
    assert {"mbv2", "ghost_mbv2", "ghostnet", "shufflenet_v2"} <= set(SPACES)


def test_fbnet_macro_architecture_of_mbv2_spaces() -> None:
    for name in ("mbv2", "ghost_mbv2"):
        space = load_space(name)
        assert [s.channels for s in space.stages] == [16, 24, 32, 64, 112, 184, 352]
        assert [s.stride for s in space.stages] == [1, 1, 2, 2, 1, 2, 1]
        assert (space.stem.channels, space.stem.stride, space.head.channels) == (16, 1, 1504)
        assert 1.0 in space.widths and 32 in space.resolutions


class _Recorder:
    def __init__(self) -> None:
        self.params: dict[str, list[Any]] = {}

    def categorical(self, name: str, options: Sequence[Any]) -> Any:
        self.params[name] = list(options)
        return options[0]

    def integer(self, name: str, low: int, high: int) -> int:
        self.params[name] = list(range(low, high + 1))
        return low


def test_size_is_exact_by_brute_force() -> None:
    """Every parameter vector of a one-width, one-resolution TINY enumerated (7,776 networks); the full TINY's
    widths and resolutions only multiply."""
    space = parse_space({**TINY, "widths": [1.0], "resolutions": [32]})
    recorder = _Recorder()
    space.sample(recorder)
    names = list(recorder.params)
    distinct = {str(space.sample(ReplayChooser(dict(zip(names, values)))))
                for values in itertools.product(*recorder.params.values())}
    assert space.size() == len(distinct)
    # by hand: identity slots offer 4 ir + 2 ghost + 2 ghost_se (ghost ignores its kernel there),
    # the strided slot 12; stages: 8 + 8*8 and 12 + 12*8; times 2 widths x 2 resolutions for the full TINY
    assert space.size() == (8 + 8 * 8) * (12 + 12 * 8)
    assert parse_space(TINY).size() == 4 * space.size()


def test_layers_cover_every_sampled_arch() -> None:
    for name in SPACES:
        space = load_space(name)
        keys = set(space.layers())
        for arch in space.sample_random(50, seed=1):
            assert set(arch.keys()) <= keys, name


def test_cost_range_brackets_samples() -> None:
    for name in SPACES:
        space = load_space(name)
        low, high = space.cost_range()
        macs = [arch_cost(a).macs for a in space.sample_random(100, seed=2)]
        assert low.macs <= min(macs) and max(macs) <= high.macs


def test_seeded_sampling_is_deterministic() -> None:
    space = load_space("ghost_mbv2")
    assert space.sample_random(5, seed=7) == space.sample_random(5, seed=7)
    assert space.sample_random(5, seed=7) != space.sample_random(5, seed=8)


def test_sampling_from_an_optuna_trial() -> None:
    space = load_space("ghost_mbv2")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    archs = []
    for _ in range(5):
        trial = study.ask()
        archs.append(space.sample_trial(trial))
        study.tell(trial, 0.0)
    assert all(space.contains(a) for a in archs)
    # every trial asks for the same parameters (a fixed space for NSGA-II / TPE)
    assert len({frozenset(t.params) for t in study.trials}) == 1


def test_contains_rejects_foreign_archs() -> None:
    space = load_space("mbv2")
    assert not space.contains(parse_arch("r32_w1-stem_c16_k3_s1-ir_k3_e6_c16_s1-head_c1504"))
    assert not space.contains(load_space("ghostnet").sample_random(1)[0])


@pytest.mark.parametrize("name", SPACES)
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1))
def test_any_sampled_arch_builds_runs_and_round_trips(name: str, seed: int) -> None:
    space = load_space(name)
    arch = space.sample_random(1, seed)[0]
    assert space.contains(arch)
    assert parse_arch(str(arch)) == arch
    assert arch_from_dict(yaml.safe_load(arch_to_yaml(arch))) == arch
    model = build(arch).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, arch.resolution, arch.resolution))
    assert out.shape == (1, arch.num_classes) and torch.isfinite(out).all()


def _measured_cost(model: torch.nn.Module, resolution: int) -> int:
    macs = 0

    def hook(module: torch.nn.Module, inputs: Any, output: torch.Tensor) -> None:
        nonlocal macs
        if isinstance(module, torch.nn.Conv2d):
            per_output = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
            macs += output[0].numel() * per_output
        else:
            macs += module.in_features * module.out_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    with torch.no_grad():
        model.eval()(torch.randn(1, 3, resolution, resolution))
    for handle in handles:
        handle.remove()
    return macs


@pytest.mark.parametrize("name", SPACES)
@settings(max_examples=3, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_analytical_cost_equals_measured(name: str, seed: int) -> None:
    arch = load_space(name).sample_random(1, seed)[0]
    model = build(arch)
    cost = arch_cost(arch)
    assert cost.params == sum(p.numel() for p in model.parameters())
    assert cost.macs == _measured_cost(model, arch.resolution)
    for layer, module in zip(arch.layers(), model):
        assert layer_cost(layer).params == sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("mutate,fragment", [
    (lambda d: d["stages"][1].update(kernels=[3, 4]), r"stages\[1\]\.kernels: 4 is not allowed \(allowed: 1, 3, 5, 7\)"),
    (lambda d: d["stages"][0].update(depth=[2, 1]), r"stages\[0\]\.depth"),
    (lambda d: d["blocks"].update(types=["ir", "dense"]), r"stages\[0\]\.types: 'dense' is not allowed"),
    (lambda d: d.update(widths="wide"), r"widths: must be a non-empty list"),
    (lambda d: d.pop("head"), r"head: is required"),
    (lambda d: d["stem"].update(stride=3), r"stem\.stride: 3 is not allowed"),
    (lambda d: d.update(colour="red"), r"unknown key\(s\) \['colour'\]"),
    (lambda d: d["stages"][0].update(types=["shuffle"], channels=15), r"even output width"),
])
def test_bad_space_files_name_the_file_and_field(tmp_path: Path, mutate: Any, fragment: str) -> None:
    data = yaml.safe_load(yaml.safe_dump(TINY))
    mutate(data)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(SpaceError, match=fragment) as info:
        load_space(path)
    assert str(path) in str(info.value)


def test_malformed_yaml_and_unknown_names(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nstages: [\n")
    with pytest.raises(SpaceError, match="not valid YAML"):
        load_space(path)
    with pytest.raises(SpaceError, match="unknown search space 'nope'.*ghost_mbv2"):
        load_space("nope")


@pytest.mark.e2e
def test_the_cost_model_spaces_and_latency_look_ups_import_no_torch() -> None:
    """A board, or a job that only reads tables, has no torch: arch, space, cost and table work without it."""
    import subprocess
    import sys

    code = ("import sys\n"
            "from nas.space import load_space\n"
            "from nas.latency.table import load_table\n"
            "from nas.cost import arch_cost\n"
            "arch = load_space('ghost_mbv2').sample_random(1, seed=0)[0]\n"
            "assert load_table('rpi4').predict(arch) > 0 and arch_cost(arch).macs > 0\n"
            "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('torch'))[:3]\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
