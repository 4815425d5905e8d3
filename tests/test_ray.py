"""The Ray Tune backend across a real local cluster: a head and one worker node, 1 CPU each."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nas.search.config import SearchConfig

RAY = shutil.which("ray") or str(Path(sys.executable).with_name("ray"))
ENV = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16), "RAY_USAGE_STATS_ENABLED": "0"}
"""Every node and the search share one token, as a multi-node user sets them up (README, 'Ray clusters')."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    port = _free_port()
    address = f"127.0.0.1:{port}"
    common = ["--num-cpus=1", "--disable-usage-stats"]
    subprocess.run([RAY, "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1", "--include-dashboard=false",
                    *common], check=True, env=ENV, capture_output=True, timeout=180)
    try:
        subprocess.run([RAY, "start", f"--address={address}", "--node-ip-address=127.0.0.1", *common], check=True,
                       env=ENV, capture_output=True, timeout=180)
        yield address
    finally:
        subprocess.run([RAY, "stop", "--force"], env=ENV, capture_output=True, timeout=120)


@pytest.mark.e2e
@pytest.mark.slow
def test_search_runs_across_head_and_worker(cluster: str, tmp_path: Path) -> None:
    config = SearchConfig(space="shufflenet_v2", device="cpu_x86", budget="50ms", trials=2, data="synthetic", eta=2,
                          backend="ray", screen="none", workers=2, address=cluster, runs_dir=str(tmp_path), name="cluster",
                          rungs=[{"epochs": 1, "subset": 100, "batch_size": 50, "val_size": 100},
                                 {"epochs": 1, "subset": 100, "batch_size": 50, "val_size": 100}],
                          baseline_seeds=1, threads=1)
    path = tmp_path / "c.yaml"
    config.save(path)
    result = subprocess.run([sys.executable, "-m", "nas", "search", "--config", str(path), "--name", "cluster"],
                            capture_output=True, text=True, env=ENV, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    nodes = (tmp_path / "cluster" / "ray_nodes.txt").read_text().split()
    assert len(nodes) == 2  # both trials ran at once, one on each node
    assert len((tmp_path / "cluster" / "evaluations.jsonl").read_text().splitlines()) >= 2


@pytest.mark.e2e
@pytest.mark.slow
def test_a_search_without_the_clusters_token_is_refused(cluster: str, tmp_path: Path) -> None:
    wrong = {**ENV, "RAY_AUTH_TOKEN": secrets.token_hex(16)}
    result = subprocess.run([sys.executable, "-m", "nas", "search", "--backend", "ray", "--address", cluster,
                             "--data", "synthetic", "--runs-dir", str(tmp_path), "--budget", "50ms", "--space",
                             "shufflenet_v2", "--trials", "1"], capture_output=True, text=True, env=wrong, timeout=300)
    assert result.returncode == 2 and "cannot start or join Ray" in result.stderr.strip().splitlines()[-1]
    assert "InvalidAuthToken" in result.stderr or "Unauthenticated" in result.stderr  # refused by Ray's token check
    assert not list(tmp_path.iterdir())


@pytest.mark.e2e
def test_unreachable_ray_address_is_one_line(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "nas", "search", "--backend", "ray", "--address",
                             f"127.0.0.1:{_free_port()}", "--data", "synthetic", "--runs-dir", str(tmp_path),
                             "--budget", "50ms", "--space", "shufflenet_v2"], capture_output=True, text=True, env=ENV)
    assert result.returncode == 2
    assert "does not answer" in result.stderr.strip().splitlines()[-1] and "Traceback" not in result.stderr
