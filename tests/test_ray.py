"""The Ray backend runs the default algorithm: the same finalist and front as the Optuna backend for a seed, on a local
cluster and across a real two-node one (a head and a worker node, 1 CPU each, token authentication on), through a
node killed mid-training and an interrupted, resumed run."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from nas.search.config import ConfigError, SearchConfig

RAY = shutil.which("ray") or str(Path(sys.executable).with_name("ray"))
ENV = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16), "RAY_USAGE_STATS_ENABLED": "0"}
"""Every node and the search share one token, as a multi-node user sets them up (README, 'Ray clusters')."""

TRAINED = {"space": "shufflenet_v2", "device": "cpu_x86", "budget": "50ms", "trials": 4, "screen": "auto",
           "screen_factor": 2, "prescreen_pool": 64, "prescreen": "auto", "data": "synthetic", "eta": 2, "workers": 2,
           "threads": 1, "baseline_seeds": 1, "finalist_seeds": 2,
           "rungs": [{"epochs": 2, "subset": 800, "batch_size": 50, "val_size": 200, "lr": 0.05}] * 2}
"""A tiny trained default search (pre-screen, screen, two rungs, baseline, finalist): each training takes seconds."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _nas(*argv: str, env: dict[str, str] = ENV, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nas", *argv], capture_output=True, text=True, env=env, timeout=timeout)


def _front(run: Path) -> tuple[str, list[tuple[str, float]]]:
    summary = json.loads((run / "pareto.json").read_text())
    return summary["best_id"], [(point["id"], point["accuracy"]) for point in summary["front"]]


def _journal_keys(path: Path, *fields: str) -> list[tuple]:
    return [tuple(json.loads(line)[f] for f in fields) for line in path.read_text().splitlines() if line.strip()]


def _session_processes() -> set[int]:
    """Processes of a local cluster this tool started (their command lines name its temporary session folder)."""
    found = set()
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and b"nas-ray-session-" in (proc / "cmdline").read_bytes() \
                    and (proc / "stat").read_text().split()[2] != "Z":
                found.add(int(proc.name))
        except OSError:
            continue
    return found


class Cluster:
    """A head and a worker node on this machine, each ``ray start`` in a process group of its own, so that one node
    can be killed whole (as a machine that dies) and the test stops exactly what it started."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.groups: dict[str, int] = {}

    def start_node(self, name: str, *extra: str, env: dict[str, str] = ENV) -> None:
        head = not self.groups
        argv = [RAY, "start", *(["--head", f"--port={self.port}", "--include-dashboard=false"] if head else
                                [f"--address={self.address}"]),
                "--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats", *extra]
        process = subprocess.Popen(argv, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True)
        _, err = process.communicate(timeout=180)
        assert process.returncode == 0, err[-2000:]
        self.groups[name] = process.pid

    def kill(self, name: str) -> None:
        try:
            os.killpg(self.groups.pop(name), signal.SIGKILL)
        except ProcessLookupError:
            pass

    def stop(self) -> None:
        for name in list(self.groups)[::-1]:
            self.kill(name)


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    running = Cluster()
    try:
        running.start_node("head")
        running.start_node("worker")
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def optuna_reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[tuple[str, float]]]:
    """The tiny trained search on the Optuna backend: what every Ray run of it must return."""
    root = tmp_path_factory.mktemp("reference")
    SearchConfig(**TRAINED).save(root / "c.yaml")
    result = _nas("search", "--config", str(root / "c.yaml"), "--runs-dir", str(root), "--name", "optuna")
    assert result.returncode == 0, result.stderr[-3000:]
    return _front(root / "optuna")


@pytest.mark.e2e
@pytest.mark.slow  # 30 s: two searches and a local cluster; the default run keeps the cheaper refusal below
@pytest.mark.xdist_group("ray")  # one at a time: each checks that no local cluster outlives it
def test_a_tabular_search_on_ray_returns_the_optuna_finalist_and_scores(tmp_path: Path) -> None:
    """The default algorithm judged on NAS-Bench-Macro: a local Ray cluster computes every screening score in its
    tasks, bit for bit the driver's, and the search returns the same front."""
    common = ["search", "--space", "nas_bench_macro", "--device", "cpu_x86", "--budget", "4ms", "--accuracy", "tabular",
              "--trials", "4", "--screen-factor", "2", "--prescreen-pool", "256", "--data", "synthetic", "--threads", "1",
              "--runs-dir", str(tmp_path)]
    before = _session_processes()
    for backend in ("optuna", "ray"):
        result = _nas(*common, "--backend", backend, "--name", backend)
        assert result.returncode == 0, result.stderr[-3000:]
    assert _front(tmp_path / "ray") == _front(tmp_path / "optuna")
    scores = {b: {r["arch"]: r["value"] for r in map(json.loads, (tmp_path / b / "screening.jsonl").read_text().splitlines())}
              for b in ("optuna", "ray")}
    assert scores["ray"] == scores["optuna"] and len(scores["ray"]) == 8
    assert _session_processes() <= before and not list(Path(os.environ.get("TMPDIR", "/tmp")).glob("nas-ray-session-*/"
                                                                                                   "session_latest"))


