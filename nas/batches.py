"""Training batches from the in-memory uint8 data set: the held-out split, the augmentation, the network's input.

The whole data set stays in memory as uint8 tensors (on the GPU when there is one); a batch is gathered by
index, augmented as a batch (pad-4 random crop and horizontal flip through one advanced-indexing gather),
normalised, resized when the rung trains at another resolution, and made channels_last. Why apart from the
training loop: the zero-cost proxies and the benches feed networks the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F

from nas.data import Dataset
from nas.errors import NasError


class SplitSizes(Protocol):
    """What a split needs of a fidelity (:class:`nas.train.Fidelity` is one)."""

    val_size: int
    subset: int | None

MEAN = (125.3, 123.0, 113.9)
STD = (63.0, 62.1, 66.7)


def balanced_indices(labels: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` indices with (as nearly as possible) equal numbers per class."""
    classes = np.unique(labels)
    per_class = [rng.permutation(np.flatnonzero(labels == c)) for c in classes]
    base, extra = divmod(count, len(classes))
    chosen = [idx[: base + (i < extra)] for i, idx in enumerate(per_class)]
    return np.sort(np.concatenate(chosen))


@dataclass(frozen=True)
class Split:
    """Training pool and held-out validation split, as tensors on the training device."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor


def make_split(data: Dataset, fidelity: SplitSizes, device: torch.device, data_seed: int = 0) -> Split:
    """Class-balanced validation split held out of the training set, then a class-balanced training subset.

    Both depend only on ``data_seed``: every arch of a search sees the same images.
    """
    rng = np.random.default_rng(data_seed)
    n = len(data.train_y)
    if fidelity.val_size >= n:
        raise NasError(f"val_size {fidelity.val_size} leaves no training images out of {n}")
    val = balanced_indices(data.train_y, fidelity.val_size, rng)
    pool = np.setdiff1d(np.arange(n), val)
    if fidelity.subset is not None and fidelity.subset < len(pool):
        pool = pool[balanced_indices(data.train_y[pool], fidelity.subset, rng)]
    as_tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(device)  # noqa: E731
    return Split(as_tensor(data.train_x[pool]), as_tensor(data.train_y[pool]), as_tensor(data.train_x[val]),
                 as_tensor(data.train_y[val]))


def augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Pad-4 random crop and random horizontal flip of a uint8 NCHW batch, as one gather."""
    n, _, h, w = images.shape
    padded = F.pad(images, (4, 4, 4, 4))
    dy = torch.randint(0, 9, (n,), generator=generator).to(images.device)
    dx = torch.randint(0, 9, (n,), generator=generator).to(images.device)
    flip = (torch.rand(n, generator=generator) < 0.5).to(images.device)
    rows = dy[:, None] + torch.arange(h, device=images.device)[None, :]
    cols = torch.arange(w, device=images.device)[None, :]
    cols = torch.where(flip[:, None], w - 1 - cols, cols) + dx[:, None]
    batch = torch.arange(n, device=images.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def to_input(images: torch.Tensor, resolution: int) -> torch.Tensor:
    """uint8 NCHW -> normalised float, resized if the arch asks for another resolution, channels_last."""
    mean = torch.tensor(MEAN, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=images.device).view(1, 3, 1, 1)
    x = (images.float() - mean) / std
    if resolution != x.shape[-1]:
        x = F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False)
    return x.contiguous(memory_format=torch.channels_last)
