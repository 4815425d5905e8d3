"""Trainings and screening scores of a search as Ray tasks, at most ``workers`` at once, on one machine or a cluster.

It stands where the local worker processes stand (:class:`nas.search.pool.TrainingPool`: ``submit`` then
``completed``) and under the screening journal (``score_many``); the search's algorithm on the driver is the same
for both backends, so a seed gives the same finalist on either.

* **What travels.** The run's images go into Ray's object store once (``ray.put``) and each node fetches them once;
  a task gets the arch string, the fidelity and the seed. Back come the accuracy, the curve and, for the trainings
  whose weights the run keeps (the top rung), the state dict as bytes, which the driver writes into the run folder.
* **Order.** Tasks are started in the order they were submitted (the evaluator submits the longest first), a new
  one each time one ends, so that ``workers`` is the number of trainings at once, as on the local backend.
* **Faults.** A task lost with its worker or node (a Ray system error, not an exception of the training) is
  started again, on any live node, up to :data:`ATTEMPTS` times, and the run says so (a warning in
  ``search.log`` and on the console). What finished before is in the journals and is never rerun.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from nas.arch import parse_arch
from nas.data import Dataset
from nas.errors import NasError
from nas.fileio import atomic_write_bytes
from nas.search.ray_cluster import RaySession, one_line
from nas.train import Fidelity

log = logging.getLogger(__name__)
ATTEMPTS = 3
"""Starts of one task before its loss ends the run (the first and two retries)."""


@dataclass(eq=False)
class Job:
    """One task to run: which function, its arguments, and where its weights go (a training's, when kept)."""

    kind: str
    args: tuple[Any, ...]
    label: str
    weights: Path | None = None


class RayExecutor:
    """Runs the search's trainings and scores on the session's cluster (:mod:`nas.search.ray_cluster`)."""

    def __init__(self, session: RaySession, load_data: Callable[[], Dataset], workers: int, threads: int) -> None:
        self.session = session
        self.workers = workers
        self.threads = threads
        self.retries = 0
        self.nodes_used: set[str] = set()
        self._load_data = load_data
        self._data_ref: Any = None
        self._functions: dict[str, Any] = {}

    def _data(self) -> Any:  # noqa: ANN401 (an ObjectRef)
        """The images in the object store, put there on first use."""
        if self._data_ref is None:
            import ray

            self._data_ref = ray.put(self._load_data())
        return self._data_ref

    def submit(self, arch_text: str, fidelity: Fidelity, seed: int, weights: Path | None, test: bool = False) -> Job:
        """A training to run (started by :meth:`completed`); the interface of the local pool's ``submit``."""
        if test:
            raise NasError("the test set is scored on this machine only (nas confirm); it does not run on Ray")
        label = f"the training of {parse_arch(arch_text).id} at {fidelity.label()} (seed {seed})"
        return Job("train", (arch_text, asdict(fidelity), seed, weights is not None), label, weights)

    def completed(self, jobs: dict[Job, Any], desc: str = "", show_progress: bool = False) -> Iterator[tuple[Any, dict]]:
        """``(what the job was submitted for, its outcome)`` as the tasks finish, at most ``workers`` at once."""
        from nas.progress import progress

        finished = self._run(list(jobs))
        for job, outcome in progress(finished, len(jobs), desc, show_progress):
            weights = outcome.pop("weights", None)
            if job.weights is not None and weights is not None:
                atomic_write_bytes(job.weights, weights)
            yield jobs[job], outcome

    def score_many(self, estimator: str, arch_texts: list[str], seed: int, needs_data: bool) -> Iterator[tuple[str, dict]]:
        """``(arch, score record)`` for each arch as its screening task ends."""
        jobs = [Job("score", (estimator, text, seed, needs_data), f"the {estimator} score of {parse_arch(text).id}")
                for text in arch_texts]
        for job, outcome in self._run(jobs):
            yield job.args[1], outcome

    def _remote(self, job: Job) -> Any:  # noqa: ANN401 (an ObjectRef)
        if not self._functions:  # registered with the cluster once
            import ray

            from nas.search import ray_tasks

            resources = self.session.resources
            self._functions = {
                "train": ray.remote(ray_tasks.train_task).options(num_cpus=resources.cpus, num_gpus=resources.gpus,
                                                                  max_retries=0),
                "score": ray.remote(ray_tasks.score_task).options(num_cpus=resources.cpus, max_retries=0)}
        if job.kind == "train":
            args = (*job.args, self._data(), self.threads)
        else:
            estimator, text, seed, needs_data = job.args
            args = (estimator, text, seed, self._data() if needs_data else None, self.threads)
        return self._functions[job.kind].remote(*args)

    def _run(self, jobs: list[Job]) -> Iterator[tuple[Job, dict]]:
        """Each job's outcome as it ends; a job lost to a system failure is started again (module docstring)."""
        import ray

        waiting = list(jobs)
        running: dict[Any, tuple[Job, int]] = {}
        while waiting or running:
            while waiting and len(running) < self.workers:
                job = waiting.pop(0)
                running[self._remote(job)] = (job, 1)
            done: list = []
            while not done:  # in slices, so that Ctrl-C and SIGTERM are handled at once, not when a task ends
                done, _ = ray.wait(list(running), num_returns=1, timeout=0.5)
            ref = done[0]
            job, attempt = running.pop(ref)
            try:
                outcome = ray.get(ref)
            except ray.exceptions.RayTaskError as exc:  # the training itself raised: no retry would help
                raise NasError(f"a Ray task failed ({job.label}): {one_line(exc)}") from None
            except ray.exceptions.RayError as exc:  # the worker or node was lost: start it again elsewhere
                if attempt >= ATTEMPTS:
                    raise NasError(f"a Ray task was lost {attempt} times ({job.label}: {exc.__class__.__name__}); "
                                   "check the cluster ('ray status') and resume with --resume: finished work is "
                                   "kept") from None
                self.retries += 1
                log.warning("ray: %s was lost with its worker or node (%s); started again on another node "
                            "(attempt %d of %d)", job.label, exc.__class__.__name__, attempt + 1, ATTEMPTS)
                running[self._remote(job)] = (job, attempt + 1)
                continue
            self.nodes_used.add(outcome.pop("node", "?"))
            yield job, outcome

    def close(self) -> None:
        """Disconnect from the cluster (stopping a local one); tasks still running are abandoned."""
        if self.nodes_used:
            log.info("ray: tasks ran on %d node(s); %d lost task(s) started again", len(self.nodes_used), self.retries)
        self.session.close()

