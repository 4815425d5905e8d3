"""CIFAR-10 in its official binary layout, found or downloaded; a synthetic stand-in for tests.

Lookup order: ``--data PATH``, then ``$NAS_DATA``, then the user cache (``~/.cache/nas/cifar10``).
Each location may be the ``cifar-10-batches-bin`` folder itself, a folder containing it, or the
official ``cifar-10-binary.tar.gz``. When nothing is found and downloading is allowed, the official
archive is fetched into the cache and its MD5 verified. Records are parsed with numpy (1 label byte +
3,072 pixel bytes; no pickle anywhere).

The synthetic set (:func:`synthetic_cifar`) exists for tests; it is only ever used when asked for by
name (``--data synthetic``), never silently in place of missing real data.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nas.errors import NasError

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
ARCHIVE = "cifar-10-binary.tar.gz"
ARCHIVE_MD5 = "c32a1d4ab5d03f1284b67883e8d87530"
FOLDER = "cifar-10-batches-bin"
TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_FILE = "test_batch.bin"
RECORD = 3073
PER_FILE = 10_000
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
SYNTHETIC = "synthetic"


class DataError(NasError):
    """The data set is missing, incomplete or corrupt."""


@dataclass(frozen=True)
class Dataset:
    """Images as uint8 NCHW arrays with int64 labels; ``source`` says where they came from."""

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    source: str

    @property
    def num_classes(self) -> int:
        return int(max(self.train_y.max(), self.test_y.max())) + 1


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "nas" / "cifar10"


def candidates(data: str | Path | None) -> list[Path]:
    """Where to look, in order."""
    found = []
    if data:
        found.append(Path(data).expanduser())
    if os.environ.get("NAS_DATA"):
        found.append(Path(os.environ["NAS_DATA"]).expanduser())
    found.append(cache_dir())
    return found


def _resolve(location: Path) -> Path | None:
    """The batches folder or archive at ``location``, if there is one."""
    if location.is_file() and location.name.endswith((".tar.gz", ".tgz")):
        return location
    for folder in (location, location / FOLDER):
        if (folder / TEST_FILE).exists() or any((folder / f).exists() for f in TRAIN_FILES):
            return folder
    if (location / ARCHIVE).is_file():
        return location / ARCHIVE
    return None


def load_cifar10(data: str | Path | None = None, download: bool = True) -> Dataset:
    """Real CIFAR-10 (or the synthetic set when ``data == 'synthetic'``)."""
    if str(data) == SYNTHETIC:
        return synthetic_cifar()
    looked = candidates(data)
    if data and _resolve(Path(data).expanduser()) is None:
        raise DataError(f"no CIFAR-10 at {data}: expected the {FOLDER} folder (data_batch_1.bin ... test_batch.bin), "
                        f"a folder containing it, or {ARCHIVE}")
    env = os.environ.get("NAS_DATA")
    if not data and env and _resolve(Path(env).expanduser()) is None:  # a set variable is meant: never skip it
        what = ("does not exist" if not Path(env).expanduser().exists() else
                "is a file, not a CIFAR-10 archive" if Path(env).expanduser().is_file() else "holds no CIFAR-10")
        raise DataError(f"NAS_DATA={env} {what}: point it at the {FOLDER} folder (data_batch_1.bin ... "
                        f"test_batch.bin), a folder containing it, or {ARCHIVE}; or unset it to use {cache_dir()}")
    for location in looked:
        found = _resolve(location)
        if found is not None:
            return read_cifar10(found)
    if download:
        return read_cifar10(download_cifar10(cache_dir()))
    raise DataError(f"CIFAR-10 not found (looked in: {', '.join(map(str, looked))}); pass --data PATH or set NAS_DATA "
                    f"to a {FOLDER} folder or {ARCHIVE}")


def download_cifar10(target: Path, url: str = URL, timeout: float = 30.0) -> Path:
    """Fetch the official archive into ``target`` and verify its MD5; returns the archive path."""
    target.mkdir(parents=True, exist_ok=True)
    archive = target / ARCHIVE
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (fixed https URL)
            payload = response.read()
    except (urllib.error.URLError, OSError) as exc:
        raise DataError(f"CIFAR-10 not found locally and the download from {url} failed ({exc}); this machine may be "
                        f"offline: pass --data PATH or set NAS_DATA to a {FOLDER} folder or {ARCHIVE}") from None
    digest = hashlib.md5(payload).hexdigest()  # noqa: S324 (the published checksum is MD5)
    if digest != ARCHIVE_MD5:
        raise DataError(f"downloaded archive has MD5 {digest}, expected {ARCHIVE_MD5}: corrupt download, try again")
    fd, tmp = tempfile.mkstemp(dir=target, suffix=".tmp")
    with os.fdopen(fd, "wb") as handle:
        handle.write(payload)
    os.replace(tmp, archive)
    return archive


def parse_records(raw: bytes | np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 3, 32, 32) uint8 and labels (N,) int64 from official binary records."""
    array = np.frombuffer(raw, dtype=np.uint8) if isinstance(raw, bytes) else raw
    if array.size == 0 or array.size % RECORD:
        raise DataError(f"{name}: {array.size} bytes is not a whole number of {RECORD}-byte CIFAR-10 records "
                        "(truncated or not a CIFAR-10 binary file)")
    records = array.reshape(-1, RECORD)
    labels = records[:, 0].astype(np.int64)
    if labels.max() > 9:
        raise DataError(f"{name}: label {labels.max()} out of range 0-9 (not a CIFAR-10 binary file)")
    return records[:, 1:].reshape(-1, 3, 32, 32).copy(), labels


