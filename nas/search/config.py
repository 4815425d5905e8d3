"""A search's fully resolved configuration: parsed once, validated before any work, saved in the run.

``runs/<name>/config.yaml`` holds every field, so ``nas search --config runs/<name>/config.yaml``
reproduces a run and ``nas search --resume <name>`` continues it.
"""

from __future__ import annotations

import functools
import re
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from nas.accuracy.registry import screening_names
from nas.errors import NasError
from nas.search.drivers import DRIVERS
from nas.train import DEFAULT_RUNGS, Fidelity

ACCURACY_SOURCES = ("train", "tabular")
"""train: short CIFAR-10 trainings (the default); tabular: a space's published trained accuracies, looked up
(benchmarks a search algorithm in seconds; only for spaces with a table, see nas.accuracy.tabular)."""
BACKENDS = tuple(DRIVERS)
STUDY_FILE = "study.db"
"""The Optuna study's file in a run folder (the default storage); :class:`nas.search.run_folder.RunFolder` names it."""
SCREENS = ("auto", "none", *screening_names())
"""What may screen candidates before any training: the registry's estimators that can (free or zero-cost: seconds
per arch, :mod:`nas.accuracy.registry`). ``none`` trains every sampled feasible candidate at rung 0; ``auto`` is the
space's screen (naswot unless its YAML names another) on every backend that can screen, with training or with the
tabular source (which then judges the default algorithm)."""
CANDIDATES = ("space", "table")
"""Where the pre-screen pool is drawn from: ``space``, random networks of the whole space (the default); ``table``,
the networks the space's table measured (a sampled benchmark's published ones), so that a tabular search looks every
accuracy up and its regret is measured against public ground truth."""
RUNS_DIR = Path("runs")
COUNT_RANGES = {"trials": (1, 10_000), "workers": (1, 1024), "threads": (1, 1024), "baseline_seeds": (1, 1000),
                "finalist_seeds": (1, 1000), "eta": (2, 64), "screen_factor": (1, 100), "cpus_per_trial": (1, 1024)}
"""Every count a config may set, with its range (the command line's options have the same bounds)."""
OPTIONAL_COUNTS = ("threads", "cpus_per_trial")
"""Counts that may be left unset (None: resolved at run time)."""


DEFAULT_SCREEN = "naswot"
"""What ``--screen auto`` screens with on a space that names no other: NASWOT, the best on NAS-Bench-Macro's choice
half (docs/decisions/0009). A space whose own benchmark chose another names it (``screen:`` in its YAML, 0030)."""


DEFAULT_PRESCREEN = "macs"
"""What ``--prescreen auto`` chooses the screened candidates by on a space that names no other: MACs, chosen on
NAS-Bench-Macro (docs/decisions/0025). A space whose own benchmark chose another names it (``prescreen:``, 0031)."""


def space_prescreen(space: str) -> str:
    """The pre-screen signal ``--prescreen auto`` resolves to on ``space`` (MACs when it names none)."""
    return _space_choice(space, "prescreen") or DEFAULT_PRESCREEN


def space_screen(space: str) -> str:
    """The screening estimator ``--screen auto`` resolves to on ``space``; the default when it names none (or does not
    load: the config's validation reports that)."""
    return _space_choice(space, "screen") or DEFAULT_SCREEN


@functools.cache
def _space_choice(space: str, field_name: str) -> str:
    """What a space's YAML names for one of the search's choices ('' when it names none or does not load)."""
    from nas.space import load_space

    try:
        return getattr(load_space(space), field_name)
    except NasError:
        return ""


class ConfigError(NasError):
    """A search option is malformed or inconsistent."""


_BUDGET = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e-?[0-9]+)?)\s*(ms|s|us)\s*$", re.IGNORECASE)


def parse_budget(text: str | float) -> float:
    """``30ms``, ``30 ms``, ``0.03s`` -> 30.0 (milliseconds). A bare number is refused: say the unit."""
    match = _BUDGET.match(str(text))
    if not match:
        raise ConfigError(f"budget {text!r} does not parse: give a number with a unit, e.g. 30ms, 30 ms or 0.03s")
    value, unit = float(match.group(1)), match.group(2).lower()
    ms = value * {"ms": 1.0, "s": 1000.0, "us": 0.001}[unit]
    if not 0 < ms < 1e9:
        raise ConfigError(f"budget must be positive and finite, got {text!r}")
    return ms


