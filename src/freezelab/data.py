"""Offline datasets for transfer experiments, built from scikit-learn's bundled handwritten digits.

The 1,797 digit images ship inside scikit-learn (no download). They are split into:

* a **source** task, digits 0-4, used to pre-train the course backbone;
* target ``new_digits``: digits 5-9, new classes seen through the same kind of pixels (a label-level shift);
* target ``inverted``: unseen images of digits 0-4 with ink and paper swapped (an input-level shift);
* target ``noisy``: unseen images of digits 0-4, blurred and covered in pixel noise (another input-level shift).

Images are upsampled from 8x8 to 16x16 so that the backbone has room for three stages.
All splits are deterministic; experiment seeds only choose few-shot subsets and shuffling.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

IMAGE_SIZE = 16
SOURCE_DIGITS = (0, 1, 2, 3, 4)
NEW_DIGITS = (5, 6, 7, 8, 9)
TARGET_TASKS = ("new_digits", "inverted", "noisy")
_SPLIT_SEED = 1234  # fixed: splits never depend on the experiment seed


@dataclass(frozen=True)
class Task:
    """One classification task: tensors for train / val / test and the class names."""

    name: str
    description: str
    classes: tuple[str, ...]
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def sizes(self) -> dict[str, int]:
        """Number of examples in each split."""
        return {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)}

    def __repr__(self) -> str:
        return f"Task({self.name!r}, classes={len(self.classes)}, sizes={self.sizes()})"


@lru_cache(maxsize=1)
def _digits() -> tuple[torch.Tensor, torch.Tensor]:
    """All 1,797 digits as float images in [0, 1], shape (N, 1, 16, 16), and their labels."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    images = F.interpolate(images, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False)
    return images.clamp_(0.0, 1.0), torch.tensor(bunch.target, dtype=torch.long)


def _stratified_split(labels: torch.Tensor, fractions: tuple[float, ...], seed: int) -> list[torch.Tensor]:
    """Split indices class by class so that every part keeps the class balance."""
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[] for _ in fractions]
    for cls in sorted(set(labels.tolist())):
        idx = np.flatnonzero(labels.numpy() == cls)
        rng.shuffle(idx)
        bounds = np.cumsum([0] + [round(f * len(idx)) for f in fractions[:-1]] + [len(idx)])
        bounds[-1] = len(idx)
        for part, lo, hi in zip(parts, bounds[:-1], bounds[1:], strict=True):
            part.extend(idx[lo:hi].tolist())
    return [torch.tensor(sorted(p), dtype=torch.long) for p in parts]


@lru_cache(maxsize=1)
def _source_and_holdout() -> dict[str, torch.Tensor]:
    images, labels = _digits()
    keep = torch.isin(labels, torch.tensor(SOURCE_DIGITS))
    idx_all = torch.nonzero(keep).flatten()
    train, val, holdout = _stratified_split(labels[idx_all], (0.55, 0.15, 0.30), _SPLIT_SEED)
    return {"train": idx_all[train], "val": idx_all[val], "holdout": idx_all[holdout]}


@lru_cache(maxsize=1)
def pixel_stats() -> tuple[float, float]:
    """Mean and standard deviation of the source training pixels, used to normalise every task."""
    images, _ = _digits()
    src = images[_source_and_holdout()["train"]]
    return float(src.mean()), float(src.std())


def _normalise(x: torch.Tensor) -> torch.Tensor:
    mean, std = pixel_stats()
    return (x - mean) / std


def source_task() -> Task:
    """Digits 0-4: the task the course backbone is pre-trained on."""
    images, labels = _digits()
    split = _source_and_holdout()
    # The source task's test split is its validation split: pre-training never tunes on it.
    return Task(
        name="source",
        description="handwritten digits 0-4 (pre-training task)",
        classes=tuple(str(d) for d in SOURCE_DIGITS),
        x_train=_normalise(images[split["train"]]),
        y_train=labels[split["train"]],
        x_val=_normalise(images[split["val"]]),
        y_val=labels[split["val"]],
        x_test=_normalise(images[split["val"]]),
        y_test=labels[split["val"]],
    )