@pytest.mark.e2e
@pytest.mark.xdist_group("ray")
def test_a_gpu_asked_of_a_cluster_without_one_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    before = _session_processes()
    result = _nas("search", "--backend", "ray", "--gpus-per-trial", "1", "--data", "synthetic", "--runs-dir",
                  str(tmp_path), "--space", "shufflenet_v2", "--device", "cpu_x86", "--budget", "50ms", timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "--gpus-per-trial 1 asks for GPUs" in result.stderr.strip().splitlines()[-1]
    assert not list(tmp_path.iterdir()) and _session_processes() <= before


def test_resource_requests_belong_to_a_distributed_backend() -> None:
    with pytest.raises(ConfigError, match="add --backend ray"):
        SearchConfig(gpus_per_trial=1).validate()
    with pytest.raises(ConfigError, match="gpus_per_trial must be"):
        SearchConfig(backend="ray", gpus_per_trial=-1).validate()
    assert SearchConfig(backend="ray", threads=3).trial_cpus == 3 and SearchConfig(backend="ray").trial_cpus == 1
    assert SearchConfig(backend="ray").screener == SearchConfig().screener == "naswot"


def test_a_ray_run_saved_before_the_ray_backend_screened_resumes_unscreened(tmp_path: Path) -> None:
    saved = {k: v for k, v in SearchConfig(backend="ray", name="old").__dict__.items() if k not in
             ("cpus_per_trial", "gpus_per_trial")}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(saved))
    assert SearchConfig.load(tmp_path / "config.yaml").screener == "none"


@pytest.mark.e2e
def test_unreachable_ray_address_is_one_line(tmp_path: Path) -> None:
    result = _nas("search", "--backend", "ray", "--address", f"127.0.0.1:{_free_port()}", "--data", "synthetic",
                  "--runs-dir", str(tmp_path), "--budget", "50ms", "--space", "shufflenet_v2")
    assert result.returncode == 2
    assert "does not answer" in result.stderr.strip().splitlines()[-1] and "Traceback" not in result.stderr


