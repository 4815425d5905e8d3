"""Tables a user builds, fits, adapts or imports go to the user folder ($NAS_TABLES) and shadow shipped ones;
shipped tables and their reports are never rewritten."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from nas.cli import main
from nas.latency.table import load_table, table_home, user_tables_dir

SHIPPED = Path(__file__).resolve().parent.parent / "latency_tables"


@pytest.fixture
def shipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the shipped folder standing in for it, so that a regression cannot damage the real one."""
    folder = tmp_path / "shipped"
    folder.mkdir()
    for name in ("cpu_x86", "rpi4", "pixel3"):
        shutil.copy(SHIPPED / f"{name}.json", folder / f"{name}.json")
    monkeypatch.setattr("nas.latency.table_home.TABLES_DIR", folder)
    return folder


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_changed_shipped_table_is_saved_as_a_user_table_that_shadows_it(shipped: Path,
                                                                            capsys: pytest.CaptureFixture[str]) -> None:
    before = _digest(shipped)
    table = load_table("cpu_x86")
    assert table_home("cpu_x86") == "shipped"
    table.meta["calibration"] = {"scale": 2.0, "offset_ms": 0.0}
    path = table.save()
    assert path == user_tables_dir() / "cpu_x86.json" and _digest(shipped) == before
    assert load_table("cpu_x86").calibration[0] == 2.0, "the user's table is the one read"
    assert table_home("cpu_x86") == "user (shadows shipped)"
    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    assert "user (shadows shipped)" in out and str(user_tables_dir()) in out


@pytest.mark.e2e
def test_adapting_and_importing_write_user_tables_only(shipped: Path, tmp_path: Path) -> None:
    from nas.vendored import HW_NAS_BENCH

    before = _digest(shipped)
    rows = ["arch,ms"] + [f"{name},{ms}" for name, ms in (("mobilenet_v2_0.5", 20.0), ("mobilenet_v2_1.0", 41.0),
                                                            ("shufflenet_v2_0.5", 9.0), ("ghostnet_0.5", 15.0))]
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    assert main(["latency", "adapt", "--device", "board", "--measurements", str(tmp_path / "m.csv"),
                 "--from", "rpi4", "--space", "shufflenet_v2"]) == 0
    assert (user_tables_dir() / "board.json").is_file() and not (shipped / "board.json").exists()
    assert table_home("board") == "user"
    assert main(["latency", "import-hwnasbench", "--data", str(HW_NAS_BENCH), "--device", "rpi4"]) == 0
    assert (user_tables_dir() / "rpi4.json").is_file()
    assert _digest(shipped) == before


def test_nas_tables_points_the_user_folder_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAS_TABLES", str(tmp_path / "mine"))
    assert user_tables_dir() == tmp_path / "mine"
    monkeypatch.delenv("NAS_TABLES")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert user_tables_dir() == tmp_path / "xdg" / "nas" / "latency_tables"
