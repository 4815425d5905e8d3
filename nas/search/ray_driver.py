"""The Ray backend: the default search's algorithm, with its trainings and screening scores run as Ray tasks.

The algorithm is the Optuna backend's, run on this machine (the driver): the capacity pre-screen, the sampler's
ask/tell over the study in the run folder, promotion and the front (:mod:`nas.search.optuna_driver`,
:mod:`nas.search.run`). What differs is where the work runs: each screening score and each rung's training is a
Ray task (:class:`nas.search.ray_executor.RayExecutor`), on a local cluster this process starts or on the cluster at
``--address``. With the same seed, workers and torch threads, a search returns the same finalist and front on
either backend, and a killed one resumes from the same journals.

Authentication: Ray's own default is kept. A local cluster started here generates and uses a token; to join a
cluster started with token authentication, give this process the cluster's mode and token as Ray documents them
(``RAY_AUTH_MODE=token`` and ``RAY_AUTH_TOKEN``, or the token file that ``ray get-auth-token`` writes), as on every
node.
"""

from __future__ import annotations

from collections.abc import Callable

from nas.data import Dataset
from nas.search.config import SearchConfig
from nas.search.context import SearchContext
from nas.search.ray_cluster import check_address, connect
from nas.search.ray_executor import RayExecutor


def check(config: SearchConfig) -> None:
    """Before anything else: a user-given study database must open, and a given cluster address must answer (the full
    check of the cluster comes with the connection, :func:`executor`)."""
    from nas.search import optuna_driver

    optuna_driver.check(config)
    if config.address:
        check_address(config.address)


def executor(config: SearchConfig, load_data: Callable[[], Dataset]) -> RayExecutor:
    """The run's Ray tasks: connects (starting a local cluster, or joining ``--address``) and checks the cluster
    (:func:`nas.search.ray_cluster.connect`), before the run folder is made."""
    session = connect(config.address, config.workers, config.trial_cpus, config.gpus_per_trial)
    return RayExecutor(session, load_data, config.workers, config.threads or config.trial_cpus)


def sample(config: SearchConfig, context: SearchContext, show_progress: bool = True) -> int:
    """The driver interface (:mod:`nas.search.drivers`): the Optuna backend's sampling and screening, whose scores
    are computed by Ray tasks through the run's context."""
    from nas.search.optuna_driver import sample_with_optuna

    return sample_with_optuna(config, context, show_progress)
