"""The open block grammar: a block type declares its own options, and arch strings, keys, costs and modules read
them from the declaration; archs and keys without options are unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from nas.arch import Arch, BlockSpec, arch_from_dict, parse_arch
from nas.blocks import BLOCKS
from nas.blocks.base import BlockOption
from nas.blocks.ir import InvertedResidualType
from nas.cost import arch_cost
from nas.errors import ArchError
from nas.latency.table_home import TABLES_DIR
from nas.layer import layer_from_key
from nas.model import build

MB = "r64_w1_n100-stem_c32_k3_s2_swish-mb_se_k3_e6_c16_s1_sr0.5_dl2_swish-mb_k5_e1_c24_s2_swish-head_c320_swish"


def test_options_round_trip_through_strings_yaml_and_keys() -> None:
    arch = parse_arch(MB)
    assert str(arch) == MB and arch.blocks[0].options == (("sr", 0.5), ("dl", 2.0))
    assert arch_from_dict(json.loads(json.dumps(arch.to_dict()))) == arch
    key = arch.layers()[1].key
    assert key.endswith("|sr0.5|dl2|swish") and layer_from_key(key) == arch.layers()[1]
    default = parse_arch(MB.replace("_sr0.5_dl2", "_sr0.25"))  # a default is left out of strings and keys
    assert "sr" not in str(default) and "|sr" not in default.layers()[1].key


def test_the_cost_model_and_the_module_read_the_options() -> None:
    arch = parse_arch(MB)
    assert arch.layers()[1].se == 16  # 32 input channels x 0.5, not a share of the 192-wide expansion
    model = build(arch)
    assert arch_cost(arch).params == sum(p.numel() for p in model.parameters())
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 100)
    assert arch_cost(parse_arch(MB.replace("_sr0.5", ""))).params < arch_cost(arch).params


@pytest.mark.parametrize("text,fragment", [
    (MB.replace("sr0.5", "sr2"), "option sr must be a number in"),
    (MB.replace("dl2", "dl1.5"), "option dl must be a whole number"),
    (MB.replace("mb_k5_e1_c24_s2", "ir_k5_e1_c24_s2_sr0.5"), "unknown field"),
])
def test_a_bad_option_is_one_clear_error(text: str, fragment: str) -> None:
    with pytest.raises(ArchError, match=fragment):
        parse_arch(text)


def test_a_new_block_with_an_option_is_one_file_and_one_registry_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """As a contributor adds one: a type that declares ``dl``; nothing else in the package changes."""
    class DilatedIR(InvertedResidualType):
        name = "dir"
        options = (BlockOption("dl", "dilation", 1, 1, 4, integer=True),)

    monkeypatch.setitem(BLOCKS, "dir", DilatedIR())
    arch = parse_arch("r32_w1-stem_c16_k3_s1-dir_k3_e6_c24_s1_dl3-head_c64")
    assert str(arch).count("dir_k3_e6_c24_s1_dl3") == 1 and arch.layers()[1].key.endswith("|dl3|relu")
    assert layer_from_key(arch.layers()[1].key) == arch.layers()[1]
    assert arch_cost(arch).params > 0


def test_an_option_token_that_is_a_field_name_is_refused() -> None:
    from nas.blocks import check_option_tokens

    class Clash(InvertedResidualType):
        name = "clash"
        options = (BlockOption("cin", "a clash", 1, 1, 4),)

    with pytest.raises(ArchError, match="field names"):
        check_option_tokens({"clash": Clash()})


def test_every_shipped_table_key_reads_back_to_itself() -> None:
    keys = 0
    for path in sorted(TABLES_DIR.glob("*.json")):
        for key in json.loads(path.read_text())["entries"]:
            assert layer_from_key(key).key == key, (path.name, key)
            keys += 1
    assert keys > 10_000


def test_existing_arch_strings_parse_to_the_same_arch() -> None:
    from nas.space import available_baselines, iter_spaces, resolve_arch

    for name in available_baselines():
        arch = resolve_arch(name)
        assert parse_arch(str(arch)) == arch and all(not b.options for b in arch.blocks)
    for space in iter_spaces():
        for arch in space.sample_random(5, seed=3):
            assert parse_arch(str(arch)) == arch


def test_a_spec_rejects_an_option_its_type_does_not_declare() -> None:
    with pytest.raises(ArchError, match="has no option"):
        BlockSpec("ir", 3, 6, 24, 1, options={"sr": 0.5})
    assert isinstance(parse_arch(MB), Arch) and Path(TABLES_DIR).is_dir()
