"""The Ray Tune driver: the same candidates, trained in parallel, on one machine or a Ray cluster.

* Searcher: Ray's ``OptunaSearch`` with the same sampler as the Optuna driver and the space's
  define-by-run sampling (``SearchSpace.sample_trial``), multi-objective (accuracy max, latency min).
* Scheduler: ASHA on validation accuracy per epoch (it stops rung-0 trainings that fall behind when
  the rung has several epochs).
* The latency constraint: Ray's trainables cannot reach the Optuna trial, so an over-budget arch is
  answered at once, untrained, with accuracy 0: the searcher learns to avoid that region, and such a
  trial does not count towards ``trials`` (a stopper ends the experiment once ``trials`` feasible
  candidates are trained).
* ``--address`` joins an existing cluster (``ray start --head`` on one machine, ``ray start
  --address=HEAD:PORT`` on the others). Data and the latency table travel through Ray's object store,
  so worker nodes need the package, not the files.
* Finished trainings come back to the driver, which appends them to ``evaluations.jsonl``; the
  promotion rungs then run on the driver like the Optuna backend's.
"""

from __future__ import annotations

import logging
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from nas.errors import NasError
from nas.fileio import atomic_write_text
from nas.search.config import SearchConfig
from nas.search.context import SearchContext
from nas.search.journal import Evaluation

log = logging.getLogger(__name__)


def _check_address(address: str) -> None:
    """Fail fast, in one line, when the cluster does not answer (ray.init would wait a long time)."""
    if address == "auto":
        return
    host, _, port = address.replace("ray://", "").rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=3):
            pass
    except (OSError, ValueError):
        raise NasError(f"Ray address {address!r} does not answer; start a head with 'ray start --head' "
                       "and pass its HOST:PORT") from None


class DefineByRun:
    """Picklable define-by-run space for OptunaSearch (Ray checkpoints its searcher with pickle)."""

    def __init__(self, space: str) -> None:
        self.space = space

    def __call__(self, trial: Any) -> dict[str, Any]:
        from nas.space import load_space

        return {"arch": str(load_space(self.space).sample_trial(trial))}


def _trainable(config: dict[str, Any], data: Any, table_json: dict[str, Any], fidelity: dict[str, Any],
               budget_ms: float, seed: int) -> dict[str, Any]:
    import ray
    import torch
    from ray import tune

    from nas.arch import parse_arch
    from nas.latency.table import parse_table
    from nas.train import Fidelity, train

    torch.set_num_threads(1)
    arch = parse_arch(config["arch"])
    latency = parse_table(table_json).predict(arch)
    node = ray.get_runtime_context().get_node_id()
    if latency > budget_ms:
        return {"accuracy": 0.0, "latency_ms": latency, "feasible": False, "node": node, "arch": str(arch)}

    def report(epoch: int, accuracy: float) -> bool:
        tune.report({"accuracy": accuracy, "latency_ms": latency, "feasible": True, "node": node,
                     "arch": str(arch), "epoch": epoch})
        return True

    result, _ = train(arch, data, Fidelity(**fidelity), seed=seed, callback=report, device=torch.device("cpu"))
    return {"accuracy": result.accuracy, "latency_ms": latency, "feasible": True, "node": node, "arch": str(arch),
            "history": result.history, "seconds": result.seconds, "done": True}


