"""The CLI: the documented commands work; bad input is one line and exit status 2."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from nas.cli import main

REPO = Path(__file__).resolve().parent.parent


def test_spaces_lists_the_four_spaces(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["spaces"]) == 0
    out = capsys.readouterr().out
    for name in ("mbv2", "ghost_mbv2", "ghostnet", "shufflenet_v2"):
        assert f"\n{name} " in out


def test_show_baseline_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", str(REPO / "search_spaces/baselines/mobilenet_v2_1.0.yaml")]) == 0
    out = capsys.readouterr().out
    assert "2,237,770" in out and "89.025" in out and "ir k3 s2 mid144" in out


def test_show_accepts_a_long_arch_string(capsys: pytest.CaptureFixture[str]) -> None:
    from nas.space import load_space

    arch = max(load_space("ghost_mbv2").sample_random(20, seed=1), key=lambda a: len(str(a)))
    assert len(str(arch)) > 255  # longer than a file name may be
    assert main(["show", str(arch)]) == 0
    assert arch.id in capsys.readouterr().out


def test_sample_is_seeded(capsys: pytest.CaptureFixture[str]) -> None:
    main(["sample", "--space", "ghostnet", "--n", "3", "--seed", "4"])
    first = capsys.readouterr().out
    main(["sample", "--space", "ghostnet", "--n", "3", "--seed", "4"])
    assert capsys.readouterr().out == first and len(first.splitlines()) == 3


@pytest.mark.e2e
@pytest.mark.parametrize("argv,fragment", [
    (["sample", "--space", "nope"], "unknown search space 'nope'"),
    (["show", "r32_w1-stem_c16_k3_s1-ir_k4_e6_c24_s1-head_c10"], "kernel must be"),
    (["show", "missing.yaml"], "does not exist"),
    (["sample", "--space", "mbv2", "--n", "0"], "argument --n: 0 is out of range"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_input_is_one_line_exit_2(argv: list[str], fragment: str) -> None:
    result = subprocess.run([sys.executable, "-m", "nas", *argv], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and "Traceback" not in result.stderr


@pytest.mark.e2e
def test_malformed_space_file_reports_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nstem: {channels: 16}\nhead: {channels: 64}\n"
                   "stages: [{channels: 16, stride: 1, depth: [1, 2], types: [ir], kernels: [3, 9], expansions: [1]}]\n")
    result = subprocess.run([sys.executable, "-m", "nas", "sample", "--space", str(bad)], capture_output=True,
                            text=True, cwd=REPO)
    assert result.returncode == 2
    assert f"{bad}: stages[0].kernels: 9 is not allowed" in result.stderr


def _every_command(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path of the parser, found by walking its subparsers (so a new command is covered too)."""
    paths = [prefix]
    for action in parser._actions:  # argparse keeps its subparsers here and nowhere public
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                paths += _every_command(child, (*prefix, name))
    return paths


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_of_every_command_prints_and_exits_0(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    from nas.cli import build_parser

    commands = _every_command(build_parser())
    assert ("latency", "build") in commands and ("confirm",) in commands
    for path in commands:
        with pytest.raises(SystemExit) as stop:
            main([*path, flag])
        assert stop.value.code == 0, path
        out = capsys.readouterr().out
        assert out.startswith("usage: nas"), path
        assert "%(" not in out and "%%" not in out, path  # every format code was expanded


def test_every_option_of_every_command_says_what_it_does() -> None:
    from nas.cli import build_parser

    def parser_at(path: tuple[str, ...]) -> argparse.ArgumentParser:
        parser = build_parser()
        for name in path:
            action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
            parser = action.choices[name]
        return parser

    silent = [(path, action.dest) for path in _every_command(build_parser()) for action in parser_at(path)._actions
              if action.option_strings and not action.help]
    assert not silent, f"options without help text: {silent}"


@pytest.mark.e2e
def test_advice_for_a_device_that_cannot_be_measured_here_names_the_bundle_not_build(
        capsys: pytest.CaptureFixture[str]) -> None:
    readme_example = "r32_w0.75-stem_c16_k3_s1-ir_k3_e6_c24_s1-ghost_se_k5_e3_c32_s2-shuffle_k3_e1_c64_s2-head_c1504"
    assert main(["latency", "predict", "--device", "rpi4", readme_example]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "nas latency bundle" in err and "nas latency transfer" in err and "latency build" not in err
    assert "--arch" not in err and "no search space" in err
    assert main(["latency", "predict", "--device", "cpu_x86", readme_example]) == 2
    assert "nas latency build --device cpu_x86" in capsys.readouterr().err


def test_an_interrupt_swallowed_by_a_finaliser_is_raised_again() -> None:
    """Ctrl-C or SIGTERM landing in a ``__del__`` (or a weakref callback, as SQLAlchemy's) is otherwise printed as
    "Exception ignored" and lost, and the search goes on; the command's hook raises it again in the main thread."""
    script = """
import signal
import sys
import time
from nas.cli import _terminate_like_interrupt

class Finalised:
    def __del__(self) -> None:
        raise KeyboardInterrupt  # as if the signal's handler ran while the garbage collector called this

mode = sys.argv[1]
signal.signal(signal.SIGINT, signal.SIG_IGN)  # as in a command started in the background (nohup ... &)
if mode == "installed":
    _terminate_like_interrupt()
try:
    Finalised()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:  # the re-sent interrupt is raised here, outside the finaliser
        time.sleep(0.01)
    print("lost")
except KeyboardInterrupt:
    print("raised again")
"""
    def run(mode: str) -> str:
        return subprocess.run([sys.executable, "-c", script, mode], capture_output=True, text=True, timeout=120,
                              cwd=REPO).stdout.strip()

    assert run("installed") == "raised again"
    assert run("plain") == "lost"  # after 3 s: what Python does without the hook: the test can tell the two apart
