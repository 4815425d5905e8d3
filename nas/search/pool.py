"""Trainings of a search run side by side, in worker processes with a fixed number of torch threads each.

Why processes, one training each: a CIFAR-sized candidate's kernels are small and memory-bound and do
not split well over threads. On a 2-core VM, a rung-0 training at 1 thread next
to another one at 1 thread took about as long as the same training alone at 2 threads (35 vs 31 s and
20 vs 19 s for two ghost_mbv2 archs; rung 1: 103-107 vs 75 s), so two trainings at once do 1.4-1.9x the
work per minute. Splitting *one* training over two processes (data parallel, gradients all-reduced
every step) does not help (0.95-1.0x of 2 threads): the step waits for the slower half.

Determinism: a training depends on (arch, fidelity, seed, threads) only, never on which worker ran it
or when, because every worker has the same fixed thread count. The parent records each finished
training (``evaluations.jsonl``, fsynced) as soon as it arrives, so a run killed mid-batch keeps it;
workers die with the parent (``PR_SET_PDEATHSIG`` on Linux) instead of training on for nobody.
"""

from __future__ import annotations

import multiprocessing
import signal
import time
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict
from pathlib import Path
from typing import Any

from nas.data import Dataset
from nas.errors import NasError
from nas.train import Fidelity, available_cores

_DATA: Dataset | None = None


def default_threads(workers: int) -> int:
    """Torch threads per worker when not configured: the cores shared out evenly (at least one)."""
    return max(1, available_cores() // max(1, workers))


def _die_with_parent() -> None:
    """Linux: the kernel kills this worker when the search process dies (even by SIGKILL)."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: a worker then ends when it next reads the closed queue
        pass


def _start_worker(data: Dataset, threads: int) -> None:
    global _DATA
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it ends the pool
    import torch

    torch.set_num_threads(threads)
    _DATA = data


def train_and_report(arch_text: str, data: Dataset, fidelity: Fidelity, seed: int, weights: str | None = None,
                     test: bool = False) -> dict[str, Any]:
    """One training as a worker does it (and ``nas confirm`` with one worker, in its own process): a plain dict back,
    weights written when asked (not for a diverged training), the official test set scored when asked
    (``nas confirm``'s final report; the search itself never looks at it)."""
    from nas.arch import parse_arch
    from nas.train import evaluate_test, save_weights, train

    arch = parse_arch(arch_text)
    result, model = train(arch, data, fidelity, seed=seed)
    if weights and not result.stopped_early:
        save_weights(model, Path(weights))
    outcome = training_outcome(result)
    if test:
        outcome["test_accuracy"] = evaluate_test(model, data, fidelity.resolution or arch.resolution)
    return outcome


def training_outcome(result: Any) -> dict[str, Any]:  # noqa: ANN401 (a TrainResult; torch is imported lazily)
    """What a finished training sends back to the search, from a local worker or a Ray node: plain values."""
    return {"accuracy": result.accuracy, "seconds": result.seconds, "history": list(result.history),
            "stopped_early": result.stopped_early, "diverged": result.diverged}


def _train_in_worker(arch_text: str, fidelity: dict[str, Any], seed: int, weights: str | None,
                     test: bool) -> dict[str, Any]:
    assert _DATA is not None, "worker started without data"
    return train_and_report(arch_text, _DATA, Fidelity(**fidelity), seed, weights, test)


class TrainingPool:
    """``workers`` processes, each training one arch at a time with ``threads`` torch threads."""

    def __init__(self, data: Dataset, workers: int, threads: int) -> None:
        self.workers = workers
        self.threads = threads
        self._executor = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_start_worker, initargs=(data, threads))

    def submit(self, arch_text: str, fidelity: Fidelity, seed: int, weights: Path | None,
               test: bool = False) -> Future:
        """A future of :func:`train_and_report`'s dict; weights are written by the worker.

        Ctrl-C and SIGTERM are held back while the call runs: it may start a worker process, and an interrupt in
        the middle of handing it its start-up data leaves the worker printing an unpickling traceback after the
        command's one-line exit. The signal is delivered the moment the call returns.
        """
        held = hold_interrupts()
        try:
            return self._executor.submit(_train_in_worker, arch_text, asdict(fidelity), seed,
                                         str(weights) if weights else None, test)
        except BrokenProcessPool:
            raise pool_error() from None
        finally:
            release_interrupts(held)

    def completed(self, futures: dict[Future, Any], desc: str = "",
                  show_progress: bool = False) -> Iterator[tuple[Any, dict[str, Any]]]:
        """``(what the future was submitted for, its outcome)`` as trainings finish, with a progress bar; a dead
        worker becomes :func:`pool_error`'s one-line error."""
        from concurrent.futures import as_completed

        from nas.progress import progress

        try:
            for future in progress(as_completed(futures), len(futures), desc, show_progress):
                yield futures[future], future.result()
        except BrokenProcessPool:
            raise pool_error() from None

    def close(self) -> None:
        """Stop now: queued trainings are cancelled and running ones killed (finished ones are on disk)."""
        processes = list((getattr(self._executor, "_processes", None) or {}).values())  # no public handle on them
        self._executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()
        deadline = time.monotonic() + 2.0  # an interrupted command ends within seconds (nas.cli)
        for process in processes:
            process.join(timeout=max(0.0, deadline - time.monotonic()))
        for process in processes:
            if process.is_alive():
                process.kill()


def hold_interrupts() -> object:
    import signal

    if not hasattr(signal, "pthread_sigmask"):
        return None
    return signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})


def release_interrupts(previous: object) -> None:
    import signal

    if previous is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)  # type: ignore[arg-type]


def pool_error() -> NasError:
    return NasError("a training worker process died (out of memory?); every finished training is kept: "
                    "resume the run with --resume, with fewer --workers if memory is short")
