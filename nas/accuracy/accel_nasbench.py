"""Accel-NASBench's networks (``data/accel_nasbench/``) as archs of this tool, and its published operation count.

A row gives per stage an expansion, a kernel, a layer count and SE on or off, shared by the stage's layers; the
macro-architecture is EfficientNet-B0's at 224 px and 1,000 classes (``data/accel_nasbench/README.md``). Written
with EfficientNet's MBConv (:mod:`nas.blocks.mb`, swish, SE on the block's input width), every row's parameter
count equals the published ``params_m``.

Why ``published_macs``: the published ``macs_m`` is not multiply-accumulates alone. It equals the convolutions'
and classifier's MACs plus 4 operations per BatchNorm output element plus each SE's pooled elements (within
0.08 % on all rows). The tool's ``macs`` keeps the MobileNet papers' convention; this count is for comparing with
the published column.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from nas.arch import Arch, parse_arch
from nas.errors import NasError
from nas.vendored import ACCEL_NASBENCH

CHANNELS = (16, 24, 40, 80, 112, 192, 320)
STRIDES = (1, 2, 2, 2, 1, 2, 1)
EXPANSIONS, KERNELS = (1, 4, 6), (3, 5)
MAX_LAYERS = (3, 3, 3, 3, 3, 4, 3)
"""Layers per stage at most (stage 5 takes 4; the README's ranges, and every published row fits them)."""


class BenchmarkError(NasError):
    """The benchmark's file is missing or damaged, or a row is outside its space."""


@dataclass(frozen=True)
class Row:
    """One published network: its per-stage choices and what was measured."""

    id: str
    stages: tuple[tuple[int, int, int, int], ...]
    """Per stage: (expansion, kernel, layers, se)."""
    values: dict[str, float | None]


def stage_choices_to_arch(stages: tuple[tuple[int, int, int, int], ...]) -> Arch:
    """The arch of per-stage (expansion, kernel, layers, se) choices; one error line for a choice outside the space."""
    if len(stages) != len(CHANNELS):
        raise BenchmarkError(f"an Accel-NASBench network has {len(CHANNELS)} stages, got {len(stages)}")
    blocks = []
    for index, (expansion, kernel, layers, se) in enumerate(stages):
        if expansion not in EXPANSIONS or kernel not in KERNELS or se not in (0, 1) \
                or not 1 <= layers <= MAX_LAYERS[index]:
            raise BenchmarkError(f"stage {index}: (e{expansion}, k{kernel}, {layers} layers, se {se}) is outside "
                                 f"Accel-NASBench's space (e {EXPANSIONS}, k {KERNELS}, 1-{MAX_LAYERS[index]} layers, "
                                 "se 0/1)")
        for layer in range(layers):
            stride = STRIDES[index] if layer == 0 else 1
            blocks.append(f"mb{'_se' if se else ''}_k{kernel}_e{expansion}_c{CHANNELS[index]}_s{stride}_swish")
    return parse_arch("r224_w1_n1000-stem_c32_k3_s2_swish-" + "-".join(blocks) + "-head_c1280_swish")


def load_rows(path: Path = ACCEL_NASBENCH) -> list[Row]:
    """Every published row, checked: its choices in the space and its numbers finite (empty cells are None)."""
    import math

    try:
        with open(path, newline="") as handle:
            records = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise BenchmarkError(f"cannot read Accel-NASBench data {path}: {exc}") from None
    rows = []
    for number, record in enumerate(records, start=2):
        try:
            stages = tuple(tuple(int(record[f"b{s}_{f}"]) for f in ("e", "k", "l", "se")) for s in range(len(CHANNELS)))
            values = {k: (float(v) if v not in ("", None) else None) for k, v in record.items()
                      if not k.startswith("b") and k != "id"}
        except (KeyError, TypeError, ValueError) as exc:
            raise BenchmarkError(f"{path}: line {number} is malformed ({exc})") from None
        if any(v is not None and not math.isfinite(v) for v in values.values()):
            raise BenchmarkError(f"{path}: line {number} holds a number that is not finite")
        rows.append(Row(record.get("id", str(number)), stages, values))
    return rows


def published_macs(arch: Arch) -> int:
    """Operations as Accel-NASBench counts them: MACs + 4 per BatchNorm output element + each SE's pooled elements."""
    from nas.cost import arch_cost

    batchnorm, pooled = 0, 0
    for layer in arch.layers():
        if layer.kind == "stem":
            batchnorm += layer.cout * layer.hw_out ** 2
        elif layer.kind == "head":
            batchnorm += layer.cout * layer.hw ** 2
        else:
            out = layer.hw_out ** 2
            expand = layer.cin * layer.hw ** 2 if layer.mid != layer.cin else 0
            batchnorm += layer.mid * layer.hw ** 2 * bool(expand) + layer.mid * out + layer.cout * out
            pooled += layer.mid * out if layer.se else 0
    return arch_cost(arch).macs + 4 * batchnorm + pooled


def stage_choices(arch: Arch) -> tuple[tuple[int, int, int, int], ...]:
    """The per-stage (expansion, kernel, layers, se) of an arch of the space; one error line for any other arch."""
    stages: list[list[int]] = []
    for block in arch.blocks:
        index = CHANNELS.index(block.channels) if block.channels in CHANNELS else -1
        if block.type != "mb" or index < 0 or index < len(stages) - 1 or index > len(stages):
            raise BenchmarkError(f"arch {arch.id} is not an Accel-NASBench network (space accel_nasbench): {arch}")
        if index == len(stages):
            stages.append([int(block.expansion), block.kernel, 0, int(block.se)])
        stages[index][2] += 1
    choices = tuple(tuple(stage) for stage in stages)
    if str(stage_choices_to_arch(choices)) != str(arch):  # type: ignore[arg-type]
        raise BenchmarkError(f"arch {arch.id} is not an Accel-NASBench network (space accel_nasbench): {arch}")
    return choices  # type: ignore[return-value]


SURROGATE = {"n_estimators": 1000, "max_depth": 3, "learning_rate": 0.05, "subsample": 0.8, "random_state": 0}
"""scikit-learn's gradient boosting, as the paper fits its surrogate; these settings gave held-out Kendall 0.917
(the paper reports about 0.92) on the 1,238 rows not fitted (``bench/accel_surrogate.py``)."""
SURROGATE_FIT = 2_900
"""Rows the surrogate is fitted on (a fixed seed's permutation); the other 1,238 judge it."""


class AccelNasBench:
    """ImageNet top-1 of an arch of the space, as a fraction: the published value where the network was sampled,
    else a surrogate's prediction, and which of the two it is (:meth:`accuracy`)."""

    def __init__(self, rows: list[Row] | None = None) -> None:
        self.rows = rows if rows is not None else load_rows()
        self.published = {str(stage_choices_to_arch(row.stages)): row.values["val_top1"] / 100 for row in self.rows
                          if row.values.get("val_top1") is not None}
        self._surrogate = None

    @staticmethod
    def features(stages: tuple[tuple[int, int, int, int], ...]) -> list[float]:
        return [float(value) for stage in stages for value in stage]

    def surrogate(self) -> object:
        """The surrogate fitted on the first :data:`SURROGATE_FIT` rows of a fixed permutation (fitted once)."""
        if self._surrogate is None:
            import numpy as np
            from sklearn.ensemble import GradientBoostingRegressor

            order = np.random.default_rng(0).permutation(len(self.rows))[:SURROGATE_FIT]
            fitted = [self.rows[i] for i in order if self.rows[i].values.get("val_top1") is not None]
            model = GradientBoostingRegressor(**SURROGATE)
            model.fit([self.features(row.stages) for row in fitted], [row.values["val_top1"] for row in fitted])
            self._surrogate = model
        return self._surrogate

    def accuracy(self, arch: Arch) -> tuple[float, str]:
        """(top-1 as a fraction, 'looked up' or 'predicted')."""
        stages = stage_choices(arch)
        if str(arch) in self.published:
            return self.published[str(arch)], "looked up"
        predicted = float(self.surrogate().predict([self.features(stages)])[0])  # type: ignore[attr-defined]
        return predicted / 100, "predicted"

    def kind(self, arch: Arch) -> str:
        return self.accuracy(arch)[1]

    def archs(self) -> list[Arch]:
        """The published networks with an accuracy, each once (what ``--candidates table`` draws from)."""
        seen: dict[str, Arch] = {}
        for row in self.rows:
            if row.values.get("val_top1") is not None:
                arch = stage_choices_to_arch(row.stages)
                seen.setdefault(str(arch), arch)
        return list(seen.values())

    def seeds(self, arch: Arch) -> list[float]:
        """One training per network (the paper's one seed), for the evaluator's seed interface."""
        return [self.accuracy(arch)[0]]
