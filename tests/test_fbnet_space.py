"""The fbnet space is HW-NAS-Bench's and HELP's FBNet space exactly: every published network is an arch of it and
maps back to its ops, and the shipped device tables cover it."""

from __future__ import annotations

import csv

import pytest

from nas.latency.hwnasbench import OPS, fbnet_arch, fbnet_ops, read_layers
from nas.latency.table import load_table
from nas.space import load_space
from nas.vendored import HELP_FBNET, HW_NAS_BENCH

DEVICES = ("cpu_x86", "rpi4", "pixel3", "gtx1080ti", "gtx1080ti_b32", "gtx1080ti_b64", "rtx2080ti", "rtx2080ti_b32",
           "rtx2080ti_b64", "titan_rtx", "titan_rtx_b32", "titan_rtx_b64", "xeon_silver_4114", "xeon_gold_6226",
           "samsung_a50", "pixel2", "essential_ph1")


@pytest.fixture(scope="module")
def published() -> tuple[list, list]:
    layers, _ = read_layers(HW_NAS_BENCH)
    with open(HELP_FBNET) as handle:
        rows = list(csv.DictReader(handle))
    return layers, [[OPS[int(i)] for i in row["op_idx_list"].split()] for row in rows]


def test_every_published_network_is_an_arch_of_the_space_and_maps_back(published: tuple) -> None:
    layers, op_lists = published
    space = load_space("fbnet")
    assert len(op_lists) == 5000
    for ops in op_lists:
        arch = fbnet_arch(layers, ops, num_classes=10)
        assert space.contains(arch)
        back = fbnet_ops(arch, layers)
        assert fbnet_arch(layers, back, num_classes=10) == arch
        assert sorted(o for o in back if o != "skip") == sorted(o for o in ops if o != "skip")


def test_sampled_archs_are_fbnet_networks(published: tuple) -> None:
    layers, _ = published
    for arch in load_space("fbnet").sample_random(30, seed=2):
        assert fbnet_arch(layers, fbnet_ops(arch, layers), num_classes=10) == arch


@pytest.mark.parametrize("device", DEVICES)
def test_the_shipped_tables_cover_the_space(device: str) -> None:
    keys = set(load_space("fbnet").layers())
    assert not keys - set(load_table(device).entries)
