"""CIFAR-10 reading, lookup and errors; the evaluator learns, is deterministic, and reports each epoch."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from nas.arch import parse_arch
from nas.data import (
    FOLDER,
    PER_FILE,
    RECORD,
    TEST_FILE,
    TRAIN_FILES,
    DataError,
    load_cifar10,
    parse_records,
    synthetic_cifar,
    write_records,
)
from nas.train import Fidelity, accuracy, augment, balanced_indices, eval_batch_size, make_split, train

REAL = Path(os.environ.get("NAS_DATA") or "/nonexistent")  # real CIFAR-10 cannot ship; a developer's copy, if set
TINY = parse_arch("r16_w1-stem_c16_k3_s2-ir_k3_e3_c24_s2-ir_k3_e3_c32_s2-head_c64")
FAST = Fidelity(epochs=2, subset=2000, val_size=500, batch_size=64, lr=0.1)


def _fake_folder(root: Path, rng: np.random.Generator) -> Path:
    folder = root / FOLDER
    folder.mkdir(parents=True)
    for name in (*TRAIN_FILES, TEST_FILE):
        labels = rng.integers(0, 10, PER_FILE)
        images = rng.integers(0, 256, (PER_FILE, 3, 32, 32), dtype=np.uint8)
        write_records(folder / name, images, labels)
    return folder


def test_parses_official_binary_layout() -> None:
    images = np.arange(2 * 3072, dtype=np.int64).reshape(2, 3, 32, 32).astype(np.uint8)
    raw = np.concatenate([[3], images[0].ravel(), [7], images[1].ravel()]).astype(np.uint8).tobytes()
    x, y = parse_records(raw, "t")
    assert y.tolist() == [3, 7] and np.array_equal(x, images)
    # channel planes: red first, row-major
    assert x[0, 0, 0, 1] == images[0, 0, 0, 1] and x[0, 1, 0, 0] == images[0, 1, 0, 0]


def test_lookup_folder_parent_archive_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _fake_folder(tmp_path / "a", np.random.default_rng(0))
    assert load_cifar10(folder, download=False).train_x.shape == (50_000, 3, 32, 32)
    assert load_cifar10(folder.parent, download=False).test_y.shape == (10_000,)
    archive = tmp_path / "cifar-10-binary.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=FOLDER)
    from_archive = load_cifar10(archive, download=False)
    assert np.array_equal(from_archive.train_x[:5], load_cifar10(folder, download=False).train_x[:5])
    monkeypatch.setenv("NAS_DATA", str(folder))
    assert load_cifar10(None, download=False).source == str(folder)


def test_offline_missing_data_says_where_it_looked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NAS_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(DataError, match="looked in: .*cache.*pass --data PATH or set NAS_DATA"):
        load_cifar10(None, download=False)

    def offline(*args: object, **kwargs: object) -> None:
        raise OSError("network unreachable")

    monkeypatch.setattr("urllib.request.urlopen", offline)
    with pytest.raises(DataError, match="download .* failed .*offline"):
        load_cifar10(None, download=True)
    with pytest.raises(DataError, match="no CIFAR-10 at"):
        load_cifar10(tmp_path / "nowhere", download=False)


def test_wrong_sizes_and_corrupt_archive(tmp_path: Path) -> None:
    folder = _fake_folder(tmp_path, np.random.default_rng(1))
    (folder / TRAIN_FILES[2]).write_bytes(b"\0" * (RECORD * 10 + 5))
    with pytest.raises(DataError, match="data_batch_3.bin: .*bytes, expected"):
        load_cifar10(folder, download=False)
    bad = tmp_path / "cifar-10-binary.tar.gz"
    bad.write_bytes(b"not a gzip file")
    with pytest.raises(DataError, match="corrupt archive"):
        load_cifar10(bad, download=False)


@pytest.mark.skipif(not REAL.is_dir(), reason="NAS_DATA is not set to a real CIFAR-10 copy")
def test_real_copy_is_read() -> None:
    data = load_cifar10(REAL, download=False)
    assert data.train_x.shape == (50_000, 3, 32, 32) and data.test_x.shape == (10_000, 3, 32, 32)
    assert np.bincount(data.train_y).tolist() == [5000] * 10


def test_synthetic_set_is_learned_within_seconds() -> None:
    result, _ = train(TINY, synthetic_cifar(), FAST, seed=0, device=torch.device("cpu"))
    assert result.accuracy > 0.6  # chance is 0.1
    assert result.fidelity == FAST and len(result.history) == 2 and result.steps == 2 * (2000 // 64)


def test_same_seed_same_accuracy() -> None:
    data = synthetic_cifar(seed=3)
    fidelity = Fidelity(epochs=1, subset=1000, val_size=300, batch_size=50, lr=0.05)
    first, _ = train(TINY, data, fidelity, seed=5, device=torch.device("cpu"))
    second, _ = train(TINY, data, fidelity, seed=5, device=torch.device("cpu"))
    assert first.history == second.history


def test_callback_sees_every_epoch_and_can_stop() -> None:
    seen: list[tuple[int, float]] = []

    def stop_after_first(epoch: int, acc: float) -> bool:
        seen.append((epoch, acc))
        return epoch < 0

    fidelity = Fidelity(epochs=3, subset=600, val_size=200, batch_size=50)
    result, _ = train(TINY, synthetic_cifar(), fidelity, callback=stop_after_first, device=torch.device("cpu"))
    assert [e for e, _ in seen] == [0] and result.stopped_early and len(result.history) == 1
    every: list[int] = []
    train(TINY, synthetic_cifar(), fidelity, callback=lambda e, a: every.append(e) is None,
          device=torch.device("cpu"))
    assert every == [0, 1, 2]


def test_evaluation_batch_fits_the_cache_and_changes_no_prediction() -> None:
    """Wider activations get smaller CPU batches (never outside 8-500), and the batch does not change the accuracy."""
    from nas.model import build
    from nas.space import resolve_arch

    cpu = torch.device("cpu")
    wide, narrow = build(resolve_arch("mobilenet_v2_1.0")), build(resolve_arch("shufflenet_v2_0.5"))
    assert 8 <= eval_batch_size(wide, 32, cpu) < eval_batch_size(narrow, 32, cpu) <= 500
    assert eval_batch_size(wide, 64, cpu) < eval_batch_size(wide, 32, cpu)  # 4x the pixels per image
    assert wide.training, "the probe leaves the model in the mode it found"
    data = synthetic_cifar(n_train=100, n_test=300)
    images, labels = torch.from_numpy(data.test_x), torch.from_numpy(data.test_y)
    torch.manual_seed(0)
    narrow = narrow.to(memory_format=torch.channels_last)
    assert accuracy(narrow, images, labels, 32) == accuracy(narrow, images, labels, 32, batch=300)


def test_split_is_class_balanced_and_disjoint() -> None:
    data = synthetic_cifar(n_train=3000)
    split = make_split(data, Fidelity(subset=1000, val_size=500), torch.device("cpu"))
    assert np.bincount(split.val_y.numpy()).tolist() == [50] * 10
    assert np.bincount(split.train_y.numpy()).tolist() == [100] * 10
    idx = balanced_indices(np.repeat(np.arange(3), 5), 7, np.random.default_rng(0))
    assert len(idx) == 7 and len(set(idx.tolist())) == 7


def test_augment_crops_and_flips_like_per_image_code() -> None:
    images = torch.arange(2 * 3 * 8 * 8, dtype=torch.uint8).reshape(2, 3, 8, 8)
    out = augment(images, torch.Generator().manual_seed(0))
    assert out.shape == images.shape and out.dtype == torch.uint8
    # each output is some crop of the zero-padded image, possibly mirrored
    padded = torch.nn.functional.pad(images, (4, 4, 4, 4))
    for n in range(2):
        crops = [padded[n, :, y:y + 8, x:x + 8] for y in range(9) for x in range(9)]
        assert any(torch.equal(out[n], c) or torch.equal(out[n], c.flip(-1)) for c in crops)


@pytest.mark.e2e
def test_train_cli_bad_data_path_is_one_line(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "nas", "train", "mobilenet_v2_0.5", "--data", str(tmp_path / "x"),
                             "--no-download"], capture_output=True, text=True)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "no CIFAR-10 at" in result.stderr


@pytest.mark.e2e
def test_train_cli_writes_loadable_weights(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "nas", "train", str(TINY), "--data", "synthetic", "--epochs", "1",
                             "--subset", "500", "--val-size", "200", "--batch-size", "50", "--out", str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    state = torch.load(out / "weights.pt", weights_only=True)
    from nas.model import build

    build(TINY).load_state_dict(state)
    assert (out / "metrics.json").is_file() and (out / "arch.yaml").is_file()
    assert io.StringIO(result.stdout).read().startswith("val ")


def test_short_runs_get_the_rungs_small_learning_rate_long_runs_the_long_recipe() -> None:
    from nas.train import SHORT_RUN_IMAGES, recommended_recipe

    assert recommended_recipe(2_000) == (32, 0.03)  # `nas train --epochs 1 --subset 2000`: 62 steps
    assert recommended_recipe(SHORT_RUN_IMAGES) == (32, 0.03)
    batch, lr = recommended_recipe(4 * 48_000)  # the baseline recipe: full training set, 4 epochs
    assert batch == 128 and lr > 0.03


def test_a_diverging_loss_stops_the_training_and_says_why() -> None:
    fidelity = Fidelity(epochs=2, subset=600, val_size=200, batch_size=50, lr=1e4)
    result, _ = train(TINY, synthetic_cifar(), fidelity, seed=0, device=torch.device("cpu"))
    assert result.diverged and "lr 10000" in result.diverged
    assert result.stopped_early and result.steps < 2 * (600 // 50) and result.accuracy == pytest.approx(0.1)
    calm, _ = train(TINY, synthetic_cifar(), FAST, seed=0, device=torch.device("cpu"))
    assert calm.diverged is None and not calm.stopped_early


def test_divergence_watch_ignores_one_noisy_batch_but_not_a_climb() -> None:
    from nas.train import Divergence

    watch = Divergence(10)
    assert not any(watch.update(loss) for loss in [2.3, 2.4, 9.0, 2.3, 2.2, 2.2, 2.1, 2.0])
    climbing = Divergence(10)
    assert any(climbing.update(loss) for loss in [2.3, 2.6, 5.2, 10.5, 19.4, 20.0, 20.0, 20.0, 20.0])
    assert Divergence(10).update(float("nan"))


@pytest.mark.e2e
def test_train_cli_diverged_run_is_one_line_exit_2_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "nas", "train", str(TINY), "--data", "synthetic", "--epochs", "2",
                             "--subset", "600", "--val-size", "200", "--lr", "10000", "--out", str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("nas: error: training diverged")
    assert not out.exists()


@pytest.mark.parametrize("kind", ["missing", "file", "empty folder"])
def test_a_wrong_nas_data_is_named_never_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    """A set NAS_DATA that holds no CIFAR-10 is an error naming it, not a silent fall-through to a download."""
    target = tmp_path / "data"
    if kind == "file":
        target.write_text("not cifar")
    elif kind == "empty folder":
        target.mkdir()
    monkeypatch.setenv("NAS_DATA", str(target))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(DataError, match=f"NAS_DATA={target} "):
        load_cifar10(None, download=True)
    assert not (tmp_path / "cache").exists()  # no download was tried
