"""The Optuna samplers the registry (:mod:`nas.search.samplers`) names: one factory each."""

from __future__ import annotations

from typing import TYPE_CHECKING

import optuna

from nas.search.samplers import SAMPLERS

if TYPE_CHECKING:
    from nas.search.config import SearchConfig


def nsga2(config: SearchConfig, seed: int) -> optuna.samplers.BaseSampler:
    return optuna.samplers.NSGAIISampler(seed=seed, population_size=SAMPLERS["nsga2"].startup(config))


def tpe(config: SearchConfig, seed: int) -> optuna.samplers.BaseSampler:
    return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True,
                                      n_startup_trials=SAMPLERS["tpe"].startup(config))


def random(config: SearchConfig, seed: int) -> optuna.samplers.BaseSampler:
    return optuna.samplers.RandomSampler(seed=seed)