def _blur(x: torch.Tensor) -> torch.Tensor:
    kernel = torch.tensor([1.0, 2.0, 1.0])
    kernel = (kernel[:, None] * kernel[None, :]) / 16.0
    return F.conv2d(x, kernel.view(1, 1, 3, 3), padding=1)


def _shifted(images: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "inverted":
        return 1.0 - images
    if kind == "noisy":
        noise_gen = torch.Generator().manual_seed(_SPLIT_SEED)
        blurred = _blur(_blur(images))
        return (blurred + 0.35 * torch.randn(images.shape, generator=noise_gen)).clamp(0.0, 1.0)
    raise ValueError(f"unknown shift {kind!r}")


def target_task(name: str) -> Task:
    """One of the offline target tasks: 'new_digits', 'inverted' or 'noisy' (see module docstring)."""
    if name not in TARGET_TASKS:
        raise ValueError(f"unknown target task {name!r}: choose one of {', '.join(TARGET_TASKS)}.")
    images, labels = _digits()
    if name == "new_digits":
        idx_all = torch.nonzero(torch.isin(labels, torch.tensor(NEW_DIGITS))).flatten()
        x, y = images[idx_all], labels[idx_all] - NEW_DIGITS[0]
        classes = tuple(str(d) for d in NEW_DIGITS)
        description = "handwritten digits 5-9: new classes, same kind of images"
    else:
        idx_all = _source_and_holdout()["holdout"]
        x, y = _shifted(images[idx_all], name), labels[idx_all]
        classes = tuple(str(d) for d in SOURCE_DIGITS)
        description = {
            "inverted": "unseen digits 0-4 with ink and paper swapped: same classes, shifted pixels",
            "noisy": "unseen digits 0-4, blurred and noisy: same classes, degraded pixels",
        }[name]
    train, val, test = _stratified_split(y, (0.4, 0.2, 0.4), _SPLIT_SEED + 1)
    x = _normalise(x)
    return Task(name, description, classes, x[train], y[train], x[val], y[val], x[test], y[test])


def few_shot(task: Task, k: int, seed: int = 0) -> Task:
    """The same task with only `k` labelled training examples per class (chosen by `seed`)."""
    counts = torch.bincount(task.y_train, minlength=task.num_classes)
    if k < 1 or k > int(counts.min()):
        raise ValueError(f"k={k} labels per class is out of range: this task has 1 to {int(counts.min())}.")
    gen = torch.Generator().manual_seed(seed)
    chosen = []
    for cls in range(task.num_classes):
        idx = torch.nonzero(task.y_train == cls).flatten()
        chosen.append(idx[torch.randperm(len(idx), generator=gen)[:k]])
    keep = torch.cat(chosen).sort().values
    return replace(task, name=f"{task.name}[{k}-shot]", x_train=task.x_train[keep], y_train=task.y_train[keep])


def loaders(task: Task, batch_size: int = 64, seed: int = 0) -> dict[str, DataLoader]:
    """DataLoaders for 'train' (shuffled with `seed`), 'val' and 'test'."""
    gen = torch.Generator().manual_seed(seed)
    return {
        "train": DataLoader(TensorDataset(task.x_train, task.y_train), batch_size=batch_size,
                            shuffle=True, generator=gen),
        "val": DataLoader(TensorDataset(task.x_val, task.y_val), batch_size=256),
        "test": DataLoader(TensorDataset(task.x_test, task.y_test), batch_size=256),
    }


def augment(x: torch.Tensor, generator: torch.Generator | None = None, max_shift: int = 2) -> torch.Tensor:
    """Random translations of up to `max_shift` pixels (zero-padded), one per image."""
    n = x.shape[0]
    padded = F.pad(x, (max_shift,) * 4, value=float(x.min()))
    offsets = torch.randint(0, 2 * max_shift + 1, (n, 2), generator=generator)
    size = x.shape[-1]
    out = torch.empty_like(x)
    for i, (dy, dx) in enumerate(offsets.tolist()):
        out[i] = padded[i, :, dy : dy + size, dx : dx + size]
    return out

