"""Screening: a cheap estimator scores many candidates, and only the best of them are trained.

Why: on NAS-Bench-Macro's published 50-epoch accuracies, the NASWOT score of an untrained network
(about a second each) ranks 48 held-out networks at Spearman 0.92, a rung-0 training (tens of seconds) at
-0.20 and rung 1 at 0.32 (``bench/accuracy_fidelity.py``, docs/decisions/0009). So the cheap score ranks
``screen_factor`` candidates for every one that is trained, and training is spent on the survivors. Which
candidates are screened is free: by default those with the most MACs for their latency among a few thousand
random ones (:func:`nas.search.initial.capacity_front`, docs/decisions/0025). The verdict is never the cheap
score: the front and the comparison with the baseline are trained accuracies, the cheap score breaking only
ties within the seed noise.

Scores go to ``runs/<name>/screening.jsonl`` as they are computed (one line each, flushed), so a
killed run keeps them and a resumed one scores nothing twice.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nas.arch import Arch
from nas.data import Dataset
from nas.errors import NasError
from nas.fileio import append_line, read_journal_lines
from nas.search.pareto import Point, nondominated_ranks
from nas.stats import mid_rank_percentile

if TYPE_CHECKING:
    from nas.search.config import SearchConfig
    from nas.search.drivers import RemoteExecutor

log = logging.getLogger(__name__)


class ScreeningJournal:
    """The run's screening scores by arch string, computed on demand and kept on disk."""

    def __init__(self, estimator_name: str, path: Path, load_data: Callable[[], Dataset], seed: int,
                 resolution: int = 0, remote: Callable[[], RemoteExecutor] | None = None) -> None:
        """``load_data`` gives the images a zero-cost proxy scores on; called only when one is first needed.
        ``resolution`` (the space's ``screen_resolution``; 0: each arch's own) caps the input a proxy scores at.
        ``remote``: where a distributed backend computes the scores, side by side, instead of here."""
        self.name = estimator_name
        self._remote = remote
        self.resolution = resolution
        self.path = path
        self._load_data = load_data
        self._seed = seed
        self._estimator = None
        self.scores: dict[str, float] = {}
        self._load()

    def _load(self) -> None:
        from nas.search.journal import unparsable_arch

        for number, record in read_journal_lines(self.path):
            value = record.get("value")
            if record.get("estimator") != self.name or not isinstance(record.get("arch"), str):
                raise NasError(f"{self.path}: line {number} is not a {self.name} score of an arch; delete that line "
                               "and resume (it is scored again)")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise NasError(f"{self.path}: line {number} has no finite score ({value!r}); delete that line and "
                               "resume (it is scored again)")
            problem = unparsable_arch(record["arch"])
            if problem:
                raise NasError(f"{self.path}: line {number}: {problem}; delete that line and resume (it is scored "
                               "again)")
            self.scores[record["arch"]] = float(value)

    def score(self, archs: Sequence[Arch]) -> list[float]:
        """Each arch's score, computing (and journalling) those not yet known."""
        if self._remote is not None:
            self._score_remotely(archs)
        for arch in archs:
            text = str(arch)
            if text in self.scores:
                continue
            if self._estimator is None:
                from nas.accuracy.registry import estimator_entry

                entry = estimator_entry(self.name)
                self._estimator = entry.make(self._load_data() if entry.needs_data else None, self._seed)
            result = self._estimator.score(self.scored(arch))
            self._keep(arch, result.value, result.seconds, result.fidelity)
        return [self.scores[str(arch)] for arch in archs]

    def _score_remotely(self, archs: Sequence[Arch]) -> None:
        """The unknown archs' scores from the backend's tasks, journalled as each arrives (a free count is computed
        here: a task would cost more than the count)."""
        from nas.accuracy.registry import estimator_entry

        assert self._remote is not None
        entry = estimator_entry(self.name)
        todo: dict[str, list[Arch]] = {}
        for arch in {str(a): a for a in archs}.values():
            if str(arch) not in self.scores:
                todo.setdefault(str(self.scored(arch)), []).append(arch)
        if not todo or entry.cost == "free":
            return
        for scored, outcome in self._remote().score_many(self.name, list(todo), self._seed, entry.needs_data):
            for arch in todo[scored]:
                self._keep(arch, outcome["value"], outcome["seconds"], outcome["fidelity"])

    def _keep(self, arch: Arch, value: float, seconds: float, fidelity: str) -> None:
        """One score, into the journal (flushed) and the table; a proxy that fails on an arch ranks it last."""
        if not math.isfinite(value):
            log.warning("%s gave %s for %s; it ranks last", self.name, value, arch.id)
            value = -1e300
        append_line(self.path, json.dumps({"arch": str(arch), "estimator": self.name, "value": value,
                                           "seconds": seconds, "fidelity": fidelity,
                                           "resolution": self.scored(arch).resolution}))
        self.scores[str(arch)] = value


    def scored(self, arch: Arch) -> Arch:
        """The network the proxy scores: ``arch`` itself, or at :attr:`resolution` when that is lower (the same
        weights and layers at a smaller input: ranks as the bench measured it, at a fraction of the cost)."""
        if self.resolution and arch.resolution > self.resolution:
            return replace(arch, resolution=self.resolution)
        return arch


