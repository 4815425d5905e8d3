"""Hostile and careless input: nothing outside a run is touched, nothing the user made is deleted, unbounded input is
refused, device files are validated, interrupts end the program; each fault is one line and exit 2."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import run_main

from nas.errors import NasError

TABULAR = ("--space", "nas_bench_macro", "--device", "cpu_x86", "--budget", "1ms", "--accuracy", "tabular", "--screen", "none")
"""A whole search in about a second: accuracies looked up, no training."""


def _tabular_run(capsys: pytest.CaptureFixture[str], runs: Path, name: str = "t") -> Path:
    result = run_main(capsys, "search", *TABULAR, "--runs-dir", str(runs), "--name", name)
    assert result.returncode == 0, result.stderr
    return runs / name


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


# -- the run folder: made by the tool or refused; cleanup keeps what it did not make and what finished ---------------


def test_a_folder_the_tool_did_not_make_is_refused_and_kept(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("notes")
    result = run_main(capsys, "search", *TABULAR, "--runs-dir", str(tmp_path), "--name", "mine")
    assert result.returncode == 2 and "no run of this tool" in _one_line(result.stderr)
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"] and (mine / "notes.txt").read_text() == "notes"


def test_cleanup_of_a_new_run_removes_only_its_own_files_and_never_finished_work(tmp_path: Path) -> None:
    from nas.search.run import remove_unfinished_run
    from nas.search.run_folder import RunFolder

    def run_with(*names: str, screened: bool = False) -> RunFolder:
        folder = RunFolder(tmp_path / f"run{len(list(tmp_path.iterdir()))}")
        folder.path.mkdir()
        for name in names:
            (folder.path / name).write_text("x")
        if screened:
            folder.screening_path.write_text(json.dumps({"arch": "a", "estimator": "naswot", "value": 1.0}) + "\n")
        return folder

    empty = run_with("config.yaml", "search.log", ".lock", "study.db")
    remove_unfinished_run(empty)
    assert not empty.path.exists()
    foreign = run_with("config.yaml", "search.log", "notes.txt")
    remove_unfinished_run(foreign)
    assert sorted(p.name for p in foreign.path.iterdir()) == ["notes.txt"]
    finished = run_with("config.yaml", "search.log", screened=True)
    remove_unfinished_run(finished)
    assert {"config.yaml", "search.log", "screening.jsonl"} <= {p.name for p in finished.path.iterdir()}


def test_an_interrupted_new_run_keeps_its_finished_scores_for_resume(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from nas.search import optuna_driver
    from nas.search.config import SearchConfig
    from nas.search.run import run_search

    def scored_then_interrupted(config: SearchConfig, context: object, show_progress: bool) -> int:
        (config.run_dir / "screening.jsonl").write_text(json.dumps({"arch": "x", "value": 1.0}) + "\n")
        raise KeyboardInterrupt

    monkeypatch.setattr(optuna_driver, "sample_with_optuna", scored_then_interrupted)
    config = SearchConfig(space="nas_bench_macro", device="cpu_x86", budget="1ms", accuracy="tabular",
                          runs_dir=str(tmp_path), name="r")
    with pytest.raises(KeyboardInterrupt):
        run_search(config, show_progress=False)
    assert (tmp_path / "r" / "screening.jsonl").is_file() and (tmp_path / "r" / "config.yaml").is_file()


# -- writes never follow a link out of the run -------------------------------------------------------------------------


@pytest.mark.e2e
def test_links_out_of_a_run_are_refused_before_anything_is_written(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    run = _tabular_run(capsys, tmp_path / "runs")
    outside = tmp_path / "outside"
    outside.mkdir()
    precious = outside / "precious.txt"
    precious.write_text("keep me")
    cases = [("export", ["export", str(run)]), ("pareto.png", ["report", str(run)]), (".lock", ["search", "--resume", str(run)])]
    for name, command in cases:
        link = run / name
        if link.exists():
            link.unlink()
        os.symlink(outside if name == "export" else precious, link)
        result = run_main(capsys, *command)
        assert result.returncode == 2 and "symbolic link" in _one_line(result.stderr), (name, result.stderr)
        assert precious.read_text() == "keep me" and sorted(p.name for p in outside.iterdir()) == ["precious.txt"]
        link.unlink()


def test_a_lock_or_journal_that_is_a_link_is_refused_not_followed(tmp_path: Path) -> None:
    from nas.fileio import FolderLock, append_line

    target = tmp_path / "target.txt"
    target.write_text("keep me")
    folder = tmp_path / "run"
    folder.mkdir()
    os.symlink(target, folder / ".lock")
    with pytest.raises(NasError, match="symbolic link"), FolderLock(folder, NasError):
        pass
    os.symlink(target, folder / "evaluations.jsonl")
    with pytest.raises(NasError, match="symbolic link"):
        append_line(folder / "evaluations.jsonl", "{}")
    assert target.read_text() == "keep me"


def test_a_runs_folder_with_url_characters_keeps_the_study_inside_the_run(tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "a?b#c%d"
    run = _tabular_run(capsys, runs)
    assert (run / "study.db").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a?b#c%d"] and sorted(p.name for p in runs.iterdir()) == ["t"]


# -- untrusted files: one line, never garbage ------------------------------------------------------------------------


def _measurements(tmp_path: Path, rows: list[dict], suffix: str = ".json") -> Path:
    path = tmp_path / f"m{suffix}"
    path.write_text(json.dumps(rows))
    return path


NETS = ["mobilenet_v2_0.5", "mobilenet_v2_0.75", "mobilenet_v2_1.0", "shufflenet_v2_0.5"]


@pytest.mark.parametrize("rows,fragment", [
    ([{"arch": a, "ms": True} for a in NETS], "ms must be a number, got True"),
    ([{"arch": a, "ms": 20.0} for a in NETS] + [{"arch": NETS[0], "ms": 500.0}], "row 5: the same network as row 1"),
    ([{"arch": 7, "ms": 20.0} for a in NETS], "arch must be an arch string"),
    ([{"arch": a, "ms": 20.0} for a in NETS] * 300, "holds at most 1,000 networks"),
])
def test_measurements_are_validated_as_a_whole(tmp_path: Path, rows: list[dict], fragment: str) -> None:
    from nas.latency.adapt import read_measurements
    from nas.latency.table import TableError

    with pytest.raises(TableError, match=fragment):
        read_measurements(_measurements(tmp_path, rows))


def test_repeated_measurements_that_agree_are_averaged(tmp_path: Path) -> None:
    from nas.latency.adapt import read_measurements

    rows = [{"arch": a, "ms": 20.0} for a in NETS] + [{"arch": NETS[0], "ms": 20.4}]
    measured = dict((str(a), ms) for a, ms in read_measurements(_measurements(tmp_path, rows)))
    assert len(measured) == 4 and sorted(measured.values())[-1] == pytest.approx(20.2)


def test_an_oversized_measurements_file_is_refused_unread(tmp_path: Path) -> None:
    from nas.latency.adapt import MAX_MEASUREMENTS_BYTES, read_measurements
    from nas.latency.table import TableError

    path = tmp_path / "m.csv"
    path.write_text("arch,ms\n" + "x" * MAX_MEASUREMENTS_BYTES)
    with pytest.raises(TableError, match="too large"):
        read_measurements(path)


@pytest.mark.parametrize("args", [
    ["latency", "adapt", "--device", "b", "--host-networks", "1000000000"],
    ["search", "--trials", "99999999"],
    ["search", "--workers", "0"],
    ["sample", "--space", "mbv2", "--n", "1e12"],
    ["confirm", "runs/x", "--seeds", "100000"],
])
def test_every_count_option_has_a_range(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    result = run_main(capsys, *args)
    assert result.returncode == 2 and ("out of range" in result.stderr or "is not a whole number" in result.stderr)
    _one_line(result.stderr)


def test_a_space_file_with_thousands_of_stages_is_refused_at_once(tmp_path: Path) -> None:
    import yaml

    from nas.space import load_space

    def space(stages: int, depth: int) -> str:
        return yaml.safe_dump({"name": "huge", "widths": [1.0], "resolutions": [32], "stem": {"channels": 16},
                               "blocks": {"types": ["ir"], "kernels": [3], "expansions": [1]},
                               "head": {"channels": 64},
                               "stages": [{"channels": 16, "stride": 1, "depth": depth} for _ in range(stages)]})

    path = tmp_path / "huge.yaml"
    path.write_text(space(20_000, 1))
    with pytest.raises(NasError, match="20,000 stages; a space has at most"):
        load_space(path)
    path.write_text(space(30, 32))
    with pytest.raises(NasError, match="blocks.*at most 128"):
        load_space(path)
    path.write_text(space(3, 2))
    assert len(load_space(path).stages) == 3


class _Payload:
    def __reduce__(self) -> tuple:
        return (os.system, ("echo ran > /dev/null",))


@pytest.mark.parametrize("content", ["truncated", "payload", "other_arch"])
def test_hostile_or_broken_weights_are_one_line(tmp_path: Path, content: str) -> None:
    import torch

    from nas.export import load_weights
    from nas.model import build
    from nas.space import resolve_arch
    from nas.train import save_weights

    model = build(resolve_arch("mobilenet_v2_0.5"))
    path = tmp_path / "weights.pt"
    if content == "payload":
        path.write_bytes(pickle.dumps(_Payload()))
    else:
        save_weights(build(resolve_arch("shufflenet_v2_0.5")) if content == "other_arch" else model, path)
        if content == "truncated":
            path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(NasError, match="weights.pt"):
        load_weights(path, model)
    save_weights(model, path)
    assert set(load_weights(path, model)) == set(model.state_dict())
    assert isinstance(next(iter(load_weights(path, model).values())), torch.Tensor)


@pytest.mark.parametrize("field,value,fragment", [
    ("budget_ms", "30", "budget_ms must be a positive number"),
    ("front", {"a": 1}, "front must be a list"),
    ("noise_sd", "x", "noise_sd must be"),
])
def test_a_wrongly_typed_pareto_field_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str,
                                                  value: object, fragment: str) -> None:
    run = _tabular_run(capsys, tmp_path)
    document = json.loads((run / "pareto.json").read_text())
    document[field] = value
    (run / "pareto.json").write_text(json.dumps(document))
    for command in (["report", str(run)], ["export", str(run)]):
        result = run_main(capsys, *command)
        assert result.returncode == 2 and fragment in _one_line(result.stderr), command


def test_a_front_point_of_the_wrong_type_is_named() -> None:
    from nas.search.pareto_schema import check_pareto

    good = {"arch": "a", "accuracy": 0.5, "latency_ms": 1.0, "accuracies": [0.5]}
    assert check_pareto({"budget_ms": 1.0, "front": [good]}) == ""
    assert "front[1].accuracy" in check_pareto({"front": [good, {**good, "accuracy": "high"}]})
    assert "baseline lacks arch" in check_pareto({"baseline": {"accuracy": 0.5, "latency_ms": 1.0}})


@pytest.mark.parametrize("journal", ["evaluations.jsonl", "screening.jsonl"])
def test_a_journal_line_with_an_unparsable_arch_is_named_by_file_and_line(tmp_path: Path, journal: str) -> None:
    from nas.search.journal import EvaluationJournal
    from nas.search.screening import ScreeningJournal

    good = "r32_w1-stem_c16_k3_s1-ir_k3_e1_c16_s1-head_c64"
    records = [{"arch": arch, "rung": 0, "seed": 0, "accuracy": 0.5, "fidelity": "f", "seconds": 1.0,
                "estimator": "naswot", "value": 1.0} for arch in (good, "r32-not_a_block")]
    if journal == "evaluations.jsonl":
        records = [{k: v for k, v in r.items() if k not in ("estimator", "value")} for r in records]
    path = tmp_path / journal
    path.write_text("torn{\n" + "\n".join(json.dumps(r) for r in records) + "\n")
    with pytest.raises(NasError, match=f"{journal}: line 3.*does not parse"):
        if journal == "evaluations.jsonl":
            EvaluationJournal(path)
        else:
            ScreeningJournal("naswot", path, lambda: None, 0)


def test_a_stray_file_in_either_tables_folder_is_named_and_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("NAS_TABLES", str(tmp_path))
    (tmp_path / "notes.json").write_text('{"these": "are my notes"}')
    result = run_main(capsys, "devices")
    assert result.returncode == 0 and "notes.json" in result.stderr and "skipping" in result.stderr
    from nas.latency.table import readable_tables

    assert "notes" not in readable_tables() and "rpi4" in readable_tables()


# -- the board runner trusts nothing it did not just check -------------------------------------------------------------


def _bundle(tmp_path: Path) -> tuple[Path, dict]:
    from nas.latency.build import layers_for
    from nas.latency.bundle import write_bundle

    layers = layers_for(["shufflenet_v2"], baselines=False)
    layers = {k: layers[k] for k in sorted(layers)[:3]}
    bundle = tmp_path / "bundle"
    manifest = json.loads(write_bundle(layers, bundle, ["shufflenet_v2"], show_progress=False).read_text())
    return bundle, manifest


def _runner(bundle: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(bundle / "runner.py"), "--out", str(tmp_path / "results.json"),
                           "--target-seconds", "0.02"], capture_output=True, text=True, cwd=tmp_path)


@pytest.mark.e2e
def test_the_runner_checks_every_model_on_resume_and_refuses_a_bad_partial(tmp_path: Path) -> None:
    bundle, manifest = _bundle(tmp_path)
    keys = sorted(manifest["entries"])
    timing = {"ms": 0.5, "spread": 0.01, "n": 7, "steady": 5, "chunks": 8, "measurements": [0.5]}
    partial = tmp_path / "results.json.partial"
    partial.write_text(json.dumps({"bundle_id": manifest["bundle_id"], "results": {k: timing for k in keys}}))
    first, second = (bundle / manifest["entries"][k]["file"] for k in keys[:2])
    first.write_bytes(second.read_bytes())  # a swapped model: measured in sweep 1, timed again in sweep 2
    run = _runner(bundle, tmp_path)
    assert run.returncode != 0 and "does not match the manifest" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "results.json").exists()
    for bad in ({keys[0]: "fast"}, {keys[0]: {**timing, "ms": True}}, {"not-a-key": timing}):
        partial.write_text(json.dumps({"bundle_id": manifest["bundle_id"], "results": bad}))
        run = _runner(bundle, tmp_path)
        assert run.returncode != 0 and "delete the file" in run.stderr and "Traceback" not in run.stderr, bad


# -- interrupts and Ray ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("signals", [1, 2])
def test_an_interrupt_ends_the_program_even_when_its_shutdown_hangs(tmp_path: Path, signals: int) -> None:
    """A program whose shutdown would wait for ever after SIGTERM (here: a thread that never ends, as a hung worker
    pool's can) still ends, with the one interrupt line and status 130; a second signal ends it at once."""
    script = ("import sys, threading, time\nfrom nas import cli\ncli._terminate_like_interrupt()\n"
              "threading.Thread(target=time.sleep, args=(3600,)).start()\n"
              "try:\n    print('ready', flush=True)\n    time.sleep(3600)\n"
              "except KeyboardInterrupt:\n    cli._INTERRUPTS.report()\n"
              "    cli._INTERRUPTS.start_deadline()\n    sys.exit(130)\n")
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    process.send_signal(signal.SIGTERM)
    if signals == 2:
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert err.strip() == "nas: interrupted (finished work is kept; a search resumes with --resume)"


@pytest.mark.e2e
def test_a_local_ray_cluster_listens_on_loopback_only() -> None:
    import ray
    from ray._private import ray_constants

    from nas.search.ray_cluster import loopback_only

    before = _listening()
    with loopback_only():
        ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        opened = _listening() - before
        assert opened and all(address in LOOPBACK for address, _ in opened), opened
    finally:
        ray.shutdown()
    assert ray_constants.ENABLE_RAY_CLUSTER is True and ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR not in os.environ


LOOPBACK = {"0100007F", "00000000000000000000000001000000", "0000000000000000FFFF00000100007F"}
"""127.0.0.1, ::1 and ::ffff:127.0.0.1 as /proc/net/tcp{,6} write them."""


def _listening() -> set[tuple[str, str]]:
    """(address, port) of every listening TCP socket on this machine, from /proc (no extra package)."""
    sockets = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A":  # LISTEN
                address, port = fields[1].split(":")
                sockets.add((address, port))
    return sockets


def test_an_oversized_device_file_is_refused_before_it_is_parsed(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from nas import fileio
    from nas.latency.bundle import import_results
    from nas.latency.table import TableError, load_table

    monkeypatch.setattr(fileio, "JSON_MAX_BYTES", 1_000)
    monkeypatch.setattr(fileio.read_json_bounded, "__defaults__", (1_000,))
    big = tmp_path / "results.json"
    big.write_text("[" + "1," * 2_000 + "1]")
    (tmp_path / "bundle").mkdir()
    (tmp_path / "bundle" / "manifest.json").write_text(big.read_text())
    with pytest.raises(TableError, match="more than a bundle manifest can be"):
        import_results(big, "board", tmp_path / "bundle")
    table = tmp_path / "board.json"
    table.write_text(big.read_text())
    with pytest.raises(TableError, match="more than a latency table can be"):
        load_table(table)
