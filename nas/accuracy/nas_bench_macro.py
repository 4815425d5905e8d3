"""NAS-Bench-Macro: benchmark codes <-> archs of ``search_spaces/nas_bench_macro.yaml``, and its accuracies.

A code is 8 characters, one per layer, in stages of 2, 3 and 3 layers: ``0`` identity, ``1`` an
inverted residual k3 e3, ``2`` one k5 e6. At a stage's first (striding) layer identity is a 1x1 conv +
BN without activation; elsewhere it is no layer at all, so codes that differ only in where a stage's
identities sit are the same network. :func:`code_to_arch` is many-to-one; :func:`arch_to_codes` gives
every code of an arch, and the canonical one (identities last in each stage) first.

An arch's accuracy is the mean over its codes of the benchmark's 3-seed means: each code was
trained separately, so equivalent codes are extra seeds of one network.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path

from nas.arch import Arch, parse_arch
from nas.errors import NasError

STAGES = ((64, 2), (128, 3), (256, 3))
"""(channels, layers) per stage; the first layer of each strides by 2."""
OPS = {"1": "ir_k3_e3", "2": "ir_k5_e6"}
STRIDED_IDENTITY = "conv_k1_e1_{c}_s2_linear"
PREFIX = "r32_w1-stem_c32_k3_s1"
SUFFIX = "head_c1280"
CODE_LENGTH = sum(n for _, n in STAGES)


class BenchmarkError(NasError):
    """The benchmark file is missing or corrupt, or an arch or code is not in it."""


def _check_code(code: str) -> None:
    if not (isinstance(code, str) and len(code) == CODE_LENGTH and set(code) <= {"0", "1", "2"}):
        raise BenchmarkError(f"{code!r} is not a NAS-Bench-Macro code ({CODE_LENGTH} characters of 0, 1, 2)")


def code_to_arch(code: str) -> Arch:
    """The network a benchmark code stands for."""
    _check_code(code)
    tokens = [PREFIX]
    position = 0
    for channels, layers in STAGES:
        for index in range(layers):
            op = code[position + index]
            stride = 2 if index == 0 else 1
            if op == "0":
                if index == 0:
                    tokens.append(STRIDED_IDENTITY.format(c=f"c{channels}"))
                continue
            tokens.append(f"{OPS[op]}_c{channels}_s{stride}")
        position += layers
    return parse_arch("-".join([*tokens, SUFFIX]))


def arch_to_codes(arch: Arch) -> list[str]:
    """Every code of ``arch``, the canonical one (identities last in each stage) first; [] if it is no code's."""
    by_op = {v: k for k, v in OPS.items()}
    stages: list[list[str]] = [[] for _ in STAGES]
    channels = [c for c, _ in STAGES]
    for block in arch.blocks:
        if block.channels not in channels:
            return []
        token = f"{block.type_name}_k{block.kernel}_e{block.expansion:g}"
        stage = channels.index(block.channels)
        if block.stride == 2 and stages[stage]:
            return []
        if token == "conv_k1_e1" and block.act == "linear" and block.stride == 2:
            stages[stage].append("0")
        elif token in by_op and block.act == "relu":
            stages[stage].append(by_op[token])
        else:
            return []
    per_stage = []
    for ops, (_, layers) in zip(stages, STAGES):
        if not ops or len(ops) > layers:
            return []
        first, rest = ops[0], ops[1:]
        gaps = layers - 1 - len(rest)
        options = []
        for places in itertools.combinations(range(layers - 1), len(rest)):  # where the non-identities sit
            filled = ["0"] * (layers - 1)
            for place, op in zip(places, rest):
                filled[place] = op
            options.append(first + "".join(filled))
        canonical = first + "".join(rest) + "0" * gaps
        per_stage.append([canonical, *sorted(set(options) - {canonical})])
    codes = ["".join(parts) for parts in itertools.product(*per_stage)]
    if str(code_to_arch(codes[0])) != str(arch):
        return []
    return codes


@dataclass(frozen=True)
class Record:
    """One code's published result: test accuracies (fractions) of its 3 trainings, MACs and params."""

    code: str
    accuracies: tuple[float, ...]
    params: int
    macs: int

    @property
    def mean(self) -> float:
        return sum(self.accuracies) / len(self.accuracies)


class NasBenchMacro:
    """The benchmark as a look-up from arch (or code) to its 50-epoch CIFAR-10 test accuracy."""

    def __init__(self, records: dict[str, Record], source: str) -> None:
        self.records = records
        self.source = source

    def accuracy(self, arch: Arch) -> float:
        """Mean over the arch's codes of their 3-seed means, as a fraction."""
        codes = arch_to_codes(arch)
        if not codes:
            raise BenchmarkError(f"arch {arch.id} is not a NAS-Bench-Macro network (space nas_bench_macro): "
                                 f"{arch}")
        return sum(self.records[c].mean for c in codes) / len(codes)

    def kind(self, arch: Arch) -> str:
        """Every accuracy of this table is looked up (the space is the benchmark's, whole)."""
        return "looked up"

    def seeds(self, arch: Arch) -> list[float]:
        """Every training of the arch in the benchmark (3 per code)."""
        return [a for c in arch_to_codes(arch) for a in self.records[c].accuracies]

    def archs(self) -> list[Arch]:
        """The distinct networks, each once, in the order of their canonical codes."""
        seen: dict[str, Arch] = {}
        for code in sorted(self.records):
            arch = code_to_arch(code)
            seen.setdefault(str(arch), arch)
        return list(seen.values())


def load_benchmark(path: str | Path | None = None) -> NasBenchMacro:
    """The vendored benchmark (or another copy), validated: 6,561 codes, 3 finite accuracies each."""
    from nas.vendored import NAS_BENCH_MACRO

    path = Path(path) if path else NAS_BENCH_MACRO
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise BenchmarkError(f"NAS-Bench-Macro file {path} does not exist (the repository ships it in "
                             "data/nas_bench_macro/)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BenchmarkError(f"{path}: not a readable NAS-Bench-Macro JSON file ({exc}); restore it from the "
                             "repository") from None
    if not isinstance(raw, dict) or len(raw) != 3 ** CODE_LENGTH:
        raise BenchmarkError(f"{path}: expected a mapping of {3 ** CODE_LENGTH} codes, got "
                             f"{len(raw) if isinstance(raw, dict) else type(raw).__name__}")
    records = {}
    for code, value in raw.items():
        try:
            _check_code(code)
            accuracies = tuple(float(a) / 100 for a in value["test_acc"])
            params, macs = int(value["params"]), int(value["flops"])
        except (BenchmarkError, KeyError, TypeError, ValueError) as exc:
            raise BenchmarkError(f"{path}: entry {code!r} is malformed ({exc}); restore the file") from None
        if len(accuracies) != 3 or not all(math.isfinite(a) and 0 <= a <= 1 for a in accuracies):
            raise BenchmarkError(f"{path}: entry {code!r} needs 3 test accuracies in [0, 100], got {value['test_acc']}")
        records[code] = Record(code, accuracies, params, macs)
    return NasBenchMacro(records, str(path))