def _start_search(cluster: Cluster, root: Path, name: str) -> subprocess.Popen:
    """The tiny trained search on the cluster, as a user's command in the background."""
    SearchConfig(**TRAINED).save(root / "c.yaml")
    return subprocess.Popen([sys.executable, "-m", "nas", "search", "--config", str(root / "c.yaml"), "--backend", "ray",
                             "--address", cluster.address, "--runs-dir", str(root), "--name", name], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_lines(path: Path, count: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not (path.is_file() and len(path.read_text().splitlines()) >= count):
        time.sleep(0.5)


@pytest.mark.e2e
@pytest.mark.slow
def test_the_default_search_survives_a_node_killed_mid_training(cluster: Cluster, tmp_path: Path,
                                                                optuna_reference: tuple) -> None:
    """Across head and worker node: the worker node dies (its whole process group, SIGKILL) during the rung-0
    trainings; the lost training starts again on the head, the run says so, and the front is the Optuna one."""
    process = _start_search(cluster, tmp_path, "killed")
    _wait_for_lines(tmp_path / "killed" / "screening.jsonl", 8)
    time.sleep(4)  # screened: both nodes are training a rung-0 candidate
    cluster.kill("worker")
    out, err = process.communicate(timeout=900)
    assert process.returncode == 0, err[-3000:]
    assert "was lost with its worker or node" in err
    assert "started again" in (tmp_path / "killed" / "search.log").read_text()
    assert _front(tmp_path / "killed") == optuna_reference
    trained = _journal_keys(tmp_path / "killed" / "evaluations.jsonl", "arch", "rung", "seed")
    assert len(trained) == len(set(trained))


@pytest.mark.e2e
@pytest.mark.slow
def test_an_interrupted_ray_search_resumes_without_redoing_finished_work(cluster: Cluster, tmp_path: Path,
                                                                         optuna_reference: tuple) -> None:
    process = _start_search(cluster, tmp_path, "cut")
    journal = tmp_path / "cut" / "evaluations.jsonl"
    _wait_for_lines(journal, 1)
    process.send_signal(signal.SIGTERM)  # mid rung 0: one training finished, others running
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err[-2000:]
    finished = _journal_keys(journal, "arch", "rung", "seed")
    scored = _journal_keys(tmp_path / "cut" / "screening.jsonl", "arch")
    assert finished and len(scored) == 8
    result = _nas("search", "--resume", "cut", "--runs-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    trained = _journal_keys(journal, "arch", "rung", "seed")
    assert trained[:len(finished)] == finished and len(trained) == len(set(trained))
    assert _journal_keys(tmp_path / "cut" / "screening.jsonl", "arch") == scored  # nothing scored twice
    assert _front(tmp_path / "cut") == optuna_reference


@pytest.mark.e2e
@pytest.mark.slow
def test_a_search_without_the_clusters_token_is_refused(cluster: Cluster, tmp_path: Path) -> None:
    wrong = {**ENV, "RAY_AUTH_TOKEN": secrets.token_hex(16)}
    result = _nas("search", "--backend", "ray", "--address", cluster.address, "--data", "synthetic", "--runs-dir",
                  str(tmp_path), "--budget", "50ms", "--space", "shufflenet_v2", "--trials", "1", env=wrong, timeout=300)
    assert result.returncode == 2 and "cannot start or join Ray" in result.stderr.strip().splitlines()[-1]
    assert "InvalidAuthToken" in result.stderr or "Unauthenticated" in result.stderr  # refused by Ray's token check
    assert not list(tmp_path.iterdir())


@pytest.mark.e2e
@pytest.mark.slow
def test_a_node_without_the_package_is_named_in_one_line(cluster: Cluster, tmp_path: Path) -> None:
    """A third node whose Python cannot import nas: its ``sitecustomize`` hides the package from every import."""
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "sitecustomize.py").write_text(
        "import sys\n\n\nclass NoNas:\n    @staticmethod\n    def find_spec(name, path=None, target=None):\n"
        "        if name == 'nas' or name.startswith('nas.'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n\n\n"
        "sys.meta_path.insert(0, NoNas)\n")
    cluster.start_node("bare", env={**ENV, "PYTHONPATH": str(shadow)})
    runs = tmp_path / "runs"
    result = _nas("search", "--backend", "ray", "--address", cluster.address, "--data", "synthetic", "--runs-dir",
                  str(runs), "--budget", "50ms", "--space", "shufflenet_v2", timeout=400)
    last = result.stderr.strip().splitlines()[-1]
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "cannot import the nas package" in last and "install nas" in last
    assert not runs.exists()
