"""The short-training evaluator: one arch, one fidelity, an accuracy with its context.

Everything a CPU search can afford is in here, and nothing that costs without paying back:

* the whole data set stays in memory as uint8 tensors (on the GPU when there is one); a batch is
  gathered by index, augmented as a batch (pad-4 random crop and horizontal flip through one
  advanced-indexing gather), normalised, and converted to channels_last;
* SGD with Nesterov momentum, one-cycle (default) or cosine learning rate, label smoothing, weight
  decay only on conv/linear weights (not on BN parameters or biases);
* the validation split is held out of the *training* set (class-balanced, fixed ``data_seed``), so
  the official test set is only touched for final reports (``evaluate_test``);
* validation accuracy after every epoch goes to a callback, which can stop training (an Optuna pruner);
* seeded: on the CPU the same seed gives the same accuracy.

Every :class:`TrainResult` carries its :class:`Fidelity`, so an accuracy is never read without
knowing how cheaply it was obtained.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nas.arch import Arch
from nas.batches import MEAN, STD, Split, augment, balanced_indices, make_split, to_input  # noqa: F401  (re-exported)
from nas.data import Dataset
from nas.errors import NasError
from nas.model import build

EpochCallback = Callable[[int, float], bool]
"""Called with (epoch index, validation accuracy); return False to stop training."""


@dataclass(frozen=True)
class Fidelity:
    """How much training an accuracy cost: the knobs of the fidelity ladder."""

    epochs: float = 1.0
    subset: int | None = 10_000
    batch_size: int = 128
    resolution: int | None = None
    lr: float = 0.2
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    schedule: str = "onecycle"
    val_size: int = 2_000
    augment: bool = True

    def __post_init__(self) -> None:
        for name in ("epochs", "lr", "weight_decay", "label_smoothing"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise NasError(f"{name} must be a finite number, got {value!r}")
        for name in ("batch_size", "val_size"):
            if isinstance(getattr(self, name), bool) or not isinstance(getattr(self, name), int):
                raise NasError(f"{name} must be an integer, got {getattr(self, name)!r}")
        if self.epochs <= 0:
            raise NasError(f"epochs must be > 0, got {self.epochs}")
        if self.lr <= 0:
            raise NasError(f"lr must be > 0, got {self.lr}")
        if self.weight_decay < 0:
            raise NasError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if not 0 <= self.label_smoothing < 1:
            raise NasError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.val_size < 10:
            raise NasError(f"val_size must be at least 10 images, got {self.val_size}")
        if self.subset is not None and self.subset < 10:
            raise NasError(f"subset must be at least 10 images, got {self.subset}")
        if self.batch_size < 1:
            raise NasError(f"batch size must be >= 1, got {self.batch_size}")
        if self.schedule not in ("onecycle", "cosine"):
            raise NasError(f"schedule must be 'onecycle' or 'cosine', got {self.schedule!r}")
        if self.resolution is not None and not 8 <= self.resolution <= 512:
            raise NasError(f"resolution must be in [8, 512], got {self.resolution}")

    def label(self) -> str:
        subset = "all" if self.subset is None else str(self.subset)
        return (f"e{self.epochs:g}-n{subset}-b{self.batch_size}" + (f"-r{self.resolution}" if self.resolution else "")
                + f"-lr{self.lr:g}")


DEFAULT_RUNGS = (
    Fidelity(epochs=2, subset=2_000, batch_size=32, val_size=1_000, lr=0.02, resolution=16),
    Fidelity(epochs=2, subset=3_000, batch_size=32, val_size=1_000, lr=0.03),
)
"""The search's rungs. Rung 0 trains the screened survivors at half resolution (16 px: 2.5x cheaper per image, so
2x the steps of a 32 px epoch for less time); rung 1 re-trains the best 1/eta at the arch's own resolution.
Learning rates from a sweep on real CIFAR-10: at 62-250 steps, 0.1-0.2 left deep archs at chance and
0.02-0.05 learned (docs/decisions/0020)."""


SHORT_RUN_IMAGES = 32_000
"""Up to this many training images seen (epochs x subset), a run is short: about 1,000 steps at batch 32."""


def recommended_recipe(images_seen: float) -> tuple[int, float]:
    """(batch size, peak learning rate) for a run that sees ``images_seen`` training images.

    Why: depthwise mobile nets trained for a few hundred steps diverge or stay at chance at the learning
    rates of long recipes. A sweep on real CIFAR-10 at 62-375 steps of batch 32 found 0.02-0.05 learning
    and 0.1-0.2 leaving deep archs at chance; the search's rungs use batch 32 and lr 0.02-0.03. Longer runs
    (the baseline recipe: 1,500 steps of batch 128) train well at lr 0.1. ``nas train`` follows this rule
    unless ``--batch-size`` / ``--lr`` are given.
    """
    if images_seen <= SHORT_RUN_IMAGES:
        return 32, 0.03
    return 128, 0.1


DIVERGED_LOSS_FACTOR = 2.0
"""A training has diverged when its smoothed loss exceeds this many times chance's loss (ln of the classes)."""


