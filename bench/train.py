"""Benchmark training: seconds per step at the default recipe (batch 4, 256x256 crops, VGG16 loss
network to relu4_3) for the full- and half-width network, fp32 and the automatic precision.

    .venv/bin/python bench/train.py [--data ../shared/data/train] [--steps 8]

Median over the timed steps after two warm-up steps.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from impasto.train import train

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "train"))
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    style = ROOT / "examples" / "starry_night.jpg"
    print(f"threads {torch.get_num_threads()}, batch 4, 256x256 crops")
    print(f"{'width':>6} {'precision':>10} {'s/step':>8}")
    for width in (1.0, 0.5):
        for precision in ("fp32", "auto"):
            stamps = []

            def on_step(event) -> None:
                if event.phase != "iteration":
                    return
                if torch.cuda.is_available() and args.device != "cpu":
                    torch.cuda.synchronize()
                stamps.append(time.perf_counter())

            with tempfile.TemporaryDirectory() as tmp:
                train(style, args.data, Path(tmp) / "m.safetensors", iterations=args.steps + 3, width=width,
                      precision=precision, device=args.device, checkpoint_every=10**6,
                      progress=on_step)
            steps = [b - a for a, b in zip(stamps[2:], stamps[3:])]
            print(f"{width:>6} {precision:>10} {statistics.median(steps):8.3f}", flush=True)


if __name__ == "__main__":
    main()
