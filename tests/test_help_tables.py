"""The 14 shipped device tables fitted per layer on HELP's whole-network latencies: their recorded validation is
what they predict for the held-out networks, and layers no HELP network has are labelled extrapolated."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from nas.latency.hwnasbench import OPS, fbnet_arch, read_layers
from nas.latency.table import error_text, load_table
from nas.space import load_space, resolve_arch
from nas.vendored import HELP_FBNET, HW_NAS_BENCH

DEVICES = {"gtx1080ti": "1080ti_1", "rtx2080ti_b32": "2080ti_32", "titan_rtx_b64": "titan_rtx_64",
           "xeon_gold_6226": "gold_6226", "xeon_silver_4114": "silver_4114", "samsung_a50": "samsung_a50",
           "pixel2": "pixel2", "essential_ph1": "essential_ph_1", "titan_rtx": "titan_rtx_1"}


@pytest.fixture(scope="module")
def help_networks() -> tuple[list, list[dict]]:
    layers, _ = read_layers(HW_NAS_BENCH)
    with open(HELP_FBNET) as handle:
        rows = list(csv.DictReader(handle))
    return [fbnet_arch(layers, [OPS[int(i)] for i in r["op_idx_list"].split()], num_classes=10) for r in rows], rows


def held_out(count: int) -> np.ndarray:
    """The networks the tables were not fitted on (the bench's split: a seed-0 permutation, after the first 2,500)."""
    return np.random.default_rng(0).permutation(count)[2_500:]


@pytest.mark.parametrize("device", sorted(DEVICES))
def test_the_recorded_validation_is_what_the_table_predicts(device: str, help_networks: tuple) -> None:
    archs, rows = help_networks
    table = load_table(device)
    assert {e.origin for e in table.entries.values()} == {"adapted"} and not table.meta.get("measured_networks")
    assert table.meta["fitted"]["networks"] >= 2_500 and "few_shot_adaptation" in table.meta
    rest = held_out(len(archs))
    predicted = table.compile().predict_many([archs[i] for i in rest])
    truth = np.array([float(rows[i][f"{DEVICES[device]}_ms"]) for i in rest])
    mape = float(np.mean(np.abs(predicted - truth) / truth) * 100)
    assert mape == pytest.approx(table.meta["validation"]["mape_pct"], abs=0.01)
    assert table.meta["validation"]["networks"] == len(rest) >= 1_000


def test_extrapolated_layers_have_no_error_bar_and_fitted_ones_do(help_networks: tuple) -> None:
    archs, _ = help_networks
    table = load_table("titan_rtx")
    ghost = load_space("ghost_mbv2").sample_random(1, seed=0)[0]
    assert table.error_bar(ghost) is None and error_text(None).startswith("unknown")
    fresh = archs[held_out(len(archs))[0]]
    bar = table.error_bar(fresh)
    assert bar is not None and 0 < bar < table.predict(fresh)
    assert table.predict(resolve_arch("mobilenet_v2_0.5")) > 0
