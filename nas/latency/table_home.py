"""Where latency tables live: the shipped folder (read only) and the user's (``$NAS_TABLES``), and device names.

Why its own module: reading a table, saving one and listing devices all need these rules, and they are the
whole of decision 0010 (a user's table shadows the shipped table of that name; shipped tables are never
rewritten).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from nas.errors import NasError

TABLES_DIR = Path(__file__).resolve().parent.parent.parent / "latency_tables"
"""The shipped tables: read, never written (see :func:`user_tables_dir`)."""
DEVICE_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


class TableError(NasError):
    """A table is missing, corrupt, or lacks entries an arch needs."""


def user_tables_dir() -> Path:
    """Where the tables a user builds, fits, adapts or imports go: ``$NAS_TABLES``, else the user's data directory
    (``$XDG_DATA_HOME/nas/latency_tables``, by default ``~/.local/share/nas/latency_tables``).

    Why apart from the shipped ones: a fit or an import on one machine must not rewrite the tables (and their
    reports) that everybody else's searches read; a user table shadows the shipped table of the same name."""
    configured = os.environ.get("NAS_TABLES")
    if configured:
        return Path(configured).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "nas" / "latency_tables"


def user_reports_dir() -> Path:
    """Validation, transfer and adaptation reports of user tables."""
    return user_tables_dir() / "reports"


def user_table_path(device: str) -> Path:
    return user_tables_dir() / f"{device}.json"


def is_shipped(path: Path) -> bool:
    """``path`` is in the shipped folder (and the user folder is not that folder: a maintainer regenerating the
    shipped tables sets ``NAS_TABLES`` to it)."""
    shipped = TABLES_DIR.resolve()
    return path.resolve().parent == shipped and user_tables_dir().resolve() != shipped


def table_path(device: str) -> Path:
    """Where device ``device``'s table is read from: the user's, else the shipped one."""
    user = user_table_path(device)
    return user if user.is_file() else TABLES_DIR / f"{device}.json"


def table_home(device: str) -> str:
    """'user', 'shipped', or 'user (shadows shipped)': shown by ``nas devices``."""
    user, shipped = user_table_path(device).is_file(), (TABLES_DIR / f"{device}.json").is_file()
    if user and shipped and not is_shipped(user_table_path(device)):
        return "user (shadows shipped)"
    return "user" if user and not is_shipped(user_table_path(device)) else "shipped"


def available_devices() -> list[str]:
    """Device tables by name, user and shipped; a file whose name is no device name (``My Board.json``) is not one."""
    folders = [TABLES_DIR, user_tables_dir()]
    return sorted({p.stem for folder in folders for p in folder.glob("*.json") if DEVICE_NAME.match(p.stem)})


def check_device_name(device: str) -> str:
    if not DEVICE_NAME.match(device):
        raise TableError(f"device name {device!r} is not allowed: use lower-case letters, digits, '_', '-', '.'")
    return device
