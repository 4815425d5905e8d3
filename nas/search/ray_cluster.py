"""The Ray connection of a search: start a local cluster or join one, and check it can run the search before a run
folder exists.

What is checked, each failure one line (:class:`~nas.errors.NasError`, exit 2), with whatever this process started
stopped again so that no Ray process outlives the refusal:

* the address answers (``ray.init`` would otherwise wait a long time);
* Ray lets this process in (a cluster started with token authentication refuses a process without its token);
* every node can import this version of the package (a task pinned to each node imports it and says its version):
  worker nodes need the package, not the data, which travels through Ray's object store;
* the resources asked per training exist: ``--gpus-per-trial`` on a cluster without GPUs, or more
  ``--cpus-per-trial`` than any node has, would otherwise wait forever.

A local cluster (no ``--address``) listens on the loopback interface only and lives in a temporary folder removed at
the end; a joined cluster is left running, as found.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from nas.errors import NasError

log = logging.getLogger(__name__)
PROBE_TIMEOUT_S = 180.0
"""How long a node may take to start a worker and import the package (torch included) before it counts as broken."""


@dataclass
class RayResources:
    """What one training or screening task asks of the cluster."""

    cpus: float
    gpus: float


@dataclass
class RaySession:
    """A connection this process opened (and, for a local cluster, the cluster it started)."""

    address: str | None
    resources: RayResources
    scratch: list[str] = field(default_factory=list)
    """Temporary folders of a local cluster this process started (none when it joined one)."""

    def close(self) -> None:
        """Disconnect (stopping a local cluster this process started) and remove its temporary folders."""
        import ray

        if ray.is_initialized():
            ray.shutdown()
        for folder in self.scratch:
            shutil.rmtree(folder, ignore_errors=True)
        self.scratch.clear()


def check_address(address: str) -> None:
    """Fail fast, in one line, when the cluster does not answer."""
    if address == "auto":
        return
    host, _, port = address.replace("ray://", "").rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=3):
            pass
    except (OSError, ValueError):
        raise NasError(f"Ray address {address!r} does not answer; start a head with 'ray start --head' "
                       "and pass its HOST:PORT") from None


def connect(address: str | None, workers: int, cpus_per_trial: int, gpus_per_trial: float | None) -> RaySession:
    """Start (no address) or join (``address``) a cluster and check it (module docstring); ``gpus_per_trial`` None
    asks for one GPU per training when the cluster has GPUs, else none."""
    import ray

    if address:
        check_address(address)
    if ray.is_initialized():
        ray.shutdown()  # a connection left by an earlier search in this process (a library caller's)
    session = RaySession(address, RayResources(cpus_per_trial, gpus_per_trial or 0.0))
    handlers = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)} \
        if threading.current_thread() is threading.main_thread() else {}
    try:
        if address:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
        else:
            session.scratch.append(tempfile.mkdtemp(prefix="nas-ray-session-"))
            with loopback_only():
                ray.init(address="local", num_cpus=workers * cpus_per_trial, include_dashboard=False, log_to_driver=False,
                         logging_level=logging.ERROR, _temp_dir=session.scratch[-1])
    except (ConnectionError, RuntimeError, ValueError) as exc:
        session.close()
        raise NasError(f"cannot start or join Ray ({address or 'local'}): {one_line(exc)}") from None
    finally:  # Ray installs its own SIGTERM handler, which ends the process at once: the command's cleanup must run
        for number, handler in handlers.items():
            if handler is not None:
                signal.signal(number, handler)
    try:
        session.resources.gpus = _gpus_per_trial(gpus_per_trial, address)
        _check_cpus(cpus_per_trial, address)
        nodes = _check_nodes(address)
    except BaseException:
        session.close()
        raise
    log.info("ray: %s with %d node(s); each training asks for %g CPU and %g GPU", address or "a local cluster",
             len(nodes), session.resources.cpus, session.resources.gpus)
    return session


def _gpus_per_trial(asked: float | None, address: str | None) -> float:
    import ray

    gpus = float(ray.cluster_resources().get("GPU", 0))
    if asked is None:
        return 1.0 if gpus else 0.0
    if asked > 0 and gpus < asked:
        raise NasError(f"--gpus-per-trial {asked:g} asks for GPUs, and the Ray cluster at {address or 'this machine'} "
                       f"has {gpus:g}: drop --gpus-per-trial (CPU training), or add a node with a GPU")
    return float(asked)


def _check_cpus(asked: int, address: str | None) -> None:
    import ray

    most = max((float(node["Resources"].get("CPU", 0)) for node in ray.nodes() if node.get("Alive")), default=0.0)
    if asked > most:
        raise NasError(f"--cpus-per-trial {asked} is more than any node of the Ray cluster at {address or 'this machine'}"
                       f" has ({most:g}): lower --cpus-per-trial")


def _probe() -> str:
    """Runs on a node: the package's version there (an import failure is the answer too)."""
    import nas
    import nas.search.ray_tasks  # noqa: F401 (what the search's tasks import)

    return nas.__version__


def _check_nodes(address: str | None) -> dict[str, str]:
    """Every live node with CPUs imports this version of the package, checked by a task pinned to it."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    import nas

    nodes = {node["NodeID"]: node.get("NodeManagerAddress", "?") for node in ray.nodes()
             if node.get("Alive") and float(node["Resources"].get("CPU", 0)) > 0}
    probe = ray.remote(num_cpus=0, max_retries=0)(_probe)
    refs = {probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)).remote(): node
            for node in nodes}
    for ref, node in refs.items():
        where = f"Ray node {nodes[node]} ({node[:8]})"
        try:
            version = ray.get(ref, timeout=PROBE_TIMEOUT_S)
        except ray.exceptions.GetTimeoutError:
            raise NasError(f"{where} did not start a worker within {PROBE_TIMEOUT_S:.0f} s: check that node "
                           "('ray status' on the head)") from None
        except ray.exceptions.RayTaskError as exc:
            raise NasError(f"{where} cannot import the nas package ({one_line(exc)}): install nas "
                           f"{nas.__version__} there, in the Python environment that runs 'ray start', and restart "
                           "that node") from None
        except ray.exceptions.RayError as exc:
            raise NasError(f"{where} failed its check ({one_line(exc)})") from None
        if version != nas.__version__:
            raise NasError(f"{where} has nas {version}, this machine {nas.__version__}: install the same version on "
                           "every node") from None
    return nodes


def one_line(exc: BaseException) -> str:
    """A Ray error in one line: the cause a task raised, or the first line of the message that is not a traceback."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):
        exc = cause
    text = str(exc).strip()
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith(("Traceback", "File ", "ray::")):
            return f"{exc.__class__.__name__}: {line.strip()}" if exc.__class__.__name__ not in line else line.strip()
    return exc.__class__.__name__


@contextmanager
def loopback_only() -> Iterator[None]:
    """A local cluster that listens on the loopback interface only, not on every interface.

    Why: a cluster this process starts serves this process alone, yet Ray binds its GCS, raylet and workers to the
    node's network address, reachable from the network. Ray's own switch for single-machine clusters (the one it
    sets on macOS and Windows) makes the node's address the loopback one; it is read from the environment by the
    processes Ray starts and from ``ray_constants`` by this one. A multi-node cluster (``--address``) is untouched."""
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