def best_screened(scores: dict[str, float], latency: dict[str, float], count: int) -> list[str]:
    """The ``count`` archs to train: by non-dominated rank of (score, latency), the higher score first within a
    front, so that the survivors still span the latency range instead of crowding at its slow end."""
    points = [Point(arch, scores[arch], latency[arch]) for arch in scores]
    ordered = [p.key for front in nondominated_ranks(points) for p in sorted(front, key=lambda p: (-p.accuracy, p.key))]
    return ordered[:count]


def percentiles(values: dict[str, float]) -> dict[str, float]:
    """Each key's mid-rank percentile within ``values`` (ties share one), in [0, 1]."""
    ordered = sorted(values.values())
    return {key: mid_rank_percentile(ordered, v) for key, v in values.items()}


def blended(screen: dict[str, float], trained: dict[str, float], weight: float) -> dict[str, float]:
    """``weight`` x the screening score's percentile + (1 - weight) x the trained accuracy's, within these archs.

    Why a blend with a weight: on NAS-Bench-Macro's 50-epoch truth the rungs rank near chance (rung 0 -0.20,
    rung 1 0.32 on the held-out half) and NASWOT at 0.92, so the choice half picks weight 1 (the default);
    against the ghost_mbv2 set's 3-epoch reference, itself a short training, the rungs agree better (0.72) and
    a weight of 0.25 ranked best (0.84). The weight stays an option (``--screen-weight``), measured by
    ``bench/accuracy_fidelity.py`` (docs/decisions/0009)."""
    if weight == 0:
        return dict(trained)
    p_screen, p_trained = percentiles({a: screen[a] for a in trained}), percentiles(trained)
    return {a: weight * p_screen[a] + (1 - weight) * p_trained[a] for a in trained}


def stage_estimators(config: SearchConfig) -> list[dict[str, Any]]:
    """What decides each stage of the run and how well it ranks: named in pareto.json, the console and the README.

    Rankings are the bench's (:mod:`nas.accuracy.measured`), for the default rungs only: other rungs were
    not measured, and say so."""
    from dataclasses import asdict

    from nas.accuracy.measured import blend_name, describe
    from nas.train import DEFAULT_RUNGS

    default_rungs = config.rungs == [asdict(f) for f in DEFAULT_RUNGS]
    top = len(config.rungs) - 1
    screen = config.screener

    space = Path(config.space).stem

    def ranks(name: str) -> str:
        return describe(name, space) if default_rungs or not name.startswith(("rung", "blend")) else \
            "ranking not measured for these rungs"

    tabular = config.accuracy == "tabular"
    stages = []
    if screen != "none" and config.prescreen_pool:
        signal = config.prescreen_signal
        where = "of the table's networks" if config.candidates == "table" else "random"
        stages.append({"stage": f"choose {config.screened} to screen from {config.prescreen_pool} {where} feasible "
                                "candidates", "estimator": signal,
                       "what": f"the most {'MACs' if signal == 'macs' else signal} for their latency (non-dominated "
                               "rank)", "ranks": ranks(signal)})
    if screen != "none":
        stages.append({"stage": f"screen {config.screened} candidates, train the best {config.trials}",
                       "estimator": screen, "ranks": ranks(screen)})
    for rung in range(top):
        if screen != "none" and config.screen_weight == 1:
            name, what = screen, f"{screen} score alone (screen_weight 1)"
        elif screen != "none" and config.screen_weight > 0:
            name = blend_name(config.screen_weight, rung) if screen == "naswot" else \
                f"blend({screen} {config.screen_weight:g}, rung{rung})"
            what = f"{config.screen_weight:g} x {screen} percentile + {1 - config.screen_weight:g} x rung-{rung} " \
                   "accuracy percentile"
        else:
            name, what = f"rung{rung}", f"rung-{rung} trained accuracy"
        stages.append({"stage": f"promote to rung {rung + 1}", "estimator": name, "what": what, "ranks": ranks(name)})
    ties = f"; ties within the seed noise go to the higher {screen} score" \
        if screen != "none" and config.screen_weight > 0 else ""
    stages.append({"stage": "judge the front (and the baseline)", "estimator": f"rung{top}",
                   "what": f"rung-{top} trained accuracy, the finalist by the mean of {config.finalist_seeds} seeds"
                           + ties, "ranks": ranks(f"rung{top}")})
    return [_looked_up(stage) for stage in stages] if tabular else stages


def _looked_up(stage: dict[str, Any]) -> dict[str, Any]:
    """A stage of a tabular run: a trained accuracy there is the table's (the ground truth), every other signal
    (the pre-screen's MACs, the screen's score) is the one named, as in a trained run."""
    if not stage["estimator"].startswith(("rung", "blend")):
        return stage
    what = stage.get("what", "").replace("trained accuracy", "accuracy looked up in the table")
    ranks = "the ground truth itself (looked up)" if stage["estimator"].startswith("rung") else \
        "a blend with the ground truth (looked up); not measured"
    return {**stage, "estimator": "tabular" if stage["estimator"].startswith("rung") else stage["estimator"],
            "what": what, "ranks": ranks}


def tie_rule(screener: str, screen_weight: float) -> str:
    """How a run breaks a tie within the seed noise, in the words every output uses (pareto.json, the console, the
    report, the record study)."""
    if screener != "none" and screen_weight > 0:
        return f"accuracies within the seed noise are ties, which go to the higher {screener} score"
    return "accuracies within the seed noise are ties, which go to the lower latency"
