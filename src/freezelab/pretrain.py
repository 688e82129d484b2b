"""Pre-train the course backbone on the source task and write the shipped checkpoint.

    python -m freezelab.pretrain [--epochs 40] [--seed 0] [--out course_content/tiny_resnet_digits.pt]

Runs on the CPU with one thread and deterministic kernels, so the same command gives the same weights.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch

from . import __version__
from .backbones import TinyResNet, save_checkpoint
from .data import augment, loaders, pixel_stats, source_task
from .device import seed_everything
from .paths import repo_checkpoint_path
from .training import fit, loss_and_accuracy

DEFAULT_OUT = repo_checkpoint_path()


def pretrain(epochs: int = 40, seed: int = 0, lr: float = 3e-3, progress: bool = True
             ) -> tuple[TinyResNet, dict]:
    """Train TinyResNet on digits 0-4 with random shifts; return the model and its metadata."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # reduction order, hence the exact weights, must not depend on the core count
    try:
        generator = seed_everything(seed)
        task = source_task()
        data = loaders(task, batch_size=64, seed=seed)
        model = TinyResNet(num_classes=task.num_classes)
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=5e-4)
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=epochs * len(data["train"]))

        started = time.perf_counter()
        history = fit(model, data["train"], optimizer, epochs, scheduler=scheduler, val_loader=data["val"],
                      device="cpu", augment=lambda x: augment(x, generator), progress=progress,
                      desc="pre-training")
        val_loss, val_acc = loss_and_accuracy(model, data["val"], "cpu")
    finally:
        torch.set_num_threads(threads)
    meta = {
        "source_task": task.description,
        "classes": list(task.classes),
        "epochs": epochs, "seed": seed, "lr": lr,
        "source_val_accuracy": round(val_acc, 4), "source_val_loss": round(val_loss, 4),
        "final_train_loss": round(history.train_loss[-1], 4),
        "pixel_mean_std": list(pixel_stats()),
        "seconds": round(time.perf_counter() - started, 1),
        "torch": str(torch.__version__), "freezelab": __version__, "python": platform.python_version(),
    }
    return model.eval(), meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Pre-train the freezelab backbone on digits 0-4.")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    model, meta = pretrain(epochs=args.epochs, seed=args.seed)
    digest = save_checkpoint(model, args.out, meta)
    print(f"wrote {args.out} (sha256 {digest[:12]}…): source val accuracy {meta['source_val_accuracy']:.3f} "
          f"after {meta['epochs']} epochs in {meta['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
