"""How much does freezing save per training step? Time and memory with each set of stages frozen.

    python -m benchmarks.freezing_step_time                 # resnet18 and TinyResNet, auto device
    python -m benchmarks.freezing_step_time --device cpu --repeats 20 --batch 16

One run measures every frozen set on the same model and batch, so the ratios (x none) compare like with like.
CPU: 3x64x64 images and saved-for-backward activation bytes; CUDA: 3x224x224 and peak allocated memory.
"""

from __future__ import annotations

import argparse
import json
import platform

import torch

from freezelab.backbones import TinyResNet, torchvision_model
from freezelab.bench import compare_frozen_sets, format_rows, frozen_sets
from freezelab.device import describe_device, pick_device


def _batch(n: int, channels: int, size: int, classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return torch.randn(n, channels, size, size, generator=gen), torch.randint(0, classes, (n,), generator=gen)


def main(argv: list[str] | None = None) -> int:
    """Run compare_frozen_sets for resnet18 and TinyResNet; print tables and a JSON line of the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: best available)")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--batch", type=int, default=None, help="images per step (default: 16 CPU, 64 GPU)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    device = pick_device(args.device)
    on_gpu = device.type != "cpu"
    n = args.batch or (64 if on_gpu else 16)
    size = 224 if on_gpu else 64
    print(f"device: {describe_device(device)}; torch {torch.__version__}; python {platform.python_version()}")
    setups = {
        f"resnet18 (weights=None), batch {n}x3x{size}x{size}":
            (lambda: torchvision_model("resnet18", num_classes=10), _batch(n, 3, size, 10)),
        f"TinyResNet, batch {4 * n}x1x16x16":
            (lambda: TinyResNet(num_classes=5), _batch(4 * n, 1, 16, 5)),
    }
    results = {}
    for title, (model_fn, batch) in setups.items():
        torch.manual_seed(0)
        sets = frozen_sets(model_fn())
        rows = compare_frozen_sets(model_fn, batch, sets, device=device, repeats=args.repeats)
        memory = "peak allocated during the step" if device.type == "cuda" else "activations saved for backward"
        print(f"\n{title}  (memory = {memory})\n{format_rows(rows)}")
        results[title] = [{k: (round(v, 6) if isinstance(v, float) else v) for k, v in r.items()} for r in rows]
    print(json.dumps({"device": str(device), "results": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
