"""Where the public data the tool ships with live (``data/`` in the repository; see ``data/README.md``).

Why a module: the tool, its tests and its benches read the same files, and a clean clone has nothing
else, so every default path to them is spelled once, here.
"""

from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
NAS_BENCH_MACRO = DATA_DIR / "nas_bench_macro" / "nas-bench-macro_cifar10.json"
HW_NAS_BENCH = DATA_DIR / "hw_nas_bench"
HELP_FBNET = DATA_DIR / "help_fbnet" / "fbnet_arch_latency_end_to_end.csv"
ACCEL_NASBENCH = DATA_DIR / "accel_nasbench" / "accel_nasbench.csv"
