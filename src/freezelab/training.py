"""A short training loop with a progress bar and a history, and evaluation with scikit-learn metrics."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from .device import model_device, resolve_device


@dataclass
class History:
    """Per-epoch metrics recorded by `fit`."""

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

    def as_rows(self) -> list[dict[str, float]]:
        """One dict per epoch, handy for printing or a DataFrame."""
        rows = []
        for i in range(self.epochs):
            row = {"epoch": i + 1, "train_loss": self.train_loss[i], "train_acc": self.train_acc[i]}
            if self.val_loss:
                row |= {"val_loss": self.val_loss[i], "val_acc": self.val_acc[i]}
            rows.append(row)
        return rows


def _batches_to(batch: Iterable[torch.Tensor], device: torch.device) -> list[torch.Tensor]:
    return [t.to(device, non_blocking=True) for t in batch]


def fit(
    model: nn.Module,
    train_loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    val_loader: DataLoader | None = None,
    device: torch.device | str | None = None,
    before_epoch: Callable[[nn.Module, int], None] | None = None,
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    progress: bool = True,
    desc: str = "training",
) -> History:
    """Train for `epochs` epochs and return the history of train (and validation) loss and accuracy.

    `model.train()` is called at the start of every epoch, then `before_epoch(model, epoch)` if given:
    that is the place to put frozen BatchNorm layers back in eval mode, or to unfreeze a stage.
    A `scheduler` is stepped after every optimizer step.
    """
    device = resolve_device(device)
    model.to(device)
    history = History()
    bar = tqdm(range(epochs), desc=desc, disable=not progress, leave=False)
    for epoch in bar:
        model.train()
        if before_epoch is not None:
            before_epoch(model, epoch)
        total_loss, correct, seen = 0.0, 0, 0
        for x, y in train_loader:
            x, y = _batches_to((x, y), device)
            if augment is not None:
                x = augment(x)
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            total_loss += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(y)
        history.train_loss.append(total_loss / seen)
        history.train_acc.append(correct / seen)
        if val_loader is not None:
            val_loss, val_acc = loss_and_accuracy(model, val_loader, device)
            history.val_loss.append(val_loss)
            history.val_acc.append(val_acc)
            bar.set_postfix(loss=f"{history.train_loss[-1]:.3f}", val_acc=f"{val_acc:.3f}")
        else:
            bar.set_postfix(loss=f"{history.train_loss[-1]:.3f}")
    return history


@torch.no_grad()
def predict(model: nn.Module, loader: DataLoader, device: torch.device | str | None = None
            ) -> tuple[np.ndarray, np.ndarray, float]:
    """Labels, predictions and mean cross-entropy over a loader, with the model in eval mode.

    The model's train/eval mode is restored afterwards.
    """
    device = resolve_device(device, model_device(model))
    was_training = model.training
    model.eval()
    labels, preds, total_loss = [], [], 0.0
    for x, y in loader:
        x, y = _batches_to((x, y), device)
        logits = model(x)
        total_loss += F.cross_entropy(logits, y, reduction="sum").item()
        labels.append(y.cpu())
        preds.append(logits.argmax(1).cpu())
    model.train(was_training)
    y_true, y_pred = torch.cat(labels).numpy(), torch.cat(preds).numpy()
    return y_true, y_pred, total_loss / max(len(y_true), 1)


def loss_and_accuracy(model: nn.Module, loader: DataLoader, device: torch.device | str | None = None
                      ) -> tuple[float, float]:
    """Mean loss and accuracy over a loader (eval mode)."""
    y_true, y_pred, loss = predict(model, loader, device)
    return loss, float((y_true == y_pred).mean())


@dataclass
class Evaluation:
    """Metrics from `evaluate`: accuracy, loss, confusion matrix and per-class / averaged P, R, F1."""

    accuracy: float
    loss: float
    confusion: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray
    macro: dict[str, float]
    weighted: dict[str, float]
    class_names: tuple[str, ...]

    def report(self) -> str:
        """A text table like scikit-learn's classification_report."""
        width = max(len(c) for c in self.class_names) + 2
        lines = [f"{'class':<{width}} precision  recall  f1     support"]
        for i, name in enumerate(self.class_names):
            lines.append(f"{name:<{width}} {self.precision[i]:9.3f}  {self.recall[i]:6.3f}  "
                         f"{self.f1[i]:.3f}  {int(self.support[i]):7d}")
        for label, avg in (("macro", self.macro), ("weighted", self.weighted)):
            lines.append(f"{label:<{width}} {avg['precision']:9.3f}  {avg['recall']:6.3f}  {avg['f1']:.3f}")
        lines.append(f"accuracy {self.accuracy:.3f}   loss {self.loss:.3f}")
        return "\n".join(lines)


def evaluate(model: nn.Module, loader: DataLoader, class_names: Iterable[str] | None = None,
             device: torch.device | str | None = None) -> Evaluation:
    """Accuracy, confusion matrix and precision / recall / F1 (per class, macro, weighted) via scikit-learn."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    y_true, y_pred, loss = predict(model, loader, device)
    n_classes = int(max(y_true.max(initial=0), y_pred.max(initial=0)) + 1)
    names = tuple(class_names) if class_names is not None else tuple(str(i) for i in range(n_classes))
    labels = list(range(len(names)))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    averages = {}
    for avg in ("macro", "weighted"):
        ap, ar, af, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=avg,
                                                        zero_division=0)
        averages[avg] = {"precision": float(ap), "recall": float(ar), "f1": float(af)}
    return Evaluation(
        accuracy=float((y_true == y_pred).mean()), loss=loss,
        confusion=confusion_matrix(y_true, y_pred, labels=labels),
        precision=p, recall=r, f1=f, support=s, macro=averages["macro"], weighted=averages["weighted"],
        class_names=names,
    )


def plot_history(history: History, title: str = "", axes=None):
    """Loss and accuracy curves (train and validation) side by side; returns the matplotlib figure."""
    import matplotlib.pyplot as plt

    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    else:
        fig = axes[0].figure
    epochs = range(1, history.epochs + 1)
    axes[0].plot(epochs, history.train_loss, label="train")
    axes[1].plot(epochs, history.train_acc, label="train")
    if history.val_loss:
        axes[0].plot(epochs, history.val_loss, label="validation")
        axes[1].plot(epochs, history.val_acc, label="validation")
    axes[0].set(xlabel="epoch", ylabel="cross-entropy loss", title=f"{title} loss".strip())
    axes[1].set(xlabel="epoch", ylabel="accuracy", ylim=(0, 1.02), title=f"{title} accuracy".strip())
    for ax in axes:
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_confusion(evaluation: Evaluation, ax=None):
    """The confusion matrix as a labelled heat map; returns the matplotlib axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(3.8, 3.4))
    cm = evaluation.confusion
    ax.imshow(cm, cmap="Blues")
    ticks = range(len(evaluation.class_names))
    ax.set(xticks=ticks, yticks=ticks, xticklabels=evaluation.class_names, yticklabels=evaluation.class_names,
           xlabel="predicted", ylabel="true", title="confusion matrix")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, int(cm[i, j]), ha="center", va="center",
                    color="white" if cm[i, j] > cm.max() / 2 else "black")
    return ax
