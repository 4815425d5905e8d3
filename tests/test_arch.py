"""The Arch value: text forms round-trip, hashes are stable, bad input is reported clearly."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from nas.arch import (
    Arch,
    BlockSpec,
    HeadSpec,
    StemSpec,
    arch_from_dict,
    arch_to_yaml,
    layer_from_key,
    make_divisible,
    parse_arch,
)
from nas.errors import ArchError

TEXT = ("r32_w0.75_n100_d4-stem_c16_k3_s1_hswish-ir_k3_e1_c16_s1-ghost_se_k5_e2.3_c24_s2_relu6"
        "-shuffle_k7_e2_c48_s2-ds_se_k5_e1_c64_s1-head_c960_f1280_hswish")


def test_string_round_trip_is_exact() -> None:
    arch = parse_arch(TEXT)
    assert str(arch) == TEXT
    assert parse_arch(str(arch)) == arch
    assert arch.blocks[1] == BlockSpec("ghost", 5, 2.3, 24, 2, True, "relu6")
    assert arch.num_classes == 100 and arch.divisor == 4 and arch.head == HeadSpec(960, 1280, "hswish")


def test_yaml_round_trip_is_exact() -> None:
    arch = parse_arch(TEXT)
    assert arch_from_dict(yaml.safe_load(arch_to_yaml(arch))) == arch
    assert arch_from_dict(arch.to_dict()) == arch


def test_hash_is_stable_and_content_based() -> None:
    arch = parse_arch(TEXT)
    assert arch.id == parse_arch(TEXT).id and len(arch.id) == 12
    assert hash(arch) == hash(parse_arch(TEXT))
    other = dataclasses.replace(arch, width=1.0)
    assert other.id != arch.id and other != arch


def test_hash_value_is_pinned() -> None:
    # The id names run folders and caches: it must not change between versions.
    arch = Arch(32, 1.0, StemSpec(16), (BlockSpec("ir", 3, 6, 24, 2),), HeadSpec(1280))
    assert str(arch) == "r32_w1-stem_c16_k3_s1-ir_k3_e6_c24_s2-head_c1280"
    assert arch.id == "280def419280"


def test_width_scaling_follows_mobilenet_rounding() -> None:
    assert make_divisible(24 * 0.75) == 24 and make_divisible(16 * 0.5) == 8 and make_divisible(12) == 16
    arch = parse_arch("r32_w0.5-stem_c32_k3_s1-ir_k3_e6_c24_s2-head_c1280")
    stem, block, head = arch.layers()
    assert (stem.cout, block.cin, block.mid, block.cout, head.cout) == (16, 16, 96, 16, 1280)
    assert block.hw == 32 and block.hw_out == 16 and head.hw == 16


def test_layer_keys_name_the_computation() -> None:
    arch = parse_arch("r32_w1-stem_c16_k3_s1-ir_se_k5_e6_c24_s2-head_c1504")
    assert list(arch.keys()) == ["stem|k3|cin3|cout16|s1|hw32|relu",
                           "ir_se|k5|cin16|mid96|se24|cout24|s2|hw32|relu",
                           "head|cin24|cout1504|fc0|nc10|hw16|relu"]


@pytest.mark.parametrize("text,fragment", [
    ("r32_w1-stem_c16_k3_s1-ir_k4_e6_c24_s1-head_c10", "kernel must be"),
    ("r32_w1-stem_c16_k3_s1-dense_k3_e6_c24_s1-head_c10", "unknown block type"),
    ("r32_w1-stem_c16_k3_s1-ir_k3_c24_s1-head_c10", "'e'"),
    ("r32_w1-stem_c16_k3_s1-ir_k3_e6_c24_s3-head_c10", "stride"),
    ("r32_w1-stem_c16_k3_s1-shuffle_se_k3_e1_c24_s2-head_c10", "squeeze-excite"),
    ("r32_w1-stem_c16_k3_s1-shuffle_k3_e1_c25_s2-head_c10", "even"),
    ("r32_w1-ir_k3_e6_c24_s1-head_c10", "stem"),
    ("r32-stem_c16_k3_s1-ir_k3_e6_c24_s1-head_c10", "width"),
    ("r32_w1-stem_c16_k3_s1-ir_k3_e6_c24_s1_zz9-head_c10", "unknown field"),
    ("nonsense", "needs a global token"),
])
def test_bad_strings_raise_arch_errors(text: str, fragment: str) -> None:
    with pytest.raises(ArchError, match=fragment):
        parse_arch(text)


def test_bad_yaml_mapping_names_the_field() -> None:
    data = parse_arch(TEXT).to_dict()
    data["blocks"][0]["colour"] = "red"
    with pytest.raises(ArchError, match=r"blocks\[0\].*colour"):
        arch_from_dict(data)


def test_layer_keys_read_back_into_the_same_layers() -> None:
    from nas.space import available_baselines, available_spaces, load_space, resolve_arch

    layers = {}
    for name in available_spaces():
        layers.update(load_space(name).layers())
    for name in available_baselines():
        layers.update({layer.key: layer for layer in resolve_arch(name).layers()})
    layers.update({layer.key: layer for layer in parse_arch(TEXT).layers()})
    for key, layer in layers.items():
        assert layer_from_key(key) == layer


@pytest.mark.parametrize("key", ["", "ir", "ir|k3|cin16", "ir|k3|cin16|mid16|cout16|s1|hwx|relu",
                                 "ir|k3|cin16|zz4|cout16|s1|hw32|relu", "IR|k3|cin16|mid16|cout16|s1|hw32|relu"])
def test_malformed_layer_keys_are_reported(key: str) -> None:
    with pytest.raises(ArchError):
        layer_from_key(key)