def read_cifar10(found: Path) -> Dataset:
    """Parse a batches folder or the official archive."""
    if found.is_file():
        try:
            with tarfile.open(found, "r:gz") as archive:
                members = {Path(m.name).name: m for m in archive.getmembers() if m.isfile()}
                blobs = {}
                for name in (*TRAIN_FILES, TEST_FILE):
                    if name not in members:
                        raise DataError(f"{found}: archive lacks {name}")
                    extracted = archive.extractfile(members[name])
                    assert extracted is not None
                    blobs[name] = extracted.read()
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise DataError(f"{found}: corrupt archive ({exc}); delete it and download again") from None
    else:
        blobs = {}
        for name in (*TRAIN_FILES, TEST_FILE):
            path = found / name
            if not path.is_file():
                raise DataError(f"{found}: missing {name} (a complete {FOLDER} folder has data_batch_1..5.bin "
                                "and test_batch.bin)")
            blobs[name] = path.read_bytes()
    for name, blob in blobs.items():
        if len(blob) != RECORD * PER_FILE:
            raise DataError(f"{found}/{name}: {len(blob)} bytes, expected {RECORD * PER_FILE} (10,000 records)")
    parts = [parse_records(blobs[name], name) for name in TRAIN_FILES]
    test_x, test_y = parse_records(blobs[TEST_FILE], TEST_FILE)
    return Dataset(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), test_x, test_y,
                   str(found))


def synthetic_cifar(n_train: int = 5000, n_test: int = 1000, seed: int = 0, classes: int = 10) -> Dataset:
    """A deterministic, learnable stand-in with CIFAR's shapes: per-class colour/texture templates plus noise."""
    rng = np.random.default_rng(seed)
    coarse = rng.normal(0, 1, (classes, 3, 4, 4))
    templates = np.kron(coarse, np.ones((1, 1, 8, 8)))  # low-frequency class pattern, 32x32

    def make(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = np.arange(n) % classes
        rng.shuffle(labels)
        images = templates[labels] * 40 + 128 + rng.normal(0, 30, (n, 3, 32, 32))
        return np.clip(images, 0, 255).astype(np.uint8), labels.astype(np.int64)

    train_x, train_y = make(n_train)
    test_x, test_y = make(n_test)
    return Dataset(train_x, train_y, test_x, test_y, SYNTHETIC)


def write_records(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """Write images/labels in the official binary layout (tests and compact data files)."""
    records = np.concatenate([labels.astype(np.uint8)[:, None], images.reshape(len(images), -1)], axis=1)
    path.write_bytes(records.tobytes())