class Divergence:
    """Watches the training loss and says when it has diverged.

    Why: a learning rate too large for a short run sends the loss from 2.3 to 20 in a few steps and the
    model ends at chance accuracy; without a check that looks like a bad arch, not a bad setting. The
    loss is smoothed (exponential average over about 10 steps) so one noisy batch never trips it; a
    non-finite loss trips it at once.
    """

    def __init__(self, num_classes: int) -> None:
        self.limit = DIVERGED_LOSS_FACTOR * math.log(max(num_classes, 2))
        self.smoothed: float | None = None
        self.steps = 0

    def update(self, loss: float) -> bool:
        """Record one step's loss; True when the training has diverged."""
        self.steps += 1
        if not math.isfinite(loss):
            self.smoothed = loss
            return True
        self.smoothed = loss if self.smoothed is None else 0.9 * self.smoothed + 0.1 * loss
        return self.steps >= 5 and self.smoothed > self.limit


@dataclass
class TrainResult:
    """Accuracy (fraction) on the held-out validation split after each epoch, and what it cost."""

    arch: str
    fidelity: Fidelity
    seed: int
    history: list[float] = field(default_factory=list)
    seconds: float = 0.0
    train_images: int = 0
    steps: int = 0
    stopped_early: bool = False
    test_accuracy: float | None = None
    diverged: str | None = None
    """Why the training was stopped as diverged (step and loss), or None."""

    @property
    def accuracy(self) -> float:
        return self.history[-1] if self.history else float("nan")

    @property
    def images_per_second(self) -> float:
        return self.train_images / self.seconds if self.seconds else 0.0

    def to_json(self) -> dict:
        return {"arch": self.arch, "accuracy": self.accuracy, "history": self.history, "seed": self.seed,
                "fidelity": asdict(self.fidelity), "fidelity_label": self.fidelity.label(), "seconds": self.seconds,
                "train_images": self.train_images, "steps": self.steps, "images_per_second": self.images_per_second,
                "stopped_early": self.stopped_early, "test_accuracy": self.test_accuracy, "diverged": self.diverged}


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def available_cores() -> int:
    """Cores this process may run on (its affinity mask where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def set_threads(threads: int | None = None) -> int:
    """Use every core by default (2 here)."""
    if not threads:
        threads = available_cores()
    torch.set_num_threads(max(1, threads))
    return torch.get_num_threads()


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on conv/linear weights only: decaying BN scales and biases only hurts."""
    decay, no_decay = [], []
    for param in model.parameters():
        (decay if param.ndim > 1 else no_decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


EVAL_CACHE_BYTES = 16 * 2**20
"""What the largest activation of one evaluation batch may take on a CPU: about half of a server's L3."""


@torch.no_grad()
def eval_batch_size(model: nn.Module, resolution: int, device: torch.device) -> int:
    """Images per evaluation batch: large on a GPU, sized to the cache on a CPU.

    Why: inference is memory-bound on a CPU and slows sharply once a batch's activations spill out of
    the last-level cache. On a 2-core EPYC (32 MB L3), at 1 thread, MobileNetV2-0.75 evaluated 132 img/s
    at batch 500 and 390-415 at batch 25 (its widest activation is 0.6 MB per image); GhostNet-0.5,
    with far smaller activations, 544-615 at 500 and 1,000 at 100. Measured once per call with a
    one-image forward pass and hooks: a few milliseconds.
    """
    if device.type != "cpu":
        return 500
    widest = 0

    def hook(_module: nn.Module, _inputs: object, output: object) -> None:
        nonlocal widest
        if isinstance(output, torch.Tensor):
            widest = max(widest, output.numel() * output.element_size())

    was_training = model.training
    model.eval()
    handles = [m.register_forward_hook(hook) for m in model.modules() if not list(m.children())]
    try:
        model(torch.zeros(1, 3, resolution, resolution, device=device).contiguous(memory_format=torch.channels_last))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return int(min(500, max(8, EVAL_CACHE_BYTES // max(widest, 1))))


@torch.no_grad()
def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, resolution: int,
             batch: int | None = None) -> float:
    """Top-1 accuracy; ``batch`` defaults to :func:`eval_batch_size`.

    In inference mode: without it every batch recorded an autograd graph nobody used, which made the official test
    set's 10,000 images take about 4x as long (``nas export`` scores each exported arch on it)."""
    batch = batch or eval_batch_size(model, resolution, images.device)
    model.eval()
    correct = 0
    with torch.inference_mode():
        for start in range(0, len(labels), batch):
            logits = model(to_input(images[start:start + batch], resolution))
            correct += int((logits.argmax(1) == labels[start:start + batch]).sum())
    return correct / len(labels)


def train(arch: Arch, data: Dataset, fidelity: Fidelity = Fidelity(), seed: int = 0,
          callback: EpochCallback | None = None, device: torch.device | None = None, data_seed: int = 0,
          progress: bool = False, model: nn.Module | None = None) -> tuple[TrainResult, nn.Module]:
    """Train ``arch`` at ``fidelity``; returns the result and the trained model."""
    device = device or default_device()
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    split = make_split(data, fidelity, device, data_seed)
    resolution = fidelity.resolution or arch.resolution
    model = (model or build(arch)).to(device).to(memory_format=torch.channels_last)
    steps_per_epoch = max(1, len(split.train_y) // fidelity.batch_size)
    total_steps = max(1, int(round(fidelity.epochs * steps_per_epoch)))
    loop = _Loop(model, split, fidelity, resolution, generator, device, total_steps, steps_per_epoch,
                 Divergence(arch.num_classes), check_every=1 if device.type == "cpu" else 10)
    eval_batch = eval_batch_size(model, resolution, device)  # once: the shapes do not change between epochs
    result = TrainResult(str(arch), fidelity, seed)
    if progress:
        from nas.progress import bar as progress_bar

        loop.bar = progress_bar(total_steps, f"training {arch.id}", "step")
    start = time.perf_counter()
    try:
        for epoch in range(math.ceil(total_steps / steps_per_epoch)):
            if loop.epoch(result):
                result.diverged = (f"loss {loop.watch.smoothed:.3g} at step {loop.step} of {total_steps} (chance is "
                                   f"{math.log(arch.num_classes):.2f}) at lr {fidelity.lr:g}")
                result.history.append(1.0 / arch.num_classes)  # chance: what a diverged model predicts
                result.stopped_early = True
                break
            result.seconds = time.perf_counter() - start
            result.history.append(accuracy(model, split.val_x, split.val_y, resolution, eval_batch))
            result.steps = loop.step
            if loop.bar is not None:
                loop.bar.set_postfix(val_acc=f"{result.history[-1]:.3f}")
            if callback is not None and callback(epoch, result.history[-1]) is False:
                result.stopped_early = loop.step < total_steps
                break
    finally:  # closed before any error is printed, so the error is the last line
        if loop.bar is not None:
            loop.bar.close()
    result.seconds = time.perf_counter() - start
    result.steps = loop.step
    return result, model


class _Loop:
    """One training's optimiser, schedule and step counter; :meth:`epoch` runs one pass over the data."""

    def __init__(self, model: nn.Module, split: Split, fidelity: Fidelity, resolution: int,
                 generator: torch.Generator, device: torch.device, total_steps: int, steps_per_epoch: int,
                 watch: Divergence, check_every: int) -> None:
        self.model, self.split, self.fidelity, self.resolution = model, split, fidelity, resolution
        self.device = device
        self.generator, self.total_steps, self.steps_per_epoch = generator, total_steps, steps_per_epoch
        self.watch, self.check_every = watch, check_every  # reading the loss syncs a GPU: not every step there
        self.optimizer = torch.optim.SGD(parameter_groups(model, fidelity.weight_decay), lr=fidelity.lr,
                                         momentum=0.9, nesterov=True)
        if fidelity.schedule == "onecycle" and total_steps >= 10:  # one-cycle needs a few steps per phase
            self.scheduler: torch.optim.lr_scheduler.LRScheduler = torch.optim.lr_scheduler.OneCycleLR(
                self.optimizer, max_lr=fidelity.lr, total_steps=total_steps, pct_start=0.25, div_factor=10,
                final_div_factor=100)
        else:
            self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, total_steps)
        self.criterion = nn.CrossEntropyLoss(label_smoothing=fidelity.label_smoothing)
        self.step = 0
        self.bar: Any = None

    def epoch(self, result: TrainResult) -> bool:
        """One pass (or what is left of the step budget); True when the loss diverged."""
        split, batch = self.split, self.fidelity.batch_size
        self.model.train()
        order = torch.randperm(len(split.train_y), generator=self.generator).to(self.device)
        for i in range(self.steps_per_epoch):
            if self.step >= self.total_steps:
                break
            index = order[i * batch:(i + 1) * batch]
            images = split.train_x[index]
            if self.fidelity.augment:
                images = augment(images, self.generator)
            loss = self.criterion(self.model(to_input(images, self.resolution)), split.train_y[index])
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.scheduler.step()
            self.step += 1
            result.train_images += len(index)
            if self.bar is not None:
                self.bar.update(1)
            if self.step % self.check_every and self.step < self.total_steps:
                continue
            value = loss.item()
            if self.bar is not None:
                self.bar.set_postfix(loss=f"{value:.3f}", refresh=False)
            if self.watch.update(value):
                return True
        return False


def evaluate_test(model: nn.Module, data: Dataset, resolution: int, device: torch.device | None = None) -> float:
    """Accuracy on the official test set: final reports only, never for choosing archs."""
    device = device or next(model.parameters()).device
    return accuracy(model, torch.from_numpy(data.test_x).to(device), torch.from_numpy(data.test_y).to(device), resolution)


def cpu_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The weights as every saved file holds them: detached, on the CPU."""
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}


def save_weights(model: nn.Module, path: Path) -> None:
    """state_dict on the CPU, written atomically (loadable with ``torch.load(weights_only=True)``): a training's
    weights live with the training, so search, export and ``nas train`` all write them this one way."""
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    torch.save(cpu_state_dict(model), tmp)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