RESUMABLE_CHANGES = ("trials", "workers", "threads", "data", "address", "cpus_per_trial", "gpus_per_trial")
"""What a resumed run may change: how much more to do and where it runs, never what it searches or how."""


BEFORE_SCREENING = {"screen": "none", "prescreen_pool": 0, "prescreen": "macs"}
"""Values a saved config.yaml without these fields ran with: such a run trained every candidate at rung 0 (or,
with screening, screened what the sampler proposed, with no capacity pre-screen)."""


@dataclass
class SearchConfig:
    """Everything a search run needs; ``name`` is filled from space, device, budget and time."""

    space: str = "ghost_mbv2"
    device: str = "rpi4"
    budget: str = "30ms"
    trials: int = 16
    sampler: str = "nsga2"
    seed: int = 0
    backend: str = "optuna"
    workers: int = 2
    address: str | None = None
    storage: str | None = None
    name: str | None = None
    runs_dir: str = str(RUNS_DIR)
    data: str | None = None
    eta: int = 4
    rungs: list[dict[str, Any]] = field(default_factory=lambda: [asdict(f) for f in DEFAULT_RUNGS])
    baseline_seeds: int = 2
    finalist_seeds: int = 2
    threads: int | None = None
    cpus_per_trial: int | None = None
    """CPUs a distributed backend asks per training or score (Ray's ``num_cpus``); None: ``threads``, else 1."""
    gpus_per_trial: float | None = None
    """GPUs a distributed backend asks per training (Ray's ``num_gpus``); None: 1 when the cluster has GPUs, else 0."""
    accuracy: str = "train"
    screen: str = "auto"
    screen_factor: int = 4
    prescreen_pool: int = 2048
    """Random archs whose MACs and latency (both free) choose the screened candidates: the ones with the most MACs
    for their latency are screened (:func:`nas.search.initial.capacity_front`); 0 lets the sampler propose them."""
    candidates: str = "space"
    """Where the pre-screen pool is drawn from (:data:`CANDIDATES`)."""
    prescreen: str = "auto"
    """The free signal whose most for the latency chooses what is screened: macs, params, or auto (the space's
    ``prescreen:``, else MACs)."""
    screen_weight: float = 1.0
    """Promotion merit: this share of the screening score's percentile, the rest the rung accuracy's. 1.0 was
    best on the choice half of bench/accuracy_fidelity.py (docs/decisions/0009)."""

    @property
    def screener(self) -> str:
        """The screening estimator this run uses: ``screen``, with ``auto`` resolved (see :data:`SCREENS`)."""
        if self.screen != "auto":
            return self.screen
        can_screen = self.backend in DRIVERS and DRIVERS[self.backend].can_screen
        return space_screen(self.space) if can_screen else "none"

    @property
    def prescreen_signal(self) -> str:
        """The pre-screen signal this run uses: ``prescreen``, with ``auto`` resolved."""
        return space_prescreen(self.space) if self.prescreen == "auto" else self.prescreen

    @property
    def screened(self) -> int:
        """Feasible candidates the screening estimator scores; the best ``trials`` of them are trained."""
        return self.trials * self.screen_factor if self.screener != "none" else self.trials

    @property
    def trial_cpus(self) -> int:
        """CPUs per task on a distributed backend, and the torch threads of each (``cpus_per_trial`` resolved)."""
        return self.cpus_per_trial or self.threads or 1

    @property
    def budget_ms(self) -> float:
        return parse_budget(self.budget)

    @property
    def fidelities(self) -> list[Fidelity]:
        if not isinstance(self.rungs, list) or not all(isinstance(rung, dict) for rung in self.rungs):
            raise ConfigError(f"rungs must be a list of mappings (epochs, subset, ...), got {self.rungs!r}")
        try:
            return [Fidelity(**rung) for rung in self.rungs]
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"rungs: {exc}") from None

    @property
    def run_dir(self) -> Path:
        assert self.name is not None
        return Path(self.runs_dir) / self.name

    def validate(self) -> SearchConfig:
        """Check what is searched, how much, and where (each its own method), then name the run; returns itself."""
        self._check_what()
        self._check_how_much()
        self._check_where()
        self._name_run()
        return self

    def _check_what(self) -> None:
        """What is searched: the space, the device's budget, where accuracies come from and candidates are drawn."""
        from nas.space import load_space

        load_space(self.space)
        self.budget_ms  # noqa: B018 (parses or raises)
        if self.accuracy not in ACCURACY_SOURCES:
            raise ConfigError(f"unknown accuracy source {self.accuracy!r}; allowed: {', '.join(ACCURACY_SOURCES)}")
        if self.accuracy == "tabular":
            from nas.accuracy.tabular import check_tabular_space

            check_tabular_space(self.space)
        if self.candidates not in CANDIDATES:
            raise ConfigError(f"unknown candidates {self.candidates!r}; allowed: {', '.join(CANDIDATES)}")
        if self.candidates == "table":
            from nas.accuracy.tabular import TABLES

            if Path(self.space).stem not in TABLES:
                raise ConfigError(f"--candidates table draws from the networks a space's table measured, and space "
                                  f"{self.space!r} has none; spaces with one: {', '.join(sorted(TABLES))} (or drop "
                                  "--candidates table)")

    def _check_how_much(self) -> None:
        """How much and by which algorithm: the sampler, the pre-screen and screen, the counts, the rungs, the seed."""
        from nas.search.samplers import SAMPLERS

        if self.sampler not in SAMPLERS:  # read now: a registry entry added at run time counts
            raise ConfigError(f"unknown sampler {self.sampler!r}; allowed: {', '.join(SAMPLERS)}")
        screens = ("auto", "none", *screening_names())  # read now: a registry entry added at run time counts
        if self.screen not in screens:
            raise ConfigError(f"unknown screening estimator {self.screen!r}; allowed: {', '.join(screens)}")
        if self.screener not in screens:
            raise ConfigError(f"space {self.space!r} names screen {self.screener!r}, which is no estimator that can "
                              f"screen; allowed: {', '.join(screens[1:])}")
        if isinstance(self.prescreen_pool, bool) or not isinstance(self.prescreen_pool, int) \
                or not 0 <= self.prescreen_pool <= 1_000_000:
            raise ConfigError(f"prescreen_pool must be a whole number in [0, 1000000], got {self.prescreen_pool!r}")
        from nas.space import PRESCREEN_SIGNALS

        if self.prescreen not in ("auto", *PRESCREEN_SIGNALS):
            raise ConfigError(f"unknown pre-screen signal {self.prescreen!r}; allowed: auto, "
                              f"{', '.join(PRESCREEN_SIGNALS)}")
        if self.candidates == "table" and (self.screener == "none" or not self.prescreen_pool):
            raise ConfigError("--candidates table draws the pre-screen pool from the table's networks, and this run "
                              "has no pre-screen (it needs a screen and --prescreen-pool above 0): drop "
                              "--candidates table, or --screen none / --prescreen-pool 0")
        if isinstance(self.screen_weight, bool) or not isinstance(self.screen_weight, (int, float)) \
                or not 0 <= self.screen_weight <= 1:
            raise ConfigError(f"screen_weight must be a number in [0, 1], got {self.screen_weight!r}")
        for option, (low, high) in COUNT_RANGES.items():
            value = getattr(self, option)
            if value is None and option in OPTIONAL_COUNTS:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ConfigError(f"{option} must be a whole number from {low} to {high}, got {value!r}")
        if not self.fidelities:
            raise ConfigError("at least one rung is needed")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**31:
            raise ConfigError(f"seed must be an integer in [0, 2^31), got {self.seed!r}")

    def _check_where(self) -> None:
        """Where it runs: the backend, and what its entry says it cannot do with this config (its policy is data on
        its registry entry, :meth:`nas.search.drivers.Backend.refusal`)."""
        if self.backend not in DRIVERS:  # read now: a registry entry added at run time counts
            raise ConfigError(f"unknown backend {self.backend!r}; allowed: {', '.join(DRIVERS)}")
        refusal = DRIVERS[self.backend].refusal(self)
        if refusal:
            raise ConfigError(refusal)
        gpus = self.gpus_per_trial
        if gpus is not None and (isinstance(gpus, bool) or not isinstance(gpus, (int, float)) or not 0 <= gpus <= 64):
            raise ConfigError(f"gpus_per_trial must be a number from 0 to 64, got {gpus!r}")

    def _name_run(self) -> None:
        """A run's default name (space, device, budget, sampler, time); any name stays inside the runs folder."""
        if self.name is None:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            budget = f"{self.budget_ms:.6g}".replace("+", "")
            self.name = f"{Path(self.space).stem}_{self.device}_{budget}ms_{self.sampler}_{stamp}"
        if not re.match(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$", self.name):
            raise ConfigError(f"run name {self.name!r} may only hold letters, digits, '_', '-', '.', and must not "
                              "start with '.' or '-' (a run stays inside its runs folder)")

    @classmethod
    def option_names(cls) -> list[str]:
        """The options a command line may set (every field but the rung ladder, which only a config file holds)."""
        return [f.name for f in fields(cls) if f.name != "rungs"]

    def override(self, options: dict[str, Any], resume: bool = False) -> list[str]:
        """Set the options given (None: not given). A resumed run keeps its name and folder, and refuses a change
        outside :data:`RESUMABLE_CHANGES` (decision record 0006); returns a note per change it makes."""
        notes = []
        for name, value in options.items():
            if value is None or name == "rungs" or (resume and name in ("name", "runs_dir")):
                continue
            if resume and value != getattr(self, name):
                if name not in RESUMABLE_CHANGES:
                    raise ConfigError(f"--{name.replace('_', '-')} {value} conflicts with the run's {name} "
                                      f"{getattr(self, name)}: a resumed run keeps its configuration (only "
                                      f"{', '.join('--' + n for n in RESUMABLE_CHANGES)} may change); start a new "
                                      f"run with --config {self.run_dir / 'config.yaml'} --name NEW")
                notes.append(f"resuming with --{name} {value} (was {getattr(self, name)})")
            setattr(self, name, value)
        return notes

    def storage_url(self) -> str:
        """The user's storage, else the run folder's SQLite file, its path quoted (a ``?``, ``#`` or ``%`` in a
        folder name would otherwise end the path and send the study elsewhere)."""
        if self.storage:
            return self.storage
        from sqlalchemy.engine import URL

        url = URL.create("sqlite", database=str((self.run_dir / STUDY_FILE).resolve()))
        return url.render_as_string(hide_password=False)

    def save(self, path: Path | None = None) -> Path:
        from nas.fileio import atomic_write_text

        path = path or self.run_dir / "config.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, "# nas search configuration; rerun with: nas search --config " + str(path) + "\n"
                      + yaml.safe_dump(asdict(self), sort_keys=False))
        return path

    @classmethod
    def load_run(cls, folder: str | Path) -> SearchConfig:
        """A run's ``config.yaml``, pointed at ``folder`` as it is now: a moved or copied run is read and
        written where it is, not where the config was first saved."""
        folder = Path(folder)
        config = cls.load(folder / "config.yaml")
        config.runs_dir, config.name = str(folder.parent), folder.name
        return config

    @classmethod
    def load(cls, path: str | Path) -> SearchConfig:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {str(path)!r} does not exist")
        from nas.fileio import read_yaml

        data = read_yaml(path, ConfigError)
        if not isinstance(data, dict) or not data:
            raise ConfigError(f"{path}: must be a non-empty mapping of options (an empty file is no configuration; "
                              "a run's config.yaml is written by nas search)")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{path}: unknown option(s) {unknown}; allowed: {', '.join(sorted(known))}")
        for name, before in BEFORE_SCREENING.items():  # a config without these fields ran without screening: it resumes so
            data.setdefault(name, before)
        if "candidates" not in data and data.get("accuracy") == "tabular" and data.get("screen", "auto") == "auto":
            data["screen"] = "none"  # a tabular run saved before it screened by default resumes unscreened
        if data.get("backend") == "ray" and "cpus_per_trial" not in data and data.get("screen", "auto") == "auto":
            data["screen"] = "none"  # so does a Ray run saved before the Ray backend screened
        defaults = cls()
        for name, value in data.items():
            default = getattr(defaults, name)
            expected: tuple[type, ...] = ((int,) if name in OPTIONAL_COUNTS else (int, float) if name == "gpus_per_trial"
                                          else (str,) if default is None
                                          else (int, float) if isinstance(default, float) else (type(default),))
            if value is None and default is None:
                continue
            if isinstance(value, bool) or not isinstance(value, expected):
                raise ConfigError(f"{path}: {name} must be {' or '.join(t.__name__ for t in expected)}, got {value!r}")
        return cls(**data)