def sample_with_ray(config: SearchConfig, context: SearchContext) -> int:
    """Run rung 0 on Ray; returns the number of infeasible samples.

    Ray's own authentication default is kept: a local cluster started here generates and uses a token. To join a
    multi-node cluster started with token authentication, give this process the cluster's mode and token as Ray
    documents them (``RAY_AUTH_MODE=token`` and ``RAY_AUTH_TOKEN``, or the token file that ``ray get-auth-token``
    writes), exactly as on every node.
    """
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search import ConcurrencyLimiter
    from ray.tune.search.optuna import OptunaSearch

    from nas.search.optuna_driver import initial_design, make_sampler

    if config.address:
        _check_address(config.address)
    started_here = not ray.is_initialized()
    scratch: list[str] = []  # temp folders of this run, removed at the end
    if started_here:
        try:
            if config.address:
                ray.init(address=config.address, include_dashboard=False, log_to_driver=False)
            else:
                scratch.append(tempfile.mkdtemp(prefix="nas-ray-session-"))
                with _loopback_only():
                    ray.init(num_cpus=config.workers, include_dashboard=False, log_to_driver=False,
                             _temp_dir=scratch[-1])
        except (ConnectionError, RuntimeError) as exc:
            _remove(scratch)
            raise NasError(f"cannot start or join Ray ({config.address or 'local'}): {exc}") from None
    feasible_needed = config.trials - len({e.arch for e in context.journal.evaluations(0)})
    try:
        if feasible_needed <= 0:
            return 0
        fidelity = context.config.fidelities[0]

        searcher = OptunaSearch(space=DefineByRun(config.space), metric=["accuracy", "latency_ms"], mode=["max", "min"],
                                sampler=make_sampler(config, offset=len(context.journal)),
                                points_to_evaluate=initial_design(config, context) if not len(context.journal) else None)
        scheduler = ASHAScheduler(time_attr="training_iteration", max_t=max(1, int(fidelity.epochs) + 1),
                                  grace_period=1, reduction_factor=3)

        trainable = tune.with_parameters(_trainable, data=context.evaluator.data,
                                         table_json=context.oracle.table.to_json(), fidelity=fidelity.__dict__,
                                         budget_ms=context.oracle.budget_ms, seed=config.seed)
        storage = tempfile.mkdtemp(prefix="nas-ray-")
        scratch.append(storage)
        tuner = tune.Tuner(
            tune.with_resources(trainable, {"cpu": 1}),
            tune_config=tune.TuneConfig(search_alg=ConcurrencyLimiter(searcher, max_concurrent=config.workers),
                                        scheduler=scheduler, num_samples=-1, metric="accuracy", mode="max"),
            run_config=tune.RunConfig(name=config.name, storage_path=storage, stop=_enough_feasible(feasible_needed),
                                      verbose=0),
        )
        results = tuner.fit()
        infeasible, nodes = _record_results(results, context, fidelity.label())
        log.info("ray: %d feasible trainings on %d node(s), %d infeasible samples", len(results) - infeasible,
                 len(nodes), infeasible)
        atomic_write_text(context.folder.path / "ray_nodes.txt", "\n".join(sorted(nodes)) + "\n")
        return infeasible
    finally:
        if started_here:
            ray.shutdown()
        _remove(scratch)


def _remove(folders: list[str]) -> None:
    """Remove this run's temp folders (Ray's session files, Tune's trial folders): the run's record is its journal."""
    import shutil

    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def _loopback_only() -> Iterator[None]:
    """A local cluster that listens on the loopback interface only, not on every interface.

    Why: a cluster this process starts serves this process alone, yet Ray binds its GCS, raylet and workers to the
    node's network address, reachable from the network. Ray's own switch for single-machine clusters (the one it
    sets on macOS and Windows) makes the node's address the loopback one; it is read from the environment by the
    processes Ray starts and from ``ray_constants`` by this one. A multi-node cluster (``--address``) is untouched."""
    import os

    from ray._private import ray_constants

    variable = ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR
    before_env, before_flag = os.environ.get(variable), ray_constants.ENABLE_RAY_CLUSTER
    os.environ[variable], ray_constants.ENABLE_RAY_CLUSTER = "0", False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = before_flag
        if before_env is None:
            os.environ.pop(variable, None)
        else:
            os.environ[variable] = before_env


def _enough_feasible(needed: int) -> Any:  # noqa: ANN401 (a tune.Stopper; Ray is imported only when used)
    """A stopper that ends the experiment once ``needed`` feasible candidates finished training."""
    from ray import tune

    class EnoughFeasible(tune.Stopper):
        def __init__(self) -> None:
            self.done: set[str] = set()

        def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
            if result.get("done"):
                self.done.add(result["arch"])
            return False

        def stop_all(self) -> bool:
            return len(self.done) >= needed

    return EnoughFeasible()


def _record_results(results: Any, context: SearchContext, label: str) -> tuple[int, set[str]]:  # noqa: ANN401
    """Finished feasible trainings enter the run's journal (through the evaluator); returns the infeasible samples
    and the nodes that trained."""
    infeasible, nodes = 0, set()
    seed = context.config.seed
    for result in results:
        metrics = result.metrics or {}
        if not metrics.get("feasible", True):
            infeasible += 1
            continue
        if metrics.get("done"):
            nodes.add(metrics["node"])
            evaluation = Evaluation(metrics["arch"], 0, seed, float(metrics["accuracy"]), label,
                                    float(metrics["seconds"]), list(metrics["history"]))
            if evaluation.key not in context.journal:
                context.evaluator.record_finished(evaluation)
    return infeasible, nodes


def check(config: SearchConfig) -> None:
    """Before a run folder exists: a given cluster address must answer."""
    if config.address:
        _check_address(config.address)


def sample(config: SearchConfig, context: SearchContext, show_progress: bool = True) -> int:
    """The driver interface (:mod:`nas.search.drivers`); Ray Tune reports its own progress."""
    return sample_with_ray(config, context)
