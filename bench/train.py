"""Benchmark training: seconds per step at the default recipe (batch 4, 256x256 crops, VGG16 loss
network to relu4_3) for the full- and half-width network: fp32 (the old default on CPUs without
AMX), the automatic precision, and the automatic precision with the network compiled
(`--compile on`, the default for runs of 1000 steps or more). Each step time is also given as a
multiple of the sum of its bare passes (bench/floor.py), measured in the same run.

    .venv/bin/python bench/train.py [--data ../shared/data/train] [--steps 6]

Median over the timed steps after three warm-up steps (the first compiles).
"""

from __future__ import annotations

import argparse
import sys
import statistics
import tempfile
import time
from pathlib import Path

import torch

from impasto.runtime import Placement
from impasto.train import train

sys.path.insert(0, str(Path(__file__).resolve().parent))
from floor import cpu_summary, train_floor  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "train"))
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    style = ROOT / "examples" / "starry_night.jpg"
    print(cpu_summary())
    print("batch 4, 256x256 crops; floor = transformer fwd+bwd + VGG fwd+bwd to relu4_3 + VGG fwd to relu2_2")
    print(f"{'width':>6} {'precision':>10} {'compile':>8} {'s/step':>8} {'floor s':>8} {'x floor':>8} {'vs fp32':>8}")
    for width in (1.0, 0.5):
        baseline = None
        for precision, compiled in (("fp32", "off"), ("auto", "off"), ("auto", "on")):
            stamps = []

            def on_step(event) -> None:
                if event.phase != "iteration":
                    return
                if torch.cuda.is_available() and args.device != "cpu":
                    torch.cuda.synchronize()
                stamps.append(time.perf_counter())

            with tempfile.TemporaryDirectory() as tmp:
                train(style, args.data, Path(tmp) / "m.safetensors", iterations=args.steps + 4, width=width,
                      precision=precision, device=args.device, checkpoint_every=10**6, compile=compiled,
                      progress=on_step)
            step = statistics.median([b - a for a, b in zip(stamps[3:], stamps[4:])])
            baseline = baseline or step
            dtype = str(Placement.resolve(args.device, precision).dtype).replace("torch.", "")
            floor = train_floor(width, dtype.replace("float32", "fp32").replace("bfloat16", "bf16"), args.device)["sum"]
            print(f"{width:>6} {dtype:>10} {compiled:>8} {step:8.3f} {floor:8.3f} {step / floor:8.2f} "
                  f"{baseline / step:7.2f}x", flush=True)


if __name__ == "__main__":
    main()
